package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/cache"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// rootToken is the platform operator's token in these tests.
const rootToken = "test-root-token-0123456789-abcdefghijklmnop"

// bodyLimit is the servers' body limit in these tests.
const bodyLimit = 64 << 10

// adminHarness is a whole node over real HTTP on 127.0.0.1:0: the event
// store in SQLite, the real read model kept up by a projector, the
// command services and the admin API.
type adminHarness struct {
	url    string
	store  *sqlite.Store
	rm     projections.ReadModel
	server *httpapi.Server
	logs   *syncBuffer
	k      *contract
	// js reaches the node's NATS, whose grant buckets are TEST_*.
	js jetstream.JetStream
}

// startAdmin starts the harness; opts are added to the OAuth provider's.
func startAdmin(t *testing.T, opts ...oauth.Option) *adminHarness {
	t.Helper()
	return startAdminGrants(t, 0, opts...)
}

// startAdminGrants starts the harness with grant buckets of at most
// grantBytes each (0: the default).
func startAdminGrants(t *testing.T, grantBytes int64, opts ...oauth.Option) *adminHarness {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	projector := readModel(t, store)
	rm := backendOf(store)

	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(io.MultiWriter(logs, t.Output()), &slog.HandlerOptions{Level: slog.LevelDebug}))
	master := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(master)
	keys, err := signing.NewKeyring(master)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tenants.NewTenants(store, keys, tenants.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := tenants.NewClients(store, tenants.WithLogger(log), tenants.WithCatalogues(rm), tenants.WithSecretSealer(keys))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.RootToken(rootToken)
	if err != nil {
		t.Fatal(err)
	}
	// Revocations need NATS: an in-process server of the test's own.
	ns, err := natsserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stopRevocations := context.WithCancel(context.Background())
	t.Cleanup(stopRevocations)
	revoked := bucket.NewRevocations(rctx, js, "TEST_REVOKED", 1, log)
	// CORS reads origins through the cache serve uses, here with no
	// time to live: these tests change clients without a feed to evict.
	fresh, err := cache.New(rm, time.Nanosecond, 1)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := oauth.New(rm, keys, "https://id.example.com/", log, append([]oauth.Option{oauth.WithRevocations(revoked),
		oauth.WithAssertions(bucket.NewAssertions(js, "TEST_ASSERTIONS", 1)), oauth.WithGrants(bucket.NewGrants(js, "TEST", 1, grantBytes)),
		oauth.WithDevLogin()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{BodyLimit: bodyLimit}, store, log, httpapi.WithAdmin(httpapi.Admin{
		Tenants: ts, Clients: cs, ReadModel: rm, Waiter: projector, Auth: httpapi.Authenticators(auth, httpapi.AccessTokens(provider)),
		PublicURL: "https://id.example.com/",
	}), httpapi.WithOAuth(provider), httpapi.WithCORS(fresh))
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &adminHarness{url: "http://" + ln.Addr().String(), store: store, rm: rm, server: srv, logs: logs, k: loadContract(t), js: js}
}

// callOpts adjust one call.
type callOpts struct {
	token       *string
	header      map[string]string
	contentType string
	raw         bool
}

type callOpt func(*callOpts)

var noAuth callOpt = func(o *callOpts) { o.token = new(string) }

func token(tok string) callOpt { return func(o *callOpts) { o.token = &tok } }

func header(k, v string) callOpt {
	return func(o *callOpts) {
		if o.header == nil {
			o.header = map[string]string{}
		}
		o.header[k] = v
	}
}

func contentType(ct string) callOpt { return func(o *callOpts) { o.contentType = ct } }

// oversized is a body one byte over the limit. It is sent as a
// Content-Length only, on a raw connection: the server refuses it from the
// header, and a client that went on writing would race the server's
// close (a reset can swallow the 413).
type oversized struct{}

// sendOversized declares a body over the limit and reads the answer.
func (h *adminHarness) sendOversized(t *testing.T, method, path string, o callOpts) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: clavis\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n", method, path, o.contentType, bodyLimit+1)
	if o.token == nil {
		fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", rootToken)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: b}
	h.k.checkResponse(t, method, path, r)
	return r
}

// call makes one request. body is nil (none), a string or []byte (sent
// as is), [oversized], or a value (sent as JSON). The answer is checked against
// openapi.json, and so is the request body when the server accepted it.
func (h *adminHarness) call(t *testing.T, method, path string, body any, opts ...callOpt) response {
	t.Helper()
	o := callOpts{contentType: "application/json"}
	for _, f := range opts {
		f(&o)
	}
	var raw []byte
	switch b := body.(type) {
	case oversized:
		return h.sendOversized(t, method, path, o)
	case nil:
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			t.Fatal(err)
		}
	}
	var rd io.Reader
	if raw != nil {
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, h.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	tok := rootToken
	if o.token != nil {
		tok = *o.token
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if raw != nil && o.contentType != "" {
		req.Header.Set("Content-Type", o.contentType)
	}
	for k, v := range o.header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: res.StatusCode, header: res.Header, body: b}
	h.k.checkResponse(t, method, path, r)
	if raw != nil && r.status/100 == 2 && len(bytes.TrimSpace(raw)) > 0 {
		h.k.checkRequest(t, method, path, o.contentType, raw)
	}
	return r
}

// object decodes a JSON object answer.
func (r response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// want fails unless the answer has status.
func (r response) want(t *testing.T, status int) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// head is the event store's head; SQLite shows every committed event.
func (h *adminHarness) head(t *testing.T) eventstore.Position {
	t.Helper()
	p, err := h.store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (h *adminHarness) unchanged(t *testing.T, before eventstore.Position, what string) {
	t.Helper()
	if after := h.head(t); after != before {
		t.Errorf("%s changed the event store: head %v, was %v", what, after, before)
	}
}

// createTenant creates a tenant through the API and returns its answer.
func (h *adminHarness) createTenant(t *testing.T, slug string) map[string]any {
	t.Helper()
	return h.call(t, "POST", "/admin/tenants", map[string]string{"slug": slug, "name": strings.ToUpper(slug)}).want(t, 201).object(t)
}

// createClient registers a client through the API and returns its answer.
func (h *adminHarness) createClient(t *testing.T, tenant string, body map[string]any) map[string]any {
	t.Helper()
	return h.call(t, "POST", "/t/"+tenant+"/admin/clients", body).want(t, 201).object(t)
}

func webClient(code string) map[string]any {
	return map[string]any{
		"type": "confidential", "client_name": "Web " + code, "code": code,
		"redirect_uris": []string{"https://app.example.com/callback"}, "default_scopes": []string{"openid", "profile"},
	}
}

func spaClient(code string) map[string]any {
	return map[string]any{
		"type": "public", "client_name": "SPA " + code, "code": code,
		"redirect_uris": []string{"https://spa.example.com/cb"}, "allowed_cors_origins": []string{"https://spa.example.com"},
	}
}

// bareStore opens a bare SQLite store, closed on cleanup.
func bareStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
