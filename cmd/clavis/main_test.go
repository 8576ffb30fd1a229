package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
)

// dbURL is this package's own PostgreSQL database, made by pgtest.Main.
var dbURL string

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &dbURL)) }

// backends are the stores every component test runs against.
var backends = []string{node.SQLite, node.Postgres}

// testConfig is a valid configuration for backend with its data in
// t.TempDir() (and its own PostgreSQL schema).
func testConfig(t *testing.T, backend string) Config {
	t.Helper()
	cfg := defaultConfig()
	cfg.Addr = "127.0.0.1:0"
	db := ""
	if backend == node.Postgres {
		db = dbURL
	}
	cfg.Config = testnode.Config(t, db)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// startNode builds the node with node.New and runs it, exactly as serve
// does, on a free loopback port until the test ends (or Stop).
func startNode(t *testing.T, cfg Config) *testnode.Server {
	t.Helper()
	return testnode.Start(t, cfg.Config)
}

// onEachBackend runs test, in parallel, against a node of its own on
// each backend.
func onEachBackend(t *testing.T, test func(t *testing.T, n *testnode.Server)) {
	t.Helper()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			test(t, startNode(t, testConfig(t, backend)))
		})
	}
}

func get(t *testing.T, url string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, res.Header, body
}

func TestComponent(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		tests := []struct {
			path        string
			status      int
			contentType string
			body        string // exact, or the problem type
		}{
			{"/healthz", 200, "application/json", `{"status":"ok"}`},
			{"/readyz", 200, "application/json", `{"status":"ready"}`},
			{"/no-such-path", 404, httpapi.ContentTypeProblem, httpapi.ProblemNotFound},
		}
		for _, tt := range tests {
			status, header, body := get(t, n.URL+tt.path)
			if status != tt.status || header.Get("Content-Type") != tt.contentType {
				t.Errorf("GET %s = %d %s, want %d %s", tt.path, status, header.Get("Content-Type"), tt.status, tt.contentType)
			}
			if header.Get("X-Request-Id") == "" {
				t.Errorf("GET %s has no X-Request-Id", tt.path)
			}
			if tt.contentType == httpapi.ContentTypeProblem {
				var p httpapi.Problem
				if err := json.Unmarshal(body, &p); err != nil || p.Type != tt.body || p.Status != tt.status {
					t.Errorf("GET %s body = %s (%v), want problem %s", tt.path, body, err, tt.body)
				}
			} else if string(body) != tt.body {
				t.Errorf("GET %s body = %s, want %s", tt.path, body, tt.body)
			}
		}
	})
}

func TestReadyzFailsWhenStoreIsClosed(t *testing.T) {
	t.Parallel()
	onEachBackend(t, func(t *testing.T, n *testnode.Server) {
		if status, _, _ := get(t, n.URL+"/readyz"); status != http.StatusOK {
			t.Fatalf("readyz before closing = %d", status)
		}
		if err := n.Store.Close(); err != nil {
			t.Fatal(err)
		}
		status, header, body := get(t, n.URL+"/readyz")
		if status != http.StatusServiceUnavailable || header.Get("Content-Type") != httpapi.ContentTypeProblem {
			t.Fatalf("readyz = %d %s %s, want 503 problem+json", status, header.Get("Content-Type"), body)
		}
		var p map[string]any
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		if p["type"] != httpapi.ProblemNotReady || p["title"] != "Not ready" || p["status"] != 503.0 || p["detail"] == "" {
			t.Errorf("problem = %v", p)
		}
	})
}

// runCmd runs the command line args with env as the environment.
func runCmd(ctx context.Context, args []string, env map[string]string) (code int, stdout, stderr string) {
	var out, errOut testnode.Logs
	code = run(ctx, args, envMap(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMigrateCommands(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			// Settings come through the flags for SQLite and through the
			// environment for PostgreSQL: both must reach the store.
			var flags []string
			env := map[string]string{"CLAVIS_LOG_FORMAT": "json"}
			if backend == node.SQLite {
				flags = []string{"--data-dir", cfg.DataDir}
			} else {
				env["CLAVIS_DATABASE_URL"] = cfg.DatabaseURL
				env["CLAVIS_DATA_DIR"] = cfg.DataDir
			}
			steps := []struct {
				cmd  []string
				want *regexp.Regexp
			}{
				// Every migration, in order, starting with the event store's.
				{[]string{"migrate", "status"}, regexp.MustCompile(`(?m)\AVERSION\s+APPLIED\s+SOURCE\n1\s+no\s+00001_events\.sql\n(\d+\s+no\s+\d{5}_\w+\.sql\n)*\z`)},
				{[]string{"migrate", "up"}, regexp.MustCompile(`\Aapplied migration 1\n(applied migration \d+\n)*\z`)},
				{[]string{"migrate", "up"}, regexp.MustCompile(`\Aalready up to date\n\z`)},
				{[]string{"migrate", "status"}, regexp.MustCompile(`(?m)\AVERSION\s+APPLIED\s+SOURCE\n1\s+yes\s+00001_events\.sql\n(\d+\s+yes\s+\d{5}_\w+\.sql\n)*\z`)},
			}
			for _, s := range steps {
				code, stdout, stderr := runCmd(t.Context(), append(s.cmd, flags...), env)
				if code != exitOK || !s.want.MatchString(stdout) {
					t.Fatalf("clavis %s = %d\nstdout:\n%s\nstderr:\n%s\nwant stdout matching %s", strings.Join(s.cmd, " "), code, stdout, stderr, s.want)
				}
			}
			// The migrated store serves without migrating again.
			cfg.Migrate = false
			n := startNode(t, cfg)
			if status, _, body := get(t, n.URL+"/readyz"); status != http.StatusOK {
				t.Errorf("readyz after migrate up = %d %s", status, body)
			}
			if strings.Contains(n.Logs.String(), "pending") {
				t.Errorf("a migrated store was reported as pending:\n%s", n.Logs)
			}
		})
	}
}

// TestServeWithoutMigrations starts with --migrate=false on a store no
// migration has touched: the node either refuses to start, saying the
// database needs migrating, or starts not ready and warns that
// migrations are pending. It never reports ready.
func TestServeWithoutMigrations(t *testing.T) {
	t.Parallel()
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig(t, backend)
			cfg.Migrate = false
			log, logs := testnode.Logger(t)
			a, err := node.New(t.Context(), cfg.Config, log)
			if err != nil {
				if !strings.Contains(err.Error(), "migrated") {
					t.Fatalf("node.New on an unmigrated store: %v, want an error that says to migrate", err)
				}
				return
			}
			a.Close()
			if !strings.Contains(logs.String(), "pending") {
				t.Errorf("no warning about pending migrations in:\n%s", logs)
			}
			n := startNode(t, cfg)
			if status, _, _ := get(t, n.URL+"/readyz"); status != http.StatusServiceUnavailable {
				t.Errorf("readyz on an unmigrated store = %d, want 503", status)
			}
		})
	}
}

// listenAddr waits for serve's "listening" line in the JSON log and
// returns its address.
func listenAddr(t *testing.T, logs *testnode.Logs, exited <-chan int) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		for line := range strings.Lines(logs.String()) {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				return rec.Addr
			}
		}
		select {
		case code := <-exited:
			t.Fatalf("serve exited with %d before listening:\n%s", code, logs)
		case <-deadline:
			t.Fatalf("serve did not log its address:\n%s", logs)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestServeExitsGracefully(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testnode.Logs
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "debug"},
			envMap(map[string]string{"CLAVIS_LOG_FORMAT": "json"}), &stdout, &stderr)
	}()
	addr := listenAddr(t, &stderr, exited)
	if status, _, _ := get(t, "http://"+addr+"/healthz"); status != http.StatusOK {
		t.Fatalf("healthz = %d", status)
	}
	cancel()
	select {
	case code := <-exited:
		if code != exitOK {
			t.Fatalf("serve exited with %d after its context was cancelled:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit 30s after its context was cancelled")
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log has no %s:\n%s", want, logs)
		}
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the port still accepts connections after serve returned")
	}
	// The store was closed: a new serve opens the same data dir.
	cfg := testConfig(t, node.SQLite)
	cfg.DataDir = dataDir
	startNode(t, cfg)
}

func TestServeWithCancelledContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	code, _, stderr := runCmd(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--nats-listen", "off", "--data-dir", t.TempDir()}, nil)
	if code != exitOK {
		t.Fatalf("serve with a cancelled context = %d, want 0:\n%s", code, stderr)
	}
}

func TestServeFailsOnTakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dataDir := filepath.Join(t.TempDir(), "data")
	code, _, stderr := runCmd(t.Context(), []string{"serve", "--addr", ln.Addr().String(), "--data-dir", dataDir}, nil)
	if code != exitFailure || !strings.Contains(stderr, "listen on") {
		t.Fatalf("serve on a taken port = %d, want 1 and a listen error:\n%s", code, stderr)
	}
	if _, err := os.Stat(dataDir); err == nil {
		t.Error("serve touched the data dir before it could listen")
	}
}

func TestRootToken(t *testing.T) {
	t.Parallel()

	t.Run("generated, private, reused, never logged", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, node.SQLite) // DataDir does not exist yet
		log, logs := testnode.Logger(t)
		first, err := node.LoadRootToken(cfg.Config, log)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(cfg.DataDir, node.RootTokenFile)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("token file mode = %v, want 0600", fi.Mode().Perm())
		}
		if di, err := os.Stat(cfg.DataDir); err != nil || di.Mode().Perm() != 0o700 {
			t.Errorf("data dir = %v, %v; want mode 0700", di.Mode().Perm(), err)
		}
		if !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(first) {
			t.Errorf("token %q is not 256 bits in base64url", first)
		}
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != first {
			t.Error("the file does not hold the token returned")
		}

		// A restart, as serve runs it, reuses the token.
		n := startNode(t, cfg)
		if n.RootToken != first {
			t.Error("a restart generated a new token instead of reusing the file")
		}
		if err := n.Stop(); err != nil {
			t.Fatal(err)
		}
		all := logs.String() + n.Logs.String()
		if strings.Contains(all, first) {
			t.Fatal("the root token was logged")
		}
		if !strings.Contains(logs.String(), "generated a root token") || !strings.Contains(logs.String(), path) {
			t.Errorf("the log does not say a token was generated and where:\n%s", logs)
		}
		if strings.Count(all, "generated a root token") != 1 || !strings.Contains(n.Logs.String(), "using the root token from its file") {
			t.Errorf("the restart did not log that it reused the file:\n%s", all)
		}
	})

	t.Run("given token writes no file and is never logged", func(t *testing.T) {
		t.Parallel()
		const token = "given-root-token-0123456789abcdefghijklmnop"
		dataDir := t.TempDir()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var stdout, stderr testnode.Logs
		exited := make(chan int, 1)
		go func() {
			exited <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--log-level", "debug", "--log-format", "json"},
				envMap(map[string]string{"CLAVIS_ROOT_TOKEN": token}), &stdout, &stderr)
		}()
		listenAddr(t, &stderr, exited)
		cancel()
		if code := <-exited; code != exitOK {
			t.Fatalf("serve = %d:\n%s", code, stderr.String())
		}
		if strings.Contains(stderr.String()+stdout.String(), token) {
			t.Fatalf("the root token was logged:\n%s", stderr.String())
		}
		if !strings.Contains(stderr.String(), `"root_token":"[redacted]"`) {
			t.Errorf("the debug configuration line does not show the token redacted:\n%s", stderr.String())
		}
		if _, err := os.Stat(filepath.Join(dataDir, node.RootTokenFile)); err == nil {
			t.Error("a root token file was written although a token was given")
		}
	})

	t.Run("short token file is refused", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, node.SQLite)
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cfg.DataDir, node.RootTokenFile), []byte("short-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		log, logs := testnode.Logger(t)
		_, err := node.LoadRootToken(cfg.Config, log)
		if err == nil || !strings.Contains(err.Error(), "at least 32") {
			t.Fatalf("err = %v, want a too-short error", err)
		}
		if strings.Contains(err.Error()+logs.String(), "short-secret") {
			t.Error("the error or the log quotes the token")
		}
	})

	t.Run("concurrent starts agree on one token", func(t *testing.T) {
		t.Parallel()
		cfg := testConfig(t, node.SQLite)
		log, _ := testnode.Logger(t)
		tokens := make([]string, 8)
		errs := make([]error, len(tokens))
		var wg sync.WaitGroup
		for i := range tokens {
			wg.Go(func() { tokens[i], errs[i] = node.LoadRootToken(cfg.Config, log) })
		}
		wg.Wait()
		for i := range tokens {
			if errs[i] != nil || tokens[i] != tokens[0] {
				t.Fatalf("start %d got %q, %v; start 0 got %q", i, tokens[i], errs[i], tokens[0])
			}
		}
	})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout []string // substrings of stdout
		stderr []string // substrings of stderr
	}{
		{name: "no command", args: nil, code: exitUsage, stderr: []string{"no command", "Commands:"}},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: []string{"Commands:", "serve", "migrate up", "migrate status", "version"}},
		{name: "-h", args: []string{"-h"}, code: exitOK, stdout: []string{"Commands:"}},
		{name: "--help", args: []string{"--help"}, code: exitOK, stdout: []string{"Commands:"}},
		{name: "help serve", args: []string{"help", "serve"}, code: exitOK, stdout: []string{"clavis serve [flags]", "CLAVIS_ADDR"}},
		{name: "help migrate up", args: []string{"help", "migrate", "up"}, code: exitOK, stdout: []string{"clavis migrate up [flags]"}},
		{name: "help unknown", args: []string{"help", "deploy"}, code: exitUsage, stderr: []string{`unknown command "deploy"`}},
		{name: "unknown command", args: []string{"deploy"}, code: exitUsage, stderr: []string{`unknown command "deploy"`, "Commands:"}},
		{name: "subcommand alone", args: []string{"up"}, code: exitUsage, stderr: []string{`unknown command "up"`}},
		{name: "bench is a binary of its own", args: []string{"bench", "token"}, code: exitUsage, stderr: []string{`unknown command "bench"`}},
		{name: "serve --help", args: []string{"serve", "--help"}, code: exitOK, stdout: []string{"Usage:"}},
		{name: "serve -h", args: []string{"serve", "-h"}, code: exitOK, stdout: []string{"Usage:"}},
		{name: "serve unknown flag", args: []string{"serve", "--no-such-flag", "x"}, code: exitUsage, stderr: []string{"not defined: -no-such-flag", "clavis serve [flags]"}},
		{name: "serve extra argument", args: []string{"serve", "now"}, code: exitUsage, stderr: []string{`unexpected argument "now"`}},
		{name: "serve bad variable", args: []string{"serve"}, env: map[string]string{"CLAVIS_MIGRATE": "perhaps"}, code: exitUsage, stderr: []string{"CLAVIS_MIGRATE"}},
		{
			name: "serve invalid config", args: []string{"serve", "--addr", "x", "--log-level", "loud"}, code: exitUsage,
			stderr: []string{"invalid configuration", "--addr (CLAVIS_ADDR)", "--log-level (CLAVIS_LOG_LEVEL)"},
		},
		{name: "migrate alone", args: []string{"migrate"}, code: exitUsage, stderr: []string{"missing subcommand", "clavis migrate up"}},
		{name: "migrate help", args: []string{"migrate", "--help"}, code: exitOK, stdout: []string{"clavis migrate status"}},
		{name: "migrate unknown", args: []string{"migrate", "down"}, code: exitUsage, stderr: []string{`unknown subcommand "down"`}},
		{name: "migrate up -h", args: []string{"migrate", "up", "-h"}, code: exitOK, stdout: []string{"--database-url URL", "CLAVIS_DATABASE_URL", "--data-dir", "CLAVIS_DATA_DIR"}},
		{name: "migrate up takes no addr", args: []string{"migrate", "up", "--addr", "x:1"}, code: exitUsage, stderr: []string{"not defined: -addr"}},
		{name: "migrate status --help", args: []string{"migrate", "status", "--help"}, code: exitOK, stdout: []string{"--log-level LEVEL"}},
		{name: "version --help", args: []string{"version", "--help"}, code: exitOK, stdout: []string{"clavis version"}},
		{name: "version unknown flag", args: []string{"version", "--short"}, code: exitUsage, stderr: []string{"not defined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(t.Context(), tt.args, tt.env)
			if code != tt.code {
				t.Errorf("exit = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout has no %q:\n%s", w, stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr has no %q:\n%s", w, stderr)
				}
			}
			if tt.code == exitOK && stderr != "" {
				t.Errorf("help wrote to stderr:\n%s", stderr)
			}
			if tt.code == exitUsage && stdout != "" {
				t.Errorf("a usage error wrote to stdout:\n%s", stdout)
			}
		})
	}
}

// TestServeHelpListsEverySetting checks that serve's help names every
// setting with its flag, its variable and its default.
func TestServeHelpListsEverySetting(t *testing.T) {
	t.Parallel()
	_, stdout, _ := runCmd(t.Context(), []string{"serve", "--help"}, nil)
	for _, s := range settings {
		for _, want := range []string{"--" + s.name, envName(s.name), "default " + s.def} {
			if !strings.Contains(stdout, want) {
				t.Errorf("serve --help has no %q", want)
			}
		}
	}
	if len(settings) != len(allSettings) {
		t.Errorf("serve takes %d of the %d settings", len(allSettings), len(settings))
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCmd(t.Context(), []string{"version"}, nil)
	if code != exitOK || !strings.HasPrefix(stdout, "clavis "+version+"\n") || !strings.Contains(stdout, "go: go1.") {
		t.Errorf("version = %d %q %q", code, stdout, stderr)
	}
}

func TestLogFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		format string
		json   bool
	}{
		{"auto", true}, // a buffer is not a terminal
		{"json", true},
		{"text", false},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			cfg := defaultConfig()
			cfg.LogFormat, cfg.LogLevel = tt.format, "warn"
			log := newLogger(cfg, &buf)
			log.Info("hidden")
			log.Warn("shown")
			out := buf.String()
			if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
				t.Errorf("level warn logged %q", out)
			}
			if got := strings.HasPrefix(out, "{"); got != tt.json {
				t.Errorf("format %s wrote %q", tt.format, out)
			}
		})
	}
}
