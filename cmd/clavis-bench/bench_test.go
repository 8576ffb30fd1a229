package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// These tests are of the load generator itself, so an httptest server
// stands in for the node.

const benchTokenAnswer = `{"access_token":"at","token_type":"bearer","expires_in":3600}`

// benchRun runs `clavis-bench args…` in-process with env as the
// environment and returns the exit status and both outputs.
func benchRun(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(t.Context(), args, func(k string) string { return env[k] }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// seenRequest is what a stand-in endpoint received.
type seenRequest struct {
	method, path, contentType, authorization, body string
}

// recordingServer answers every request with status and body and keeps
// the first request it received.
func recordingServer(t *testing.T, status int, body string) (*httptest.Server, func() seenRequest) {
	t.Helper()
	var (
		mu    sync.Mutex
		first *seenRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		if first == nil {
			first = &seenRequest{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), string(b)}
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() seenRequest {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			t.Fatal("the endpoint received no request")
		}
		return *first
	}
}

// TestBenchClientAuthentication checks the requests on the wire: RFC 6749
// §2.3.1 form-encodes the client_id and the secret before HTTP Basic
// joins and base64-encodes them, and the body is form-encoded.
func TestBenchClientAuthentication(t *testing.T) {
	t.Parallel()
	const (
		id     = "a b:c"
		secret = "p&ss=w+rd/é"
		// Both form-encoded, as RFC 6749 Appendix B says.
		idEncoded     = "a+b%3Ac"
		secretEncoded = "p%26ss%3Dw%2Brd%2F%C3%A9"
	)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(idEncoded+":"+secretEncoded))
	tests := []struct {
		name      string
		args      []string
		answer    string
		path      string
		auth      string // the Authorization header
		form      url.Values
		rawSubstr []string // as encoded in the body
	}{
		{name: "token basic", args: []string{"token"}, answer: benchTokenAnswer,
			path: "/t/acme/oauth2/token", auth: basic,
			form: url.Values{"grant_type": {"client_credentials"}}},
		{name: "token basic scope", args: []string{"token", "--scope", "read write"}, answer: benchTokenAnswer,
			path: "/t/acme/oauth2/token", auth: basic,
			form:      url.Values{"grant_type": {"client_credentials"}, "scope": {"read write"}},
			rawSubstr: []string{"grant_type=client_credentials", "scope=read+write"}},
		{name: "token post scope", args: []string{"token", "--auth", "post", "--scope", "read"}, answer: benchTokenAnswer,
			path:      "/t/acme/oauth2/token",
			form:      url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}, "client_id": {id}, "client_secret": {secret}},
			rawSubstr: []string{"client_id=" + idEncoded, "client_secret=" + secretEncoded}},
		{name: "introspect basic", args: []string{"introspect", "--token", "t/k+n"}, answer: `{"active":true}`,
			path: "/t/acme/oauth2/introspect", auth: basic,
			form: url.Values{"token": {"t/k+n"}}, rawSubstr: []string{"token=t%2Fk%2Bn"}},
		{name: "introspect post", args: []string{"introspect", "--token", "tok", "--auth", "post"}, answer: `{"active":true}`,
			path: "/t/acme/oauth2/introspect",
			form: url.Values{"token": {"tok"}, "client_id": {id}, "client_secret": {secret}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, seen := recordingServer(t, http.StatusOK, tc.answer)
			// The endpoint and the tenant come from the environment.
			env := map[string]string{"CLAVIS_ENDPOINT": srv.URL + "/", "CLAVIS_TENANT": "acme"}
			args := slices.Concat(tc.args, []string{"--client-id", id, "--client-secret", secret,
				"--concurrency", "2", "--warmup", "0s", "--duration", "100ms"})
			code, stdout, stderr := benchRun(t, env, args...)
			if code != exitOK {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			r := seen()
			if r.method != http.MethodPost || r.path != tc.path {
				t.Errorf("request %s %s, want POST %s", r.method, r.path, tc.path)
			}
			if r.contentType != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", r.contentType)
			}
			if r.authorization != tc.auth {
				t.Errorf("Authorization %q, want %q", r.authorization, tc.auth)
			}
			got, err := url.ParseQuery(r.body)
			if err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			if !equalForms(got, tc.form) {
				t.Errorf("body %q = %v, want %v", r.body, got, tc.form)
			}
			for _, s := range tc.rawSubstr {
				if !strings.Contains(r.body, s) {
					t.Errorf("body %q has no %q", r.body, s)
				}
			}
		})
	}
}

func equalForms(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestLoadWarmupNotCounted makes the first requests fail: they fall in the
// warm-up, so none of them is counted.
func TestLoadWarmupNotCounted(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if served.Add(1) <= 5 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, benchTokenAnswer)
	}))
	t.Cleanup(srv.Close)
	res, err := runLoad(t.Context(), loadPlan{url: srv.URL, success: []byte("access_token"),
		concurrency: 2, warmup: 200 * time.Millisecond, duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.errors) != 0 {
		t.Errorf("errors %v: warm-up requests were counted", res.errors)
	}
	if res.warmup < 5 || res.requests == 0 {
		t.Errorf("%d warm-up and %d measured requests, want at least 5 and 1", res.warmup, res.requests)
	}
	// In-flight requests cut off at the end are in neither count.
	if n := int(served.Load()); res.warmup+res.requests > n || n > res.warmup+res.requests+2 {
		t.Errorf("server answered %d, load counted %d warm-up and %d measured", n, res.warmup, res.requests)
	}
	if res.elapsed != 200*time.Millisecond || res.interrupted {
		t.Errorf("elapsed %s, interrupted %v", res.elapsed, res.interrupted)
	}
	if len(res.latencies) != res.requests || !slices.IsSorted(res.latencies) {
		t.Errorf("%d latencies (sorted %v) for %d requests", len(res.latencies), slices.IsSorted(res.latencies), res.requests)
	}
}

// TestLoadCountsErrorsByKind has one worker meet, in turn, a 401, a 200
// without a token, a 503, a dropped connection and a success.
func TestLoadCountsErrorsByKind(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch (served.Add(1) - 1) % 5 {
		case 0:
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		case 1:
			io.WriteString(w, `{"error":"no token here"}`)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 3:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		default:
			io.WriteString(w, benchTokenAnswer)
		}
	}))
	t.Cleanup(srv.Close)
	res, err := runLoad(t.Context(), loadPlan{url: srv.URL, success: []byte("access_token"),
		concurrency: 1, duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// One worker without warm-up: the measured requests are the server's
	// first res.requests, in order.
	n := res.requests
	if n < 10 {
		t.Fatalf("only %d requests measured", n)
	}
	want := map[string]int{"401": (n + 4) / 5, "200": (n + 3) / 5, "503": (n + 2) / 5, "transport": (n + 1) / 5}
	if !equalCounts(res.errors, want) {
		t.Errorf("errors %v, want %v (of %d)", res.errors, want, n)
	}
	if got := res.succeeded(); got != n/5 {
		t.Errorf("%d succeeded, want %d", got, n/5)
	}
	if !strings.HasPrefix(res.firstFailure, "401 Unauthorized\n") || !strings.Contains(res.firstFailure, "invalid_client") {
		t.Errorf("first failure %q", res.firstFailure)
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestLoadCancelled stops a ten-second run after 150 ms: what was
// measured until then is returned.
func TestLoadCancelled(t *testing.T) {
	t.Parallel()
	// The context ends once requests have been measured, however slow
	// the machine: the 20th request the server sees well after the
	// warm-up ends it, and the four workers' closed loops mean at least
	// sixteen measured ones have been answered by then.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	began := time.Now()
	var measured atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, benchTokenAnswer)
		if time.Since(began) > 100*time.Millisecond && measured.Add(1) == 20 {
			cancel()
		}
	}))
	t.Cleanup(srv.Close)
	res, err := runLoad(ctx, loadPlan{url: srv.URL, success: []byte("access_token"),
		concurrency: 4, warmup: 50 * time.Millisecond, duration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("the run took %s after its context ended", took)
	}
	if !res.interrupted || res.requests == 0 || res.succeeded() != res.requests {
		t.Errorf("interrupted %v, %d requests, %d succeeded", res.interrupted, res.requests, res.succeeded())
	}
	if res.elapsed <= 0 || res.elapsed > 2*time.Second {
		t.Errorf("elapsed %s", res.elapsed)
	}
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(vs ...int) []time.Duration {
		ds := make([]time.Duration, len(vs))
		for i, v := range vs {
			ds[i] = time.Duration(v) * time.Millisecond
		}
		return ds
	}
	upTo := func(n int) []time.Duration { // 1 ms, 2 ms, … n ms
		ds := make([]time.Duration, n)
		for i := range ds {
			ds[i] = time.Duration(i+1) * time.Millisecond
		}
		return ds
	}
	// 990 requests of 1 ms, 9 of 5 ms and one of 100 ms.
	tail := append(append(slices.Repeat(ms(1), 990), slices.Repeat(ms(5), 9)...), ms(100)...)
	tests := []struct {
		name                string
		sorted              []time.Duration
		p50, p99, p999, max time.Duration
	}{
		{"none", nil, 0, 0, 0, 0},
		{"one", ms(7), 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond, 7 * time.Millisecond},
		{"three", ms(1, 2, 3), 2 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond},
		{"1..100", upTo(100), 50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond},
		{"1..1000", upTo(1000), 500 * time.Millisecond, 990 * time.Millisecond, 999 * time.Millisecond, 1000 * time.Millisecond},
		{"1..1001", upTo(1001), 501 * time.Millisecond, 991 * time.Millisecond, 1000 * time.Millisecond, 1001 * time.Millisecond},
		{"long tail", tail, time.Millisecond, time.Millisecond, 5 * time.Millisecond, 100 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				perMille int
				want     time.Duration
			}{{500, tc.p50}, {990, tc.p99}, {999, tc.p999}, {1000, tc.max}} {
				if got := latencyPercentile(tc.sorted, c.perMille); got != c.want {
					t.Errorf("latencyPercentile(%d‰) = %s, want %s", c.perMille, got, c.want)
				}
			}
		})
	}
}

// TestBenchEverythingRejected: a wrong secret fails every request, which
// is a failure of the run, with the first answer's body, cut at 512
// bytes, on stderr.
func TestBenchEverythingRejected(t *testing.T) {
	t.Parallel()
	body := `{"error":"invalid_client","error_description":"` + strings.Repeat("x", 600) + `"}`
	srv, _ := recordingServer(t, http.StatusUnauthorized, body)
	code, stdout, stderr := benchRun(t, nil, "token", "--endpoint", srv.URL, "--tenant", "acme",
		"--client-id", "c", "--client-secret", "wrong", "--concurrency", "2", "--warmup", "0s", "--duration", "100ms")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitFailure, stdout, stderr)
	}
	for _, want := range []string{"not one request succeeded", "401 Unauthorized", body[:512] + "\n[truncated]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr has no %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, body[:513]) {
		t.Errorf("stderr has more than 512 bytes of the body:\n%s", stderr)
	}
	if !strings.Contains(stdout, "errors") || !strings.Contains(stdout, "(401: ") {
		t.Errorf("stdout does not report the 401s:\n%s", stdout)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	t.Parallel()
	valid := []string{"--tenant", "acme", "--client-id", "c", "--client-secret", "s"}
	flowValid := append([]string{"--login-client-id", "l", "--login-client-secret", "s"}, valid...)
	without := func(flag string) []string {
		i := slices.Index(valid, flag)
		return slices.Delete(slices.Clone(valid), i, i+2)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "clavis-bench <command>"},
		{"unknown command", []string{"revoke"}, `unknown command "revoke"`},
		{"no tenant", append([]string{"token"}, without("--tenant")...), "--tenant"},
		{"no client id", append([]string{"token"}, without("--client-id")...), "--client-id is required"},
		{"no client secret", append([]string{"token"}, without("--client-secret")...), "--client-secret is required"},
		{"no token to introspect", append([]string{"introspect"}, valid...), "--token is required"},
		{"concurrency 0", append([]string{"token", "--concurrency", "0"}, valid...), "--concurrency must be at least 1"},
		{"concurrency -1", append([]string{"token", "--concurrency", "-1"}, valid...), "--concurrency"},
		{"concurrency not a number", append([]string{"token", "--concurrency", "many"}, valid...), "-concurrency"},
		{"duration 0", append([]string{"token", "--duration", "0s"}, valid...), "--duration must be positive"},
		{"duration negative", append([]string{"token", "--duration", "-1s"}, valid...), "--duration must be positive"},
		{"warmup negative", append([]string{"introspect", "--token", "t", "--warmup", "-1s"}, valid...), "--warmup must not be negative"},
		{"unknown auth", append([]string{"token", "--auth", "jwt"}, valid...), `--auth must be basic or post, not "jwt"`},
		{"bad endpoint", append([]string{"token", "--endpoint", "127.0.0.1:8080"}, valid...), "--endpoint"},
		{"unknown flag", append([]string{"token", "--rate", "5"}, valid...), "-rate"},
		{"scope on introspect", append([]string{"introspect", "--token", "t", "--scope", "a"}, valid...), "-scope"},
		{"argument", append([]string{"token", "extra"}, valid...), `unexpected argument "extra"`},
		{"flow without a redirect URI", append([]string{"flow"}, flowValid...), "--redirect-uri is required"},
		{"flow with a relative redirect URI", append([]string{"flow", "--redirect-uri", "/cb"}, flowValid...), `--redirect-uri "/cb" is not an absolute URI`},
		{"flow without the login client", append([]string{"refresh", "--redirect-uri", "https://a.example/cb", "--login-client-secret", "s"}, valid...), "--login-client-id is required"},
		{"flow without the login secret", append([]string{"flow", "--redirect-uri", "https://a.example/cb", "--login-client-id", "l"}, valid...), "--login-client-secret is required"},
		{"flow with an empty subject", append([]string{"flow", "--redirect-uri", "https://a.example/cb", "--subject", ""}, flowValid...), "--subject must not be empty"},
		{"refresh chain negative", append([]string{"refresh", "--redirect-uri", "https://a.example/cb", "--chain", "-1"}, flowValid...), "--chain must not be negative"},
		{"chain on flow", append([]string{"flow", "--redirect-uri", "https://a.example/cb", "--chain", "5"}, flowValid...), "-chain"},
		{"steps on refresh", append([]string{"refresh", "--redirect-uri", "https://a.example/cb", "--steps"}, flowValid...), "-steps"},
		{"token on flow", append([]string{"flow", "--redirect-uri", "https://a.example/cb", "--token", "t"}, flowValid...), "-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := benchRun(t, nil, tc.args...)
			if code != exitUsage || stdout != "" {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitUsage, stdout, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr has no %q:\n%s", tc.want, stderr)
			}
		})
	}

	t.Run("every problem at once", func(t *testing.T) {
		t.Parallel()
		_, _, stderr := benchRun(t, nil, "introspect", "--concurrency", "0", "--auth", "x")
		for _, want := range []string{"--tenant", "--client-id", "--client-secret", "--token", "--concurrency", "--auth"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr has no %q:\n%s", want, stderr)
			}
		}
		_, _, stderr = benchRun(t, nil, "refresh", "--duration", "0s", "--chain", "-2")
		for _, want := range []string{"--tenant", "--client-id", "--client-secret", "--redirect-uri", "--login-client-id",
			"--login-client-secret", "--duration", "--chain"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr has no %q:\n%s", want, stderr)
			}
		}
	})
}

func TestBenchHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"help"}, {"--help"},
		{"help", "token"}, {"token", "--help"}, {"introspect", "-h"}, {"flow", "--help"}, {"help", "refresh"},
	} {
		var out, errOut strings.Builder
		code := run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
		if code != exitOK || !strings.HasPrefix(out.String(), "Usage:\n  clavis-bench") {
			t.Errorf("clavis-bench %s = %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
	}
	var out strings.Builder
	run(t.Context(), []string{"help"}, func(string) string { return "" }, &out, io.Discard)
	for _, cmd := range []string{"token", "introspect", "flow", "refresh"} {
		if !strings.Contains(out.String(), "  "+cmd+" ") {
			t.Errorf("clavis-bench help does not list %s:\n%s", cmd, out.String())
		}
	}
}

// TestBenchOutput checks the table and the --json object.
func TestBenchOutput(t *testing.T) {
	t.Parallel()
	srv, _ := recordingServer(t, http.StatusOK, benchTokenAnswer)
	args := []string{"token", "--endpoint", srv.URL, "--tenant", "acme", "--client-id", "c", "--client-secret", "s",
		"--concurrency", "3", "--warmup", "50ms", "--duration", "200ms"}
	endpoint := srv.URL + "/t/acme/oauth2/token"

	t.Run("table", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := benchRun(t, nil, args...)
		if code != exitOK || stderr != "" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		wantPrefixes := []string{"endpoint     " + endpoint, "concurrency  3", "duration     200ms", "requests     ", "errors       0", "latency      p50 "}
		if len(lines) != len(wantPrefixes) {
			t.Fatalf("table:\n%s", stdout)
		}
		for i, p := range wantPrefixes {
			if !strings.HasPrefix(lines[i], p) {
				t.Errorf("line %d %q, want it to start with %q", i+1, lines[i], p)
			}
		}
		for _, s := range []string{"/s)", " p99 ", " p999 ", " max "} {
			if !strings.Contains(stdout, s) {
				t.Errorf("table has no %q:\n%s", s, stdout)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := benchRun(t, nil, append(args, "--json")...)
		if code != exitOK || stderr != "" {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, stdout)
		}
		keys := []string{"concurrency", "duration_seconds", "endpoint", "errors", "interrupted", "max_ms",
			"p50_ms", "p999_ms", "p99_ms", "requests", "requests_per_second"}
		var gotKeys []string
		for k := range got {
			gotKeys = append(gotKeys, k)
		}
		slices.Sort(gotKeys)
		if !slices.Equal(gotKeys, keys) {
			t.Errorf("keys %v, want %v", gotKeys, keys)
		}
		if got["endpoint"] != endpoint || got["concurrency"] != 3.0 || got["duration_seconds"] != 0.2 || got["interrupted"] != false {
			t.Errorf("got %v", got)
		}
		if errs, ok := got["errors"].(map[string]any); !ok || len(errs) != 0 {
			t.Errorf("errors %v, want {}", got["errors"])
		}
		n, _ := got["requests"].(float64)
		rate, _ := got["requests_per_second"].(float64)
		if n < 1 || rate != n/0.2 {
			t.Errorf("requests %v, requests_per_second %v", got["requests"], got["requests_per_second"])
		}
		p50, p99, p999, maxMS := got["p50_ms"].(float64), got["p99_ms"].(float64), got["p999_ms"].(float64), got["max_ms"].(float64)
		if !(0 < p50 && p50 <= p99 && p99 <= p999 && p999 <= maxMS) {
			t.Errorf("p50 %v, p99 %v, p999 %v, max %v", p50, p99, p999, maxMS)
		}
	})
}
