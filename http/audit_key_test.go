package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
)

// noKeyMaterial fails if an answer shows a signer key or a sealed key
// ("v1.{master id}.{ciphertext}"; base64 has no '.', so no verifier key
// holds "v1.").
func noKeyMaterial(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, secret := range []string{"PRIVATE", "v1.", "sealed"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("%s shows %q: %s", what, secret, body)
		}
	}
}

// auditVerifiers reads a tenant's audit key over HTTP, unauthenticated,
// and checks its form: one signed-note verifier key a line.
func auditVerifiers(t *testing.T, h *adminHarness, slug string) []string {
	t.Helper()
	r := h.call(t, "GET", "/t/"+slug+"/audit/key", nil, noAuth).want(t, 200)
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := r.header.Get("Cache-Control"); cc != "public, max-age=60" || r.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("Cache-Control = %q, Access-Control-Allow-Origin = %q", cc, r.header.Get("Access-Control-Allow-Origin"))
	}
	noKeyMaterial(t, "the audit key", r.body)
	body, ok := strings.CutSuffix(string(r.body), "\n")
	if !ok {
		t.Fatalf("the answer does not end with a newline: %q", r.body)
	}
	lines := strings.Split(body, "\n")
	for _, l := range lines {
		v, err := note.NewVerifier(l)
		if err != nil {
			t.Fatalf("line %q is not a verifier key: %v", l, err)
		}
		if want := "id.example.com/t/" + slug + "/audit"; v.Name() != want {
			t.Errorf("key name = %q, want %q", v.Name(), want)
		}
	}
	return lines
}

// openWith opens a note with the verifier keys vkeys.
func openWith(t *testing.T, msg []byte, vkeys []string) error {
	t.Helper()
	var vs []note.Verifier
	for _, vk := range vkeys {
		v, err := note.NewVerifier(vk)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	_, err := note.Open(msg, note.VerifierList(vs...))
	return err
}

func TestAuditKeyOverHTTP(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	created := h.call(t, "POST", "/admin/tenants", map[string]string{"slug": "acme", "name": "Acme"}).want(t, 201)
	noKeyMaterial(t, "creating a tenant", created.body)
	noKeyMaterial(t, "the tenant", h.call(t, "GET", "/admin/tenants/acme", nil).want(t, 200).body)

	first := auditVerifiers(t, h, "acme")
	if len(first) != 1 {
		t.Fatalf("a new tenant's audit keys = %q", first)
	}
	// What the node signs opens with the published key.
	signer, err := h.tenants.AuditSigner(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	before, err := note.Sign(&note.Note{Text: signer.Name() + "\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := openWith(t, before, first); err != nil {
		t.Fatalf("a note the node signed does not open with its published key: %v", err)
	}

	// The platform rotates; the new key comes first, the old one stays.
	r := h.call(t, "POST", "/admin/tenants/acme/audit-keys", nil).want(t, 201)
	noKeyMaterial(t, "the rotation", r.body)
	key := decodeAs[struct {
		Name     string `json:"name"`
		Verifier string `json:"verifier"`
	}](t, r)
	if key.Name != "id.example.com/t/acme/audit" || key.Verifier == first[0] || !strings.HasPrefix(key.Verifier, key.Name+"+") {
		t.Fatalf("rotation answered %s", r.body)
	}
	both := auditVerifiers(t, h, "acme")
	if len(both) != 2 || both[0] != key.Verifier || both[1] != first[0] {
		t.Fatalf("after the rotation the keys are %q, want %q then %q", both, key.Verifier, first[0])
	}
	signer, err = h.tenants.AuditSigner(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	after, err := note.Sign(&note.Note{Text: signer.Name() + "\n2\nfRSHHv8JqmGPPJQsm2G/7vMbvKUoGpRt6kBiRa/2ea0=\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := openWith(t, after, both[:1]); err != nil {
		t.Errorf("the new key does not sign: %v", err)
	}
	if err := openWith(t, before, both); err != nil {
		t.Errorf("what the old key signed no longer verifies: %v", err)
	}

	// A suspended tenant's keys are still published.
	h.call(t, "POST", "/admin/tenants/acme/suspend", map[string]string{"reason": "audit"}).want(t, 200)
	if got := auditVerifiers(t, h, "acme"); len(got) != 2 {
		t.Errorf("a suspended tenant's keys = %q", got)
	}
}

func TestAuditKeyRefusals(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	for _, path := range []string{"/t/nope/audit/key", "/t/Not_A_Slug/audit/key", "/t/admin/audit/key"} {
		r := h.call(t, "GET", path, nil, noAuth).want(t, 404)
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
	}
	h.call(t, "GET", "/t/acme/audit/key?x=1", nil, noAuth).want(t, 400)

	before := h.head(t)
	h.call(t, "POST", "/admin/tenants/acme/audit-keys", nil, noAuth).want(t, 401)
	h.call(t, "POST", "/admin/tenants/acme/audit-keys", nil, token("not-the-root-token")).want(t, 401)
	h.call(t, "POST", "/admin/tenants/nope/audit-keys", nil).want(t, 404)
	h.call(t, "POST", "/admin/tenants/acme/audit-keys?x=1", nil).want(t, 400)
	h.call(t, "POST", "/admin/tenants/acme/audit-keys", map[string]string{"name": "mine"}).want(t, 400)
	h.call(t, "POST", "/admin/tenants/acme/audit-keys", "{", contentType("application/json")).want(t, 400)
	h.unchanged(t, before, "refused audit key rotations")
	if got := auditVerifiers(t, h, "acme"); len(got) != 1 {
		t.Errorf("refused rotations changed the keys: %q", got)
	}
}

// TestNodeGivesOldTenantsAnAuditKey starts a node over a store whose
// tenant was created before audit keys existed: once started, the node
// publishes a key for it.
func TestNodeGivesOldTenantsAnAuditKey(t *testing.T) {
	t.Parallel()
	cfg := testnode.Config(t, "")
	cfg.PublicURL = "https://id.example.com"
	store, err := node.OpenStore(t.Context(), cfg, slogDiscard())
	if err != nil {
		t.Fatal(err)
	}
	key, err := testnode.Keyring(t).Generate("old", tenant.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	ids := 0
	_, err = aggregate.Execute(t.Context(), store, aggregate.Command[*tenant.Tenant]{
		Stream: tenants.TenantStream("old"), Decode: tenant.Decode, Replay: tenant.Replay,
		Decide: func(*tenant.Tenant) ([]domain.Event, error) { return tenant.Create("old", "Old", key, time.Now()) },
		Meta:   eventstore.Metadata{Actor: "root", OccurredAt: time.Now()}, NewID: func() string { ids++; return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	n := testnode.Start(t, cfg)
	res, err := http.Get(n.URL + "/t/old/audit/key")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET /t/old/audit/key = %d: %s", res.StatusCode, body)
	}
	v, err := note.NewVerifier(strings.TrimSuffix(string(body), "\n"))
	if err != nil || v.Name() != "id.example.com/t/old/audit" {
		t.Fatalf("the old tenant's audit key %q: %v", body, err)
	}
	history, _, err := aggregate.Load(t.Context(), n.Store, tenants.TenantStream("old"), tenant.Decode)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := n.Store.ReadStream(t.Context(), tenants.TenantStream("old"), 0)
	if err != nil {
		t.Fatal(err)
	}
	last := stored[len(stored)-1]
	if len(history) != 3 || last.Type != tenant.EventTypeAuditKeyAdded || last.Meta.Actor != "system" {
		t.Errorf("the old tenant's history ends with %s by %q (%d events)", last.Type, last.Meta.Actor, len(history))
	}
}
