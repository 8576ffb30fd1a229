package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
)

// The end-to-end tests run the real binary, built once per test run, as
// separate processes: several nodes on one PostgreSQL and one NATS, nodes
// killed with SIGKILL, NATS stopped and started.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func clavisBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clavis-e2e-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "clavis")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// natsProcess is a NATS server of the machine's own (nats-server on the
// PATH or in /usr/sbin), on a free port with JetStream in a temp dir, so a
// test may stop and start it without touching anyone else's.
type natsProcess struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startNATS(t *testing.T) *natsProcess {
	t.Helper()
	n := &natsProcess{t: t, port: freePort(t), dir: t.TempDir()}
	n.start()
	t.Cleanup(n.stop)
	return n
}

func natsServerPath(t *testing.T) string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Fatal("nats-server is not installed (Debian package nats-server); the end-to-end tests run their own")
	return ""
}

func (n *natsProcess) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsProcess) start() {
	n.t.Helper()
	n.cmd = exec.Command(natsServerPath(n.t), "-a", "127.0.0.1", "-p", fmt.Sprint(n.port), "-js", "-sd", n.dir)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	waitTCP(n.t, fmt.Sprintf("127.0.0.1:%d", n.port))
}

func (n *natsProcess) stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		_ = n.cmd.Wait()
		n.cmd = nil
	}
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	poll.UntilNil(t, 20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return fmt.Errorf("%s does not accept connections: %w", addr, err)
		}
		return c.Close()
	})
}

// serveProc is one `clavis serve` process.
type serveProc struct {
	t     testing.TB
	name  string
	env   []string
	addr  string
	cmd   *exec.Cmd
	logs  *testnode.Logs
	token string
}

const e2eToken = "e2e-root-token-0123456789abcdefghijklmnop"

// e2eMasterKey seals signing keys on every node the tests start.
const e2eMasterKey = "ZTJlLW1hc3Rlci1rZXktMDEyMzQ1Njc4OWFiY2RlZmc"

func startServe(t testing.TB, name string, env ...string) *serveProc {
	t.Helper()
	n := &serveProc{t: t, name: name, addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), token: e2eToken}
	n.env = append([]string{
		"CLAVIS_ADDR=" + n.addr,
		"CLAVIS_DATA_DIR=" + t.TempDir(), // env may name another
		"CLAVIS_ROOT_TOKEN=" + e2eToken,
		"CLAVIS_MASTER_KEY=" + e2eMasterKey, // one for all nodes, as a cluster needs
		"CLAVIS_LOG_FORMAT=json",
		"CLAVIS_NATS_LISTEN=off",
	}, env...)
	n.start()
	t.Cleanup(n.stop)
	return n
}

func (n *serveProc) start() {
	n.t.Helper()
	n.logs = &testnode.Logs{}
	n.cmd = exec.Command(clavisBinary(n.t), "serve")
	n.cmd.Env = append(os.Environ(), n.env...)
	n.cmd.Stdout, n.cmd.Stderr = n.logs, n.logs
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	ready := false
	defer func() {
		if !ready {
			n.t.Logf("serve %s logs:\n%s", n.name, n.logs.String())
		}
	}()
	poll.Until(n.t, 60*time.Second, "serve "+n.name+" becoming ready", func() bool {
		resp, err := http.Get("http://" + n.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	ready = true
}

func (n *serveProc) stop() {
	if n.cmd != nil && n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = n.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = n.cmd.Process.Kill()
			<-done
		}
		n.cmd = nil
	}
}

func (n *serveProc) kill() {
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
	n.cmd = nil
}

// call sends a JSON request with the root token and decodes the answer.
func (n *serveProc) call(method, path string, body any, out any) (int, http.Header) {
	n.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			n.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+n.addr+path, rd)
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s at %s: %v", method, path, n.name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			n.t.Fatalf("%s %s: %d %s: %v", method, path, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode, resp.Header
}

func (n *serveProc) mustCall(method, path string, body any, want int) map[string]any {
	n.t.Helper()
	var out map[string]any
	if code, _ := n.call(method, path, body, &out); code != want {
		n.t.Fatalf("%s %s at %s = %d %v, want %d", method, path, n.name, code, out, want)
	}
	return out
}

func newClientBody(code string) map[string]any {
	return map[string]any{
		"client_name":    "Orders " + code,
		"code":           code,
		"type":           "m2m",
		"grant_types":    []string{"client_credentials"},
		"default_scopes": []string{},
	}
}

func uniqueSlug(prefix string) string {
	return strings.ToLower(fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1e9))
}

func postgresEnv(t *testing.T) string {
	return "CLAVIS_DATABASE_URL=" + pgtest.Schema(t, dbURL)
}

// TestTwoNodesShareOnePostgresAndNATS writes through serveProc A and reads at
// serveProc B, and measures how long B takes to see it.
func TestTwoNodesShareOnePostgresAndNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startNATS(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url()}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)

	slug := uniqueSlug("two")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Two"}, http.StatusCreated)
	var lags []time.Duration
	for i := range 20 {
		created := a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", newClientBody(fmt.Sprintf("urn:%s/c%d", slug, i)), http.StatusCreated)
		id := created["client_id"].(string)
		lags = append(lags, poll.Until(t, 5*time.Second, "client visible at serveProc b", func() bool {
			code, _ := b.call(http.MethodGet, "/t/"+slug+"/admin/clients/"+id, nil, nil)
			return code == http.StatusOK
		}))
	}
	t.Logf("write at A → readable at B: first %s, max %s over %d clients", lags[0], maxDuration(lags), len(lags))
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

var _ = context.Background
