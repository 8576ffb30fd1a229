package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// rootToken is the platform operator's token in these tests.
const rootToken = "test-root-token-0123456789-abcdefghijklmnop"

// bodyLimit is the servers' body limit: a node's.
const bodyLimit = httpapi.DefaultBodyLimit

// adminHarness is a whole node, built and run as `clavis serve` builds
// and runs it, over real HTTP on 127.0.0.1:0: the event store in SQLite,
// the read model the feed keeps, the command services, the admin API and
// the OAuth 2.0 endpoints, over a NATS server of the test's own.
type adminHarness struct {
	node   *testnode.Server
	url    string
	store  eventstore.Store
	rm     projections.ReadModel
	server *httpapi.Server
	logs   *testnode.Logs
	k      *contract
	// js reaches the node's NATS, whose grant buckets are TEST_*.
	js jetstream.JetStream
	// tenants is the node's tenant command service; clients its client
	// command service.
	tenants *tenants.Tenants
	clients *tenants.Clients
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
	return startAdminWith(t, func(cfg *node.Config) { cfg.GrantsMaxBytes = grantBytes }, opts...)
}

// startAdminWith starts the harness with its node's configuration
// adjusted by set.
func startAdminWith(t *testing.T, set func(*node.Config), opts ...oauth.Option) *adminHarness {
	t.Helper()
	return startAdminNode(t, set, node.WithOAuth(opts...))
}

// startAdminNode starts the harness with its node's configuration
// adjusted by set, built with opts.
func startAdminNode(t *testing.T, set func(*node.Config), opts ...node.Option) *adminHarness {
	t.Helper()
	ns := testnode.StartNATS(t)
	cfg := testnode.Config(t, "")
	cfg.PublicURL = "https://id.example.com"
	cfg.RootToken = rootToken
	cfg.DevLogin = true
	cfg.NATSURL, cfg.NATSPrefix = ns.URL, "test"
	set(&cfg)
	n := testnode.Start(t, cfg, opts...)
	return &adminHarness{node: n, url: n.URL, store: n.Store, rm: n.Admin.ReadModel, server: n.HTTP, logs: n.Logs, k: loadContract(t), js: ns.JetStream,
		tenants: n.Admin.Tenants, clients: n.Admin.Clients}
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
