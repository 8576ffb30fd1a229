package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClusterOAuthDev runs the cluster's OAuth workload on two nodes
// sharing one PostgreSQL schema, one NATS server and one public URL
// (node a's), kills node b in the middle and starts it again, stops
// NATS for a while, then checks the OAuth invariants and probes how fast
// a deactivation and a revocation reach both nodes, as soon as NATS is
// back and at rest.
func TestClusterOAuthDev(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startNATS(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_DEV_LOGIN=true"}
	a := startServe(t, "a", env...) // its public URL is its own address
	a.env = append(a.env, "CLAVIS_PUBLIC_URL=http://"+a.addr)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false", "CLAVIS_PUBLIC_URL=http://"+a.addr)...)
	c := &devCluster{nodes: []*serveProc{a, b}, up: []bool{true, true}}

	slug := uniqueSlug("oauth")
	a.do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "OAuth"}, http.StatusCreated)
	l := setupOAuth(t, c, slug)
	began := time.Now()
	l.start(4)
	t.Cleanup(l.halt)

	time.Sleep(4 * time.Second)
	c.setAlive(1, false)
	b.kill()
	killed := time.Now()
	time.Sleep(2 * time.Second)
	restarting := time.Now()
	b.start()
	c.setAlive(1, true)
	back := time.Now()
	time.Sleep(4 * time.Second)

	// NATS down for 2 s under load, then the probe as soon as it is back.
	ns.stop()
	natsDown := time.Now()
	time.Sleep(2 * time.Second)
	ns.start()
	natsBack := time.Now()
	afterNATS := l.probe(t, 0)
	probed := time.Now()
	time.Sleep(4 * time.Second)
	l.halt()
	ended := time.Now()

	outs := l.outcomes()
	t.Logf("node b killed %s after the start, down %s, ready again %s after its restart began",
		killed.Sub(began).Round(time.Millisecond), back.Sub(killed).Round(time.Millisecond), back.Sub(restarting).Round(time.Millisecond))
	for _, w := range []struct {
		name     string
		from, to time.Time
	}{{"before the kill", began, killed}, {"node b down", killed, back}, {"after its restart", back, natsDown},
		{"NATS down", natsDown, natsBack}, {"NATS back, during the probe", natsBack, probed}, {"after the probe", probed, ended},
		{"whole run", began, ended}} {
		t.Logf("%s (%s):\n%s", w.name, w.to.Sub(w.from).Round(time.Millisecond), summarize(outs, w.from, w.to))
	}
	l.check(t)
	if t.Failed() {
		for _, n := range c.nodes {
			for _, line := range strings.Split(n.logs.String(), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
					t.Logf("node %s: %.500s", n.name, line)
				}
			}
		}
	}

	t.Logf("deactivation and revocation through node a, as soon as NATS was back: refused at node a after %s, at node b after %s", afterNATS[0], afterNATS[1])
	for _, via := range []int{1, 0} {
		took := l.probe(t, via)
		t.Logf("deactivation and revocation through node %d, at rest: refused at node a after %s, at node b after %s", via, took[0], took[1])
		for i, d := range append(took, afterNATS...) {
			if d < 0 {
				t.Errorf("node %d was down during a probe", i%2)
			}
		}
	}
}

// devCluster is the nodes of TestClusterOAuthDev and which of them run.
type devCluster struct {
	nodes []*serveProc
	mu    sync.Mutex
	up    []bool
}

func (c *devCluster) size() int               { return len(c.nodes) }
func (c *devCluster) node(i int) *serveProc   { return c.nodes[i] }
func (c *devCluster) setAlive(i int, up bool) { c.mu.Lock(); c.up[i] = up; c.mu.Unlock() }

func (c *devCluster) alive(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.up[i]
}
