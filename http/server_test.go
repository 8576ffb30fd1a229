package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/eventstore/sqlite"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
)

// harness is a running server over a real SQLite store in t.TempDir().
type harness struct {
	url   string
	store *sqlite.Store
	logs  *testnode.Logs
}

func start(t *testing.T, cfg httpapi.Config, setup ...func(*httpapi.Server)) *harness {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	log, logs := testnode.Logger(t)
	srv, err := httpapi.New(cfg, store, log)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	for _, f := range setup {
		f(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
		store.Close()
	})
	return &harness{url: "http://" + ln.Addr().String(), store: store, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, url string, body io.Reader, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func wantProblem(t *testing.T, r response, status int, typ string) httpapi.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != httpapi.ContentTypeProblem {
		t.Errorf("content type = %q, want %q", ct, httpapi.ContentTypeProblem)
	}
	var p httpapi.Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	type shown struct {
		Type     string
		Status   int
		HasTitle bool
	}
	if diff := cmp.Diff(shown{typ, status, true}, shown{p.Type, p.Status, p.Title != ""}); diff != "" {
		t.Errorf("problem %s (-want +got):\n%s", r.body, diff)
	}
	return p
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	h := start(t, httpapi.Config{})
	tests := []struct {
		name   string
		method string
		path   string
		status int
		body   string // exact JSON body of a success
		typ    string // problem type of a failure
	}{
		{name: "healthz", method: http.MethodGet, path: "/healthz", status: 200, body: `{"status":"ok"}`},
		{name: "readyz", method: http.MethodGet, path: "/readyz", status: 200, body: `{"status":"ready"}`},
		{name: "unknown path", method: http.MethodGet, path: "/no/such/thing", status: 404, typ: httpapi.ProblemNotFound},
		{name: "wrong method", method: http.MethodPost, path: "/healthz", status: 405, typ: httpapi.ProblemMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := do(t, tt.method, h.url+tt.path, nil, nil)
			if tt.typ != "" {
				wantProblem(t, r, tt.status, tt.typ)
				return
			}
			if r.status != tt.status || string(r.body) != tt.body {
				t.Errorf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type = %q", ct)
			}
		})
	}
}

func TestReadyzFailsWhenStoreIsClosed(t *testing.T) {
	t.Parallel()
	h := start(t, httpapi.Config{ReadyTimeout: time.Second})
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := do(t, http.MethodGet, h.url+"/readyz", nil, nil)
	p := wantProblem(t, r, http.StatusServiceUnavailable, httpapi.ProblemNotReady)
	if p.Title != "Not ready" || p.Detail == "" {
		t.Errorf("problem = %+v", p)
	}
	// The process is still alive.
	if r := do(t, http.MethodGet, h.url+"/healthz", nil, nil); r.status != http.StatusOK {
		t.Errorf("healthz = %d", r.status)
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	h := start(t, httpapi.Config{BodyLimit: 64})
	r := do(t, http.MethodPost, h.url+"/healthz", strings.NewReader(strings.Repeat("x", 1024)), nil)
	wantProblem(t, r, http.StatusRequestEntityTooLarge, httpapi.ProblemPayloadTooLarge)
	if r.header.Get(httpapi.HeaderRequestID) == "" {
		t.Error("a request refused before routing has no X-Request-Id")
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	h := start(t, httpapi.Config{})
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		incoming string
		echo     bool
	}{
		{name: "none", incoming: ""},
		{name: "safe", incoming: "req-1.A_b", echo: true},
		{name: "longest safe", incoming: strings.Repeat("a", 128), echo: true},
		{name: "too long", incoming: strings.Repeat("a", 129)},
		{name: "space", incoming: "a b"},
		{name: "log forging", incoming: `x","level":"ERROR`},
		{name: "non-ascii", incoming: "ü"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := map[string]string{}
			if tt.incoming != "" {
				header[httpapi.HeaderRequestID] = tt.incoming
			}
			for _, path := range []string{"/healthz", "/missing"} {
				got := do(t, http.MethodGet, h.url+path, nil, header).header.Get(httpapi.HeaderRequestID)
				switch {
				case tt.echo && got != tt.incoming:
					t.Errorf("%s: request id = %q, want the incoming %q echoed", path, got, tt.incoming)
				case !tt.echo && !generated.MatchString(got):
					t.Errorf("%s: request id = %q, want a generated one", path, got)
				}
			}
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	h := start(t, httpapi.Config{})
	do(t, http.MethodGet, h.url+"/healthz?token=s3cr3t-in-query", nil, map[string]string{httpapi.HeaderRequestID: "log-test-1"})
	do(t, http.MethodGet, h.url+"/nowhere", nil, map[string]string{httpapi.HeaderRequestID: "log-test-2"})

	want := map[string]struct {
		route  string
		status float64
	}{
		"log-test-1": {"/healthz", 200},
		"log-test-2": {"", 404},
	}
	found := map[string]map[string]any{}
	poll.Until(t, 5*time.Second, "the access log lines of both requests", func() bool {
		for line := range strings.Lines(h.logs.String()) {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if id, _ := rec["request_id"].(string); rec["msg"] == "request" {
				if _, ok := want[id]; ok {
					found[id] = rec
				}
			}
		}
		return len(found) == len(want)
	})
	for id, rec := range found {
		w := want[id]
		for _, key := range []string{"request_id", "method", "route", "status", "duration"} {
			if _, ok := rec[key]; !ok {
				t.Errorf("%s: access log has no %q: %v", id, key, rec)
			}
		}
		if rec["level"] != "DEBUG" || rec["method"] != "GET" || rec["route"] != w.route || rec["status"] != w.status {
			t.Errorf("%s: access log = %v, want level DEBUG, GET, route %q, status %v", id, rec, w.route, w.status)
		}
	}
	if strings.Contains(h.logs.String(), "s3cr3t") {
		t.Error("the access log holds the query string")
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		cfg  httpapi.Config
		want []string
	}{
		{name: "negative body limit", cfg: httpapi.Config{BodyLimit: -1}, want: []string{"body limit"}},
		{name: "every negative knob", cfg: httpapi.Config{BodyLimit: -1, ReadTimeout: -1, WriteTimeout: -1, IdleTimeout: -1, ReadyTimeout: -1},
			want: []string{"body limit", "read timeout", "write timeout", "idle timeout", "ready timeout"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.New(tt.cfg, store, log)
			if err == nil {
				t.Fatal("New accepted a bad config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := httpapi.New(httpapi.Config{}, nil, log); err == nil {
		t.Error("New accepted a nil store")
	}
	// A nil logger means what it means everywhere: log nothing.
	if _, err := httpapi.New(httpapi.Config{}, store, nil); err != nil {
		t.Errorf("New with a nil logger: %v", err)
	}
}

func TestShutdownBeforeServe(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv, err := httpapi.New(httpapi.Config{}, store, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve after shutdown did not return")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Error("the listener is still open after serve returned")
	}
}

// TestShutdownRacesServe shuts down while Serve may not yet have handed
// its listener to fasthttp: Serve must return all the same.
func TestShutdownRacesServe(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "clavis.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for range 20 {
		srv, err := httpapi.New(httpapi.Config{}, store, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		if err := srv.Shutdown(t.Context()); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not return after shutdown")
		}
	}
}

// A handler that panics costs its own request a 500 problem, and nothing
// else: the node goes on serving, and the panic is logged.
func TestAPanickingHandlerAnswers500AndTheNodeCarriesOn(t *testing.T) {
	t.Parallel()
	h := start(t, httpapi.Config{}, func(s *httpapi.Server) {
		s.Get("/panics", func(*fiber.Ctx) error {
			var m map[string]int
			m["x"] = 1 // a nil map, as a JSON null once left one
			return nil
		})
	})
	wantProblem(t, do(t, http.MethodGet, h.url+"/panics", nil, nil), http.StatusInternalServerError, httpapi.ProblemInternal)
	if r := do(t, http.MethodGet, h.url+"/healthz", nil, nil); r.status != http.StatusOK {
		t.Fatalf("after the panic, /healthz = %d", r.status)
	}
	if !strings.Contains(h.logs.String(), "handler panicked") {
		t.Errorf("the panic is not logged:\n%s", h.logs.String())
	}
}
