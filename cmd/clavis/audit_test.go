package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// Tests of the audit log's routes of the audit API and of `clavis audit`,
// over HTTP and the CLI against nodes built as serve builds them, on both
// backends. Proofs are checked with an RFC 6962 implementation of its
// own (github.com/transparency-dev/merkle), not the code that made them.

// auditWorld is a tenant with a history, an auditor of it and one of
// another tenant.
type auditWorld struct {
	a                  apiCaller
	n                  *testnode.Server
	slug, other        string
	adminID, admin     string
	auditor, stranger  string // tokens: acme's auditor, the other tenant's
	webID              string
	secrets            []string // every client secret the workload saw
	size               int64    // the tenant's events
	patchID, rotateID  string   // event ids
	deactivateReason   string
	registeredID       string
	storedSecretValues []string // hashes and sealed keys the stored events hold
}

// newAuditWorld creates a tenant and changes a client through a short
// life, then waits for a signed checkpoint that covers it all.
func newAuditWorld(t *testing.T, n *testnode.Server) *auditWorld {
	t.Helper()
	w := &auditWorld{a: apiCaller{t: t, url: n.URL}, n: n, slug: uniqueSlug("aud"), other: uniqueSlug("audo"), deactivateReason: "audit: retired by ticket 42"}
	root := n.RootToken
	w.adminID, w.admin = w.tenant(t, root, w.slug)
	_, otherAdmin := w.tenant(t, root, w.other)
	w.auditor = w.auditorOf(w.slug, w.admin)
	w.stranger = w.auditorOf(w.other, otherAdmin)

	base := "/t/" + w.slug + "/admin/clients"
	web := w.a.call(http.MethodPost, base, w.admin, map[string]any{"type": "confidential", "client_name": "Web", "code": "urn:" + w.slug + "/web",
		"redirect_uris": []string{"https://app.example.com/cb"}, "grant_types": []string{"authorization_code"}, "response_types": []string{"code"}}, http.StatusCreated)
	w.webID = web["client_id"].(string)
	w.secrets = append(w.secrets, web["client_secret"].(string))
	w.a.call(http.MethodPatch, base+"/"+w.webID, w.admin, map[string]any{"client_name": "Web app", "redirect_uris": []string{"https://app.example.com/cb", "https://app.example.com/cb2"}}, http.StatusOK)
	rotated := w.a.call(http.MethodPost, base+"/"+w.webID+"/secrets/rotate", w.admin, map[string]any{"overlap_seconds": 60}, http.StatusOK)
	if s, ok := rotated["client_secret"].(string); ok {
		w.secrets = append(w.secrets, s)
	}
	w.a.call(http.MethodPost, base+"/"+w.webID+"/deactivate", w.admin, map[string]any{"reason": w.deactivateReason}, http.StatusOK)

	events, err := n.Store.ReadTenant(t.Context(), w.slug, eventstore.Position{}, eventstore.MaxRead)
	if err != nil {
		t.Fatal(err)
	}
	w.size = int64(len(events))
	for _, e := range events {
		if e.Stream.ID != w.webID {
			continue
		}
		switch e.Type {
		case "client.registered":
			w.registeredID = e.ID
		case "client.updated":
			w.patchID = e.ID
		case "client.secret_rotated":
			w.rotateID = e.ID
		}
	}
	all, err := n.Store.ReadAll(t.Context(), eventstore.Position{}, eventstore.MaxRead)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		for _, m := range secretMember.FindAllStringSubmatch(string(e.Data), -1) {
			w.storedSecretValues = append(w.storedSecretValues, m[2])
		}
	}
	if w.patchID == "" || w.rotateID == "" || w.registeredID == "" || len(w.storedSecretValues) < 2 {
		t.Fatalf("the workload's events are not as expected: %+v", events)
	}
	w.waitCheckpoint(t, w.size)
	return w
}

// secretMember finds secret material in stored event data: secret
// hashes, sealed keys.
var secretMember = regexp.MustCompile(`"(hash|sealed[a-z_]*|private[a-z_]*)"\s*:\s*"([^"]{12,})"`)

// auditorOf creates at tenant slug an m2m client holding clavis:audit
// and nothing more, and returns a token of it.
func (w *auditWorld) auditorOf(slug, admin string) string {
	w.a.t.Helper()
	c := w.a.call(http.MethodPost, "/t/"+slug+"/admin/clients", admin, map[string]any{"type": "m2m", "client_name": "Auditor",
		"code": "urn:" + slug + "/auditor", "grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:audit"}}, http.StatusCreated)
	return w.token(slug, c["client_id"].(string), c["client_secret"].(string))
}

// tenant creates tenant slug with the root token and returns its admin
// client's id and a token of it.
func (w *auditWorld) tenant(t *testing.T, root, slug string) (adminID, adminToken string) {
	t.Helper()
	created := w.a.call(http.MethodPost, "/admin/tenants", root, map[string]any{"slug": slug, "name": strings.ToUpper(slug)}, http.StatusCreated)
	admin := created["admin_client"].(map[string]any)
	id := admin["client_id"].(string)
	return id, w.token(slug, id, admin["client_secret"].(string))
}

// token gets a token of a client just created: a loaded machine may
// answer a write before the token endpoint's read model has it (the
// write waits for it only so long), so a 404 is asked again, until a
// deadline.
func (w *auditWorld) token(slug, id, secret string) string {
	t := w.a.t
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	var tok string
	poll.Until(t, 20*time.Second, "a token of "+id+" at "+slug, func() bool {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, w.n.URL+"/t/"+slug+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		status := res.StatusCode
		if status == http.StatusNotFound || status == http.StatusUnauthorized {
			return false
		}
		var r struct {
			AccessToken string `json:"access_token"`
		}
		if status != http.StatusOK || json.Unmarshal(body, &r) != nil || r.AccessToken == "" {
			t.Fatalf("token of %s at %s = %d %s", id, slug, status, body)
		}
		tok = r.AccessToken
		return true
	})
	return tok
}

// path is a route of the tenant's audit API.
func (w *auditWorld) path(p string) string { return "/t/" + w.slug + "/audit" + p }

// get reads a route as the auditor and returns the status, the headers
// and the raw body.
func (w *auditWorld) get(t *testing.T, path, tok string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, w.n.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(res.Body); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	w.noSecrets(t, path, buf.Bytes())
	return res.StatusCode, res.Header, buf.Bytes()
}

// getJSON reads a route as the auditor, wanting 200, into v.
func (w *auditWorld) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	status, h, body := w.get(t, path, w.auditor)
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("GET %s = %d %s %s", path, status, h.Get("Content-Type"), body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// noSecrets fails when body shows a client secret, a stored hash or a
// sealed key.
func (w *auditWorld) noSecrets(t *testing.T, what string, body []byte) {
	t.Helper()
	for _, bad := range append(append([]string{"PRIVATE+KEY", "PRIVATE KEY"}, w.secrets...), w.storedSecretValues...) {
		if bytes.Contains(body, []byte(bad)) {
			t.Errorf("%s shows secret material %q", what, bad)
		}
	}
}

// waitCheckpoint waits for a signed checkpoint of at least size leaves.
func (w *auditWorld) waitCheckpoint(t *testing.T, size int64) auditlog.Checkpoint {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, _, body := w.get(t, w.path("/checkpoint"), w.auditor)
		if status == http.StatusOK {
			cp, err := auditlog.Open(body, w.keys(t)...)
			if err != nil {
				t.Fatalf("the checkpoint does not verify: %v\n%s", err, body)
			}
			if cp.Size >= size {
				return cp
			}
		} else if status != http.StatusNotFound {
			t.Fatalf("GET checkpoint = %d %s", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no signed checkpoint of %d leaves in time (last answer %d %s)", size, status, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keys are the tenant's verifier keys, from its history in the store.
func (w *auditWorld) keys(t *testing.T) []string {
	t.Helper()
	keys, err := tenantVerifiers(t.Context(), w.n.Store, w.slug)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// auditEvent is an entry of GET …/audit/events.
type auditEvent struct {
	Index         int64           `json:"index"`
	Position      string          `json:"position"`
	ID            string          `json:"id"`
	Aggregate     string          `json:"aggregate"`
	StreamID      string          `json:"stream_id"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	Schema        int             `json:"schema"`
	Actor         string          `json:"actor"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Reason        string          `json:"reason"`
	CorrelationID string          `json:"correlation_id"`
	CausationID   string          `json:"causation_id"`
	TraceParent   string          `json:"traceparent"`
	Source        string          `json:"source"`
	UserAgent     string          `json:"user_agent"`
	Data          json.RawMessage `json:"data"`
	DataDigest    []byte          `json:"data_digest"`
	Changes       []struct {
		Field  string          `json:"field"`
		Before json.RawMessage `json:"before"`
		After  json.RawMessage `json:"after"`
	} `json:"changes"`
}

type eventPage struct {
	Events []auditEvent `json:"events"`
	Next   *int64       `json:"next"`
}

// events follows the cursor through every page of the events query q.
func (w *auditWorld) events(t *testing.T, q url.Values) []auditEvent {
	t.Helper()
	var all []auditEvent
	for pages := 0; ; pages++ {
		var p eventPage
		w.getJSON(t, w.path("/events?"+q.Encode()), &p)
		all = append(all, p.Events...)
		if p.Next == nil {
			return all
		}
		if pages > 1000 {
			t.Fatal("the cursor does not end")
		}
		q.Set("after", strconv.FormatInt(*p.Next, 10))
	}
}

// leafHash recomputes an event's leaf hash from what the events route
// shows, with the RFC 6962 hasher of the other library.
func leafHash(t *testing.T, slug string, e auditEvent) []byte {
	t.Helper()
	var digest [32]byte
	copy(digest[:], e.DataDigest)
	entry := auditlog.Entry{ID: e.ID, Stream: eventstore.StreamID{Tenant: slug, Type: e.Aggregate, ID: e.StreamID}, Version: e.Version,
		Type: e.Type, Schema: e.Schema, Data: e.Data, DataDigest: digest, RecordedAt: e.RecordedAt,
		Meta: eventstore.Metadata{Actor: e.Actor, CorrelationID: e.CorrelationID, CausationID: e.CausationID, OccurredAt: e.OccurredAt,
			TraceParent: e.TraceParent, Reason: e.Reason, Source: e.Source, UserAgent: e.UserAgent}}
	return rfc6962.DefaultHasher.HashLeaf(entry.LeafData())
}

type checkpointPage struct {
	Checkpoints []struct {
		Size     int64     `json:"size"`
		Root     []byte    `json:"root"`
		Note     string    `json:"note"`
		SignedAt time.Time `json:"signed_at"`
	} `json:"checkpoints"`
	Next *int64 `json:"next"`
}

// TestAuditAPI reads a tenant's audit log as its auditor: checkpoints
// that verify, the events with each filter and page by page, field diffs
// without secret material, and proofs that an independent RFC 6962
// verifier accepts against the signed roots.
func TestAuditAPI(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		w := newAuditWorld(t, n)
		keys := w.keys(t)

		// Every checkpoint verifies, the cursor visits each once.
		var cps []auditlog.Checkpoint
		after := int64(0)
		for {
			var p checkpointPage
			w.getJSON(t, w.path("/checkpoints?limit=1&after="+strconv.FormatInt(after, 10)), &p)
			for _, c := range p.Checkpoints {
				cp, err := auditlog.Open([]byte(c.Note), keys...)
				if err != nil || cp.Size != c.Size || !bytes.Equal(cp.Root[:], c.Root) {
					t.Fatalf("checkpoint %+v: %v", c, err)
				}
				cps = append(cps, cp)
			}
			if p.Next == nil {
				break
			}
			after = *p.Next
		}
		latest := cps[len(cps)-1]
		status, h, note := w.get(t, w.path("/checkpoint"), w.auditor)
		if status != 200 || h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("GET checkpoint = %d %s", status, h.Get("Content-Type"))
		}
		if cp, err := auditlog.Open(note, keys...); err != nil || !cp.Equal(latest) {
			t.Fatalf("GET checkpoint is %v (%v), the last listed %v", cp, err, latest)
		}

		// The whole log, a page of two at a time, in leaf order.
		all := w.events(t, url.Values{"limit": {"2"}})
		if int64(len(all)) < w.size || latest.Size < w.size {
			t.Fatalf("%d events listed, %d in the store, checkpoint %d", len(all), w.size, latest.Size)
		}
		for i, e := range all {
			if e.Index != int64(i) {
				t.Fatalf("event %d has index %d", i, e.Index)
			}
		}

		// Proofs: each leaf against each checkpoint that holds it, each
		// checkpoint against the latest.
		for _, cp := range cps {
			for _, e := range all[:cp.Size] {
				var p struct {
					Index    int64    `json:"index"`
					Size     int64    `json:"size"`
					LeafHash []byte   `json:"leaf_hash"`
					Proof    [][]byte `json:"proof"`
				}
				w.getJSON(t, w.path(fmt.Sprintf("/proof/inclusion?index=%d&size=%d", e.Index, cp.Size)), &p)
				if want := leafHash(t, w.slug, e); !bytes.Equal(p.LeafHash, want) {
					t.Fatalf("leaf %d: leaf_hash %x, recomputed from the event %x", e.Index, p.LeafHash, want)
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.Index), uint64(p.Size), p.LeafHash, p.Proof, cp.Root[:]); err != nil || p.Index != e.Index || p.Size != cp.Size {
					t.Fatalf("inclusion of leaf %d in size %d: %+v: %v", e.Index, cp.Size, p, err)
				}
			}
			var c struct {
				From  int64    `json:"from"`
				To    int64    `json:"to"`
				Proof [][]byte `json:"proof"`
			}
			w.getJSON(t, w.path(fmt.Sprintf("/proof/consistency?from=%d&to=%d", cp.Size, latest.Size)), &c)
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(c.From), uint64(c.To), c.Proof, cp.Root[:], latest.Root[:]); err != nil {
				t.Fatalf("consistency %d → %d: %v", cp.Size, latest.Size, err)
			}
		}
		// An event found by its id, against the latest checkpoint.
		var byEvent struct {
			Index int64 `json:"index"`
			Size  int64 `json:"size"`
		}
		w.getJSON(t, w.path("/proof/inclusion?event="+w.rotateID), &byEvent)
		if i := slices.IndexFunc(all, func(e auditEvent) bool { return e.ID == w.rotateID }); byEvent.Index != int64(i) || byEvent.Size != latest.Size {
			t.Errorf("inclusion by event = %+v, want index %d size %d", byEvent, i, latest.Size)
		}

		// The diffs: the PATCH's fields before and after, the rotation's
		// secrets only "changed".
		byID := map[string]auditEvent{}
		for _, e := range all {
			byID[e.ID] = e
		}
		type change struct{ Field, Before, After string }
		changes := func(id string) []change {
			var out []change
			for _, c := range byID[id].Changes {
				out = append(out, change{c.Field, string(c.Before), string(c.After)})
			}
			return out
		}
		if diff := cmp.Diff([]change{
			{"client_name", `"Web"`, `"Web app"`},
			{"redirect_uris", `["https://app.example.com/cb"]`, `["https://app.example.com/cb","https://app.example.com/cb2"]`},
		}, changes(w.patchID)); diff != "" {
			t.Errorf("the PATCH's changes (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]change{{"secrets", "", `"changed"`}}, changes(w.rotateID)); diff != "" {
			t.Errorf("the rotation's changes (-want +got):\n%s", diff)
		}
		if c := changes(w.registeredID); !slices.Contains(c, change{"client_name", "null", `"Web"`}) {
			t.Errorf("the registration's changes do not show the name: %v", c)
		}
		deactivated := all[len(all)-1]
		for _, e := range all {
			if e.Type == "client.deactivated" {
				deactivated = e
			}
		}
		if deactivated.Reason != w.deactivateReason || deactivated.Actor != "client:"+w.adminID || deactivated.Position == "" || deactivated.CorrelationID == "" {
			t.Errorf("the deactivation shows %+v", deactivated)
		}

		// Each filter keeps exactly what it names.
		recorded := all[len(all)/2].RecordedAt
		filters := []struct {
			q    url.Values
			keep func(auditEvent) bool
		}{
			{url.Values{"client": {w.webID}}, func(e auditEvent) bool { return e.Aggregate == "client" && e.StreamID == w.webID }},
			{url.Values{"aggregate": {"tenant"}}, func(e auditEvent) bool { return e.Aggregate == "tenant" }},
			{url.Values{"aggregate": {"client"}, "client": {w.webID}}, func(e auditEvent) bool { return e.StreamID == w.webID }},
			{url.Values{"type": {"client.updated"}}, func(e auditEvent) bool { return e.Type == "client.updated" }},
			{url.Values{"actor": {"client:" + w.adminID}}, func(e auditEvent) bool { return e.Actor == "client:"+w.adminID }},
			{url.Values{"since": {recorded.Format(time.RFC3339Nano)}}, func(e auditEvent) bool { return !e.RecordedAt.Before(recorded) }},
			{url.Values{"until": {recorded.Format(time.RFC3339Nano)}}, func(e auditEvent) bool { return e.RecordedAt.Before(recorded) }},
		}
		for _, f := range filters {
			var want []string
			for _, e := range all {
				if f.keep(e) {
					want = append(want, e.ID)
				}
			}
			var got []string
			f.q.Set("limit", "1")
			for _, e := range w.events(t, f.q) {
				got = append(got, e.ID)
			}
			if diff := cmp.Diff(want, got); diff != "" || len(want) == 0 {
				t.Errorf("events?%s (-want +got):\n%s", f.q.Encode(), diff)
			}
		}

		// The export verifies offline, and is named for its size.
		status, h, export := w.get(t, w.path("/export"), w.auditor)
		if status != 200 || h.Get("Content-Type") != "application/x-ndjson" ||
			h.Get("Content-Disposition") != fmt.Sprintf(`attachment; filename="%s-audit-%d.jsonl"`, w.slug, latest.Size) {
			t.Fatalf("GET export = %d %v", status, h)
		}
		rep, err := auditlog.Verify(bytes.NewReader(export), keys, note)
		if err != nil || !rep.OK() || rep.Entries != latest.Size {
			t.Fatalf("the export does not verify: %v %+v", err, rep)
		}
		status, h, _ = w.get(t, w.path(fmt.Sprintf("/export?size=%d", cps[0].Size)), w.auditor)
		if status != 200 || !strings.Contains(h.Get("Content-Disposition"), fmt.Sprintf("-audit-%d.jsonl", cps[0].Size)) {
			t.Errorf("GET export?size=%d = %d %v", cps[0].Size, status, h)
		}

		// The admin token reads it too; the root token too.
		for _, tok := range []string{w.admin, n.RootToken} {
			if status, _, body := w.get(t, w.path("/events?limit=1"), tok); status != 200 {
				t.Errorf("GET events with an admin token = %d %s", status, body)
			}
		}
	})
}

// TestAuditAPIRefuses: bad parameters are 400 naming the parameter,
// another tenant's auditor and unknown tenants get 404, no token 401.
func TestAuditAPIRefuses(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		w := newAuditWorld(t, n)
		cp := w.waitCheckpoint(t, w.size)
		size := strconv.FormatInt(cp.Size, 10)
		bad := []struct{ path, field string }{
			{"/checkpoint?size=1", "size"},
			{"/checkpoints?after=-1", "after"},
			{"/checkpoints?after=x", "after"},
			{"/checkpoints?limit=0", "limit"},
			{"/checkpoints?limit=501", "limit"},
			{"/events?limit=0", "limit"},
			{"/events?after=-2", "after"},
			{"/events?since=yesterday", "since"},
			{"/events?until=2030-01-01", "until"},
			{"/events?since=2030-01-01T00:00:00Z&until=2029-01-01T00:00:00Z", "until"},
			{"/events?aggregate=widget", "aggregate"},
			{"/events?aggregate=tenant&client=" + w.webID, "aggregate"},
			{"/events?clients=x", "clients"},
			{"/proof/inclusion", "index"},
			{"/proof/inclusion?index=0&event=x", "event"},
			{"/proof/inclusion?index=-1", "index"},
			{"/proof/inclusion?index=" + size + "&size=" + size, "index"},
			{"/proof/inclusion?index=0&size=0", "size"},
			{"/proof/inclusion?index=0&size=" + strconv.FormatInt(cp.Size+1, 10), "size"},
			{"/proof/consistency?to=" + size, "from"},
			{"/proof/consistency?from=1", "to"},
			{"/proof/consistency?from=0&to=" + size, "from"},
			{"/proof/consistency?from=2&to=1", "from"},
			{"/proof/consistency?from=1&to=" + strconv.FormatInt(cp.Size+1, 10), "to"},
			{"/export?size=x", "size"},
			{"/export?size=" + strconv.FormatInt(cp.Size+1, 10), "size"},
		}
		for _, b := range bad {
			status, _, body := w.get(t, w.path(b.path), w.auditor)
			var p struct {
				Type  string `json:"type"`
				Field string `json:"field"`
			}
			_ = json.Unmarshal(body, &p)
			if status != 400 || p.Field != b.field || (p.Type != httpapi.ProblemInvalidParameter && p.Type != httpapi.ProblemUnknownParameter) {
				t.Errorf("GET %s = %d %s, want 400 naming %s", b.path, status, body, b.field)
			}
		}
		status, _, body := w.get(t, w.path("/proof/inclusion?event=no-such-event"), w.auditor)
		if status != 404 {
			t.Errorf("inclusion of an unknown event = %d %s", status, body)
		}

		routes := []string{"/checkpoint", "/checkpoints", "/events", "/proof/inclusion?index=0", "/proof/consistency?from=1&to=1", "/export"}
		for _, r := range routes {
			if status, _, body := w.get(t, w.path(r), w.stranger); status != 404 {
				t.Errorf("GET %s with another tenant's auditor = %d %s", r, status, body)
			}
			if status, _, body := w.get(t, "/t/"+w.other+"/audit"+r, w.auditor); status != 404 {
				t.Errorf("GET another tenant's %s = %d %s", r, status, body)
			}
			if status, _, body := w.get(t, w.path(r), ""); status != 401 {
				t.Errorf("GET %s without a token = %d %s", r, status, body)
			}
		}
		// The auditor reads the audit API and not the admin API.
		if status, _, body := w.get(t, "/t/"+w.slug+"/admin/clients", w.auditor); status != 403 {
			t.Errorf("the auditor lists clients: %d %s", status, body)
		}
	})
}

// TestAuditCLI exports a tenant's audit log with the CLI and verifies
// it offline and against the store: both hold on an untouched store,
// and both fail, naming the event, once one event's data is changed in
// the database.
func TestAuditCLI(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			n := startNode(t, cfg)
			w := newAuditWorld(t, n)
			c := cliRunner{t: t, endpoint: n.URL, token: w.auditor}
			dir := t.TempDir()

			// checkpoint prints the note as the API serves it.
			saved := c.ok("audit", "checkpoint", "--tenant", w.slug)
			_, _, note := w.get(t, w.path("/checkpoint"), w.auditor)
			if saved != string(note) {
				t.Fatalf("clavis audit checkpoint printed %q, the API answers %q", saved, note)
			}
			savedFile := filepath.Join(dir, "checkpoint.txt")
			keyFile := filepath.Join(dir, "keys.txt")
			writeFile(t, savedFile, saved)
			writeFile(t, keyFile, strings.Join(w.keys(t), "\n")+"\n")

			// log: a table by default, JSON with --json, filtered.
			cols, rows := parseTable(t, c.ok("audit", "log", "--tenant", w.slug, "--client", w.webID))
			if !slices.Contains(cols, "ACTOR") || len(rows) != 4 || rows[1]["CHANGED"] != "client_name,redirect_uris" {
				t.Errorf("audit log --client: %v %v", cols, rows)
			}
			logged := c.json("audit", "log", "--tenant", w.slug, "--type", "client.deactivated")
			if evs, _ := logged["events"].([]any); len(evs) != 1 || evs[0].(map[string]any)["reason"] != w.deactivateReason {
				t.Errorf("audit log --type --json: %v", logged)
			}

			// show: a client at a position, and what changed between two.
			events := w.events(t, url.Values{"client": {w.webID}})
			at := c.json("audit", "show", w.webID, "--tenant", w.slug, "--at", events[0].Position)
			if at["client_name"] != "Web" || at["version"] != float64(1) {
				t.Errorf("audit show --at the creation: %v", at)
			}
			_, diffRows := parseTable(t, c.ok("audit", "show", w.webID, "--tenant", w.slug, "--diff", events[0].Position, events[1].Position))
			if len(diffRows) != 2 || diffRows[0]["FIELD"] != "client_name" || diffRows[0]["BEFORE"] != `"Web"` || diffRows[1]["FIELD"] != "redirect_uris" {
				t.Errorf("audit show --diff: %v", diffRows)
			}
			_, diffRows = parseTable(t, c.ok("audit", "show", w.webID, "--tenant", w.slug, "--diff", events[1].Position, events[2].Position))
			if len(diffRows) != 1 || diffRows[0]["FIELD"] != "secrets" || diffRows[0]["AFTER"] != `"changed"` {
				t.Errorf("audit show --diff over a rotation: %v", diffRows)
			}
			c.fails(exitUsage, []string{"audit", "show", w.webID, "--tenant", w.slug, "--diff", events[0].Position}, "two instants")

			// export and verify offline.
			export := filepath.Join(dir, "export.jsonl")
			c.ok("audit", "export", "--tenant", w.slug, "-o", export)
			raw, err := os.ReadFile(export)
			if err != nil {
				t.Fatal(err)
			}
			w.noSecrets(t, "the export", raw)
			verify := func(args ...string) (int, string, string) {
				t.Helper()
				return runCmd(t.Context(), append([]string{"audit", "verify"}, args...), nil)
			}
			store := []string{"--tenant", w.slug, "--data-dir", cfg.DataDir}
			if backend == node.Postgres {
				store = []string{"--tenant", w.slug, "--database-url", cfg.DatabaseURL}
			}
			for _, args := range [][]string{{export, "--key", keyFile, "--checkpoint", savedFile}, {export, "--key", w.keys(t)[0]}, store} {
				code, stdout, stderr := verify(args...)
				if code != exitOK || !strings.HasPrefix(stdout, "OK tenant "+w.slug) || strings.Contains(stdout, "FAIL") {
					t.Fatalf("clavis audit verify %v on an untouched store = %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
				}
			}

			// Usage errors exit 2.
			for _, args := range [][]string{{}, {export}, {export, "--key", "nonsense"}, {export, "x", "--key", keyFile}, {export, "--key", keyFile, "--tenant", w.slug}, {"--tenant", w.slug}} {
				if code, _, stderr := verify(args...); code != exitUsage {
					t.Errorf("clavis audit verify %v = %d, want 2\n%s", args, code, stderr)
				}
			}

			// One event's data changed in the database: both checks fail
			// and name it.
			tamper(t, n.Store, w.patchID)
			tampered := filepath.Join(dir, "tampered.jsonl")
			c.ok("audit", "export", "--tenant", w.slug, "-o", tampered)
			for _, args := range [][]string{{tampered, "--key", keyFile, "--checkpoint", savedFile}, store} {
				code, stdout, stderr := verify(args...)
				first, _, _ := strings.Cut(stdout, "\n")
				if code != exitFailure || !strings.HasPrefix(first, "FAIL ") || !strings.Contains(first, w.patchID) || !strings.Contains(stdout, "FAILED tenant "+w.slug) {
					t.Errorf("clavis audit verify %v after tampering = %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
				}
			}
		})
	}
}

// tamper changes one byte of the stored data of event id, directly in
// the database.
func tamper(t *testing.T, store node.Backend, id string) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch s := store.(type) {
	case *sqlite.Store:
		w, _ := s.DB()
		_, err = w.ExecContext(ctx, `UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'Web app', 'Web apq') AS BLOB) WHERE id = ?`, id)
	case *postgres.Store:
		_, err = s.Pool().Exec(ctx, `UPDATE events SET data = convert_to(replace(convert_from(data, 'UTF8'), 'Web app', 'Web apq'), 'UTF8') WHERE id = $1`, id)
	default:
		t.Fatalf("no way to tamper with a %T", store)
	}
	if err != nil {
		t.Fatalf("tamper with event %s: %v", id, err)
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
