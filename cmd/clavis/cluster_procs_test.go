package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/internal/pgproc"
	"github.com/clavisiam/clavis/internal/poll"
)

// The processes of the cluster test: a PostgreSQL of its own (pgproc, so
// that it may be restarted without disturbing other tests), three nats-server
// processes clustered with deploy/nats/nats-cluster.conf, three `clavis
// serve` nodes, and a round-robin proxy in front of them that is the
// tenants' public URL.

// natsCluster is three nats-server processes, each configured with
// deploy/nats/nats-cluster.conf on loopback ports.
type natsCluster struct {
	t       *testing.T
	bin     string
	servers []*natsServer

	clavisPassword, eventsPassword string
}

type natsServer struct {
	t                 *testing.T
	name              string
	bin, conf         string
	env               []string
	port, clusterPort int

	mu     sync.Mutex
	cmd    *exec.Cmd
	paused bool
}

var (
	natsBuildOnce sync.Once
	natsBin       string
	natsBuildErr  error
)

// natsServerBinary builds the nats-server of go.mod (the version the
// embedded default runs), once per test run.
func natsServerBinary(t *testing.T) string {
	t.Helper()
	natsBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "clavis-nats-server-")
		if err != nil {
			natsBuildErr = err
			return
		}
		natsBin = filepath.Join(dir, "nats-server")
		out, err := exec.Command("go", "build", "-o", natsBin, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsBuildErr = fmt.Errorf("go build nats-server: %v\n%s", err, out)
		}
	})
	if natsBuildErr != nil {
		t.Fatal(natsBuildErr)
	}
	return natsBin
}

// clusterConf returns deploy/nats/nats-cluster.conf with its addresses,
// ports and store directory made loopback and local; every other line,
// the users and their permissions included, is the deployed one. It
// fails if the file no longer has the lines it replaces.
func clusterConf(t *testing.T, port, httpPort, clusterPort int, store string, routes []int) string {
	t.Helper()
	raw, err := os.ReadFile("../../deploy/nats/nats-cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(raw)
	replace := func(old, new string, n int) {
		t.Helper()
		if got := strings.Count(conf, old); got != n {
			t.Fatalf("deploy/nats/nats-cluster.conf holds %q %d times, the cluster test expects %d: update the test with the file", old, got, n)
		}
		conf = strings.ReplaceAll(conf, old, new)
	}
	replace("listen: 0.0.0.0:4222", fmt.Sprintf("listen: 127.0.0.1:%d", port), 1)
	replace("http: 0.0.0.0:8222", fmt.Sprintf("http: 127.0.0.1:%d", httpPort), 1)
	replace("listen: 0.0.0.0:6222", fmt.Sprintf("listen: 127.0.0.1:%d", clusterPort), 1)
	replace("store_dir: /data/jetstream", fmt.Sprintf("store_dir: %q", store), 1)
	for i, r := range routes {
		replace(fmt.Sprintf("nats://nats-%d:6222", i+1), fmt.Sprintf("nats://127.0.0.1:%d", r), 1)
	}
	return conf
}

// startNATSCluster starts three clustered servers and waits until
// JetStream has a meta leader.
func startNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	c := &natsCluster{t: t, bin: natsServerBinary(t), clavisPassword: "clavis-" + uniquePrefix(), eventsPassword: "events-" + uniquePrefix()}
	routes := []int{freePort(t), freePort(t), freePort(t)}
	for i := range 3 {
		dir := t.TempDir()
		s := &natsServer{t: t, name: fmt.Sprintf("n%d", i+1), bin: c.bin, port: freePort(t), clusterPort: routes[i],
			conf: filepath.Join(dir, "nats.conf")}
		conf := clusterConf(t, s.port, freePort(t), s.clusterPort, filepath.Join(dir, "jetstream"), routes)
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.env = []string{"NATS_SERVER_NAME=" + s.name, "CLAVIS_NATS_PASSWORD=" + c.clavisPassword, "CLAVIS_EVENTS_PASSWORD=" + c.eventsPassword}
		c.servers = append(c.servers, s)
		t.Cleanup(s.stop)
	}
	for _, s := range c.servers {
		s.start()
	}
	_, js := natsConnect(t, c.url("clavis", c.clavisPassword))
	t.Cleanup(func() {
		if t.Failed() {
			for _, s := range c.servers {
				log, _ := os.ReadFile(s.conf + ".log")
				lines := strings.Split(strings.TrimSpace(string(log)), "\n")
				t.Logf("nats-server %s, the last of its log:\n%s", s.name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
			}
		}
	})
	poll.UntilNil(t, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := js.AccountInfo(ctx)
		return err
	})
	return c
}

// url lists the three servers with user's credentials.
func (c *natsCluster) url(user, password string) string {
	var urls []string
	for _, s := range c.servers {
		urls = append(urls, fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", user, password, s.port))
	}
	return strings.Join(urls, ",")
}

// leader returns the index of the server leading stream's RAFT group, or
// -1 if none leads now.
func (c *natsCluster) leader(js jetstream.JetStream, stream string) int {
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return -1
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		return -1
	}
	for i, srv := range c.servers {
		if srv.name == info.Cluster.Leader {
			return i
		}
	}
	return -1
}

// leaderSeenBy returns the leader of stream as server via alone sees it,
// connecting to it afresh (the test's own connection may be on a server
// that is paused).
func (c *natsCluster) leaderSeenBy(t *testing.T, via int, stream string) int {
	s := c.servers[via]
	nc, err := nats.Connect(fmt.Sprintf("nats://clavis:%s@127.0.0.1:%d", c.clavisPassword, s.port), nats.Timeout(2*time.Second))
	if err != nil {
		return -1
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return -1
	}
	return c.leader(js, stream)
}

// current reports whether every replica of stream is current (the
// stream has healed after a fault).
func (c *natsCluster) current(js jetstream.JetStream, stream string) bool {
	ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != len(c.servers)-1 {
		return false
	}
	for _, r := range info.Cluster.Replicas {
		if !r.Current || r.Offline {
			return false
		}
	}
	return true
}

func (s *natsServer) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cmd = exec.Command(s.bin, "-c", s.conf, "-l", s.conf+".log")
	s.cmd.Env = append(os.Environ(), s.env...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.paused = false
	waitTCP(s.t, fmt.Sprintf("127.0.0.1:%d", s.port))
}

// kill stops the server with SIGKILL.
func (s *natsServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// pause stops the server with SIGSTOP; resume continues it.
func (s *natsServer) pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && !s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
		s.paused = true
	}
}

func (s *natsServer) resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil && s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
}

func (s *natsServer) stop() {
	s.resume()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-done
		}
		s.cmd = nil
	}
}

// cluster is the whole deployment of the cluster test.
type cluster struct {
	t     *testing.T
	pg    *pgproc.Server
	nats  *natsCluster
	nodes []*serveProc
	proxy *httptest.Server
	js    jetstream.JetStream // as the nodes' user
	nc    *nats.Conn

	mu   sync.Mutex
	down []bool // node i is killed
	next atomic.Uint64
}

// startCluster starts PostgreSQL, the NATS cluster, the proxy and three
// nodes; the schema is migrated once, before the nodes start, as the
// operations guide says.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, pg: pgproc.Start(t), nats: startNATSCluster(t)}
	c.nc, c.js = natsConnect(t, c.nats.url("clavis", c.nats.clavisPassword))
	c.proxy = httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			n := c.nodes[c.pick()]
			r.SetURL(&url.URL{Scheme: "http", Host: n.addr})
			r.Out.Host = r.In.Host // the public URL's host, as a load balancer keeps it
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "proxy: "+err.Error(), http.StatusBadGateway)
		},
	})
	t.Cleanup(c.proxy.Close)
	env := []string{
		"CLAVIS_DATABASE_URL=" + c.pg.URL(),
		"CLAVIS_MIGRATE=false",
		"CLAVIS_NATS_URL=" + c.nats.url("clavis", c.nats.clavisPassword),
		"CLAVIS_NATS_REPLICAS=3",
		"CLAVIS_PUBLIC_URL=" + c.proxy.URL,
		"CLAVIS_DEV_LOGIN=true",
	}
	migrate := exec.Command(clavisBinary(t), "migrate", "up")
	migrate.Env = append(os.Environ(), env...)
	if out, err := migrate.CombinedOutput(); err != nil {
		t.Fatalf("clavis migrate up: %v\n%s", err, out)
	}
	c.down = make([]bool, 3)
	for i := range 3 {
		c.nodes = append(c.nodes, startServe(t, fmt.Sprintf("node%d", i+1), env...))
	}
	return c
}

func (c *cluster) size() int { return len(c.nodes) }

func (c *cluster) node(i int) *serveProc { return c.nodes[i] }

func (c *cluster) alive(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.down[i]
}

// pick returns the next live node in turn, as a load balancer with
// health checks does (or the next node at all if none lives).
func (c *cluster) pick() int {
	for range c.size() {
		i := int(c.next.Add(1) % uint64(c.size()))
		if c.alive(i) {
			return i
		}
	}
	return int(c.next.Load() % uint64(c.size()))
}

// killNode stops node i with SIGKILL; restartNode starts it again.
func (c *cluster) killNode(i int) {
	c.mu.Lock()
	c.down[i] = true
	c.mu.Unlock()
	c.nodes[i].kill()
}

func (c *cluster) restartNode(i int) {
	c.nodes[i].start()
	c.mu.Lock()
	c.down[i] = false
	c.mu.Unlock()
}

// relayHolder returns the live node that took the relay's lease last, or
// -1 if none says it holds it.
func (c *cluster) relayHolder() int {
	holder, at := -1, time.Time{}
	for i, n := range c.nodes {
		if !c.alive(i) {
			continue
		}
		for line := range strings.Lines(n.logs.String()) {
			if t, ok := loggedAt(line, leaseTaken, at); ok {
				holder, at = i, t
			}
		}
	}
	return holder
}
