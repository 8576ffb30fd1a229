package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
)

// The cluster test: the topology of deploy/ on this machine (PostgreSQL,
// three clustered NATS servers, three nodes behind a round-robin proxy)
// under load while its parts are killed, paused and restarted, checked
// afterwards for anything lost. `make test` runs the short schedule;
// `make cluster-test` the long one (-cluster.long), three times.

var (
	clusterLong   = flag.Bool("cluster.long", false, "run the cluster test's long schedule: every fault, alone and combined")
	clusterReport = flag.String("cluster.report", "", "append the cluster test's figures to this file")
)

// clusterFault is one fault: inject breaks something and returns what
// heals it; the harness holds the fault for hold.
type clusterFault struct {
	name   string
	hold   time.Duration
	pg     bool // PostgreSQL is down: writes may fail, with 503
	hung   bool // a NATS server hangs (see bound)
	inject func(t *testing.T, c *cluster) (heal func(), down []int)
}

// faultWindow is what happened around one fault.
type faultWindow struct {
	name                     string
	start, healed, recovered time.Time
	down                     []int // nodes killed
	pg                       bool
	propagation              []time.Duration
	note                     string
}

func killNodeFault(name string, which func(t *testing.T, c *cluster) int) clusterFault {
	return clusterFault{name: name, hold: 4 * time.Second, inject: func(t *testing.T, c *cluster) (func(), []int) {
		i := which(t, c)
		c.killNode(i)
		return func() { c.restartNode(i) }, []int{i}
	}}
}

// notHolder is a live node that does not hold the relay's lease.
func notHolder(t *testing.T, c *cluster) int {
	h := c.relayHolder()
	for i := range c.size() {
		if i != h && c.alive(i) {
			return i
		}
	}
	t.Fatal("no live node without the relay lease")
	return -1
}

func holder(t *testing.T, c *cluster) int {
	var h int
	poll.Until(t, 30*time.Second, "a node holding the relay lease", func() bool { h = c.relayHolder(); return h >= 0 })
	return h
}

// streamLeader is the server leading the internal stream (the relay's
// publishes), follower another.
func streamLeader(t *testing.T, c *cluster) int {
	var l int
	names := mustNames(t, subject.DefaultPrefix)
	poll.Until(t, 30*time.Second, "a leader of the internal stream", func() bool { l = c.nats.leader(c.js, names.InternalStream()); return l >= 0 })
	return l
}

func natsKillFault(name string, follower bool) clusterFault {
	return clusterFault{name: name, hold: 4 * time.Second, inject: func(t *testing.T, c *cluster) (func(), []int) {
		i := streamLeader(t, c)
		if follower {
			i = (i + 1) % len(c.nats.servers)
		}
		s := c.nats.servers[i]
		s.kill()
		return s.start, nil
	}}
}

func natsPauseFault() clusterFault {
	return clusterFault{name: "NATS stream leader paused (SIGSTOP)", hold: 12 * time.Second, hung: true, inject: func(t *testing.T, c *cluster) (func(), []int) {
		i := streamLeader(t, c)
		s := c.nats.servers[i]
		s.pause()
		return func() {
			// Long enough to lose leadership: another server leads now.
			if l := c.nats.leaderSeenBy(t, (i+1)%len(c.nats.servers), mustNames(t, subject.DefaultPrefix).InternalStream()); l == i || l < 0 {
				t.Errorf("the paused server %s still leads the internal stream (or none does: %d) after %s", s.name, l, 12*time.Second)
			}
			s.resume()
		}, nil
	}}
}

func pgRestartFault() clusterFault {
	return clusterFault{name: "PostgreSQL restarted", hold: 3 * time.Second, pg: true, inject: func(t *testing.T, c *cluster) (func(), []int) {
		c.pg.Stop()
		return c.pg.Restart, nil
	}}
}

func pgCrashFault() clusterFault {
	return clusterFault{name: "PostgreSQL killed (SIGKILL) and restarted", hold: 3 * time.Second, pg: true, inject: func(t *testing.T, c *cluster) (func(), []int) {
		c.pg.Kill()
		return c.pg.Restart, nil
	}}
}

// both injects a and b at once and heals both.
func both(a, b clusterFault) clusterFault {
	return clusterFault{name: a.name + " + " + b.name, hold: max(a.hold, b.hold), pg: a.pg || b.pg, hung: a.hung || b.hung, inject: func(t *testing.T, c *cluster) (func(), []int) {
		ha, da := a.inject(t, c)
		hb, db := b.inject(t, c)
		return func() { hb(); ha() }, append(da, db...)
	}}
}

func clusterSchedule(long bool) (steady time.Duration, faults []clusterFault) {
	killNode := killNodeFault("Clavis node killed (SIGKILL)", notHolder)
	killHolder := killNodeFault("relay lease holder killed (SIGKILL)", holder)
	natsLeader := natsKillFault("NATS stream leader killed (SIGKILL)", false)
	natsFollower := natsKillFault("NATS follower killed (SIGKILL)", true)
	if !long {
		return 4 * time.Second, []clusterFault{killHolder, natsLeader, pgRestartFault()}
	}
	return 8 * time.Second, []clusterFault{
		killNode, killHolder, natsLeader, natsFollower, natsPauseFault(), pgRestartFault(), pgCrashFault(),
		both(killNode, natsFollower), both(pgRestartFault(), natsPauseFault()),
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a cluster of processes")
	}
	began := time.Now()
	c := startCluster(t)
	t.Cleanup(func() {
		if t.Failed() {
			c.logProblems(t)
		}
	})
	names := mustNames(t, subject.DefaultPrefix)
	slug := uniqueSlug("cluster")
	tn, _ := c.node(0).do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Cluster"}, http.StatusCreated)
	secrets := []string{tn["admin_client"].(map[string]any)["client_secret"].(string)}
	follow := followPublic(t, c.nats.url("events", c.nats.eventsPassword), names)

	oauth := setupOAuth(t, c, slug)
	admin := startAdminLoad(t, c, slug, 3, c.pick)
	oauth.start(4)
	// The load's first seconds open the nodes' buckets, which all three
	// create or update at once; the checks of "no failure outside a
	// fault" start once every kind of request has succeeded.
	poll.Until(t, 60*time.Second, "the OAuth load's first refreshed code flow", func() bool {
		for _, o := range oauth.outcomes() {
			if o.OK && o.Kind == kindRefresh {
				return true
			}
		}
		return false
	})
	steady, faults := clusterSchedule(*clusterLong)
	started := time.Now()
	var windows []faultWindow
	for _, f := range faults {
		time.Sleep(steady)
		w := faultWindow{name: f.name, pg: f.pg, start: time.Now()}
		heal, down := f.inject(t, c)
		w.down = down
		// A client deactivated and a token revoked during the fault
		// (acknowledged once the store is back).
		during, probed := make(chan []time.Duration, 1), time.Now()
		go func() {
			var d []time.Duration
			defer func() { during <- d }()
			d = oauth.probe(t, c.pick())
		}()
		time.Sleep(f.hold)
		heal()
		w.healed = time.Now()
		c.waitHealed(t)
		w.recovered = time.Now()
		// Each node must refuse them within the bound once the fault has
		// healed: measured from their acknowledgement, or from the
		// healing when that came later.
		for i, d := range <-during {
			if late := d - max(0, w.healed.Sub(probed)); d >= 0 && late > f.bound() {
				t.Errorf("%s: node %d refused a client deactivated (and a token revoked) during the fault %s after the fault healed, beyond the bound of %s", f.name, i+1, late.Round(time.Millisecond), f.bound())
			}
		}
		w.propagation = oauth.probe(t, c.pick())
		for i, d := range w.propagation {
			if d > f.bound() {
				t.Errorf("%s: node %d refused a client deactivated (and a token revoked) after the fault healed only %s after the deactivation, beyond the bound of %s", f.name, i+1, d.Round(time.Millisecond), f.bound())
			}
		}
		windows = append(windows, w)
		t.Logf("%s: healed %s after it began, recovered %s later; deactivation and revocation on every node within %v",
			w.name, w.healed.Sub(w.start).Round(time.Millisecond), w.recovered.Sub(w.healed).Round(time.Millisecond), w.propagation)
	}
	time.Sleep(steady)
	admin.halt()
	oauth.halt()
	ended := time.Now()

	// Invariants.
	store := openPostgres(t, c.pg.URL())
	events := readAll(t, store)
	ops, stale := admin.snapshot()
	checkAdminOps(t, events, ops)
	failures := checkAdminFailures(t, ops, windows)
	waitRelayed(t, c.js, names, len(events))
	checkRelayed(t, events, names, streamMsgs(t, c.js, names.InternalStream()), streamMsgs(t, c.js, names.PublicStream()), append(secrets, admin.secrets()...))
	delivered, late := follow.check(t, events)
	want := storeVersions(events, slug)
	for _, n := range c.nodes {
		waitReadModel(t, n, slug, want)
	}
	checkAuditLog(t, c.node(0), events, slug)
	oauth.check(t)
	outs := oauth.outcomes()
	checkOAuthFailures(t, outs, windows, started)
	tokensPerSecond := c.tokenThroughput(t, slug, 5*time.Second)
	rebuilt := c.checkRebuild(t, slug)

	var report strings.Builder
	acked := 0
	for _, o := range ops {
		if o.ok() {
			acked++
		}
	}
	schedule := "short"
	if *clusterLong {
		schedule = "long"
	}
	fmt.Fprintf(&report, "cluster run (%s schedule) of %s, load for %s: %d faults; %d admin writes acknowledged, all in the store; %d failed (%s); %d not visible to a GET at the same node right after\n",
		schedule, time.Since(began).Round(time.Second), ended.Sub(started).Round(time.Second), len(windows), acked, len(ops)-acked, failures, stale)
	fmt.Fprintf(&report, "events: %d stored, each once on both streams in store order; the downstream consumer received all %d (%d deliveries, %d first delivered after a later one: redeliveries), in store order by stream sequence; read model equal on 3 nodes and to a rebuild (%d reads compared)\n",
		len(events), len(events), delivered, late, rebuilt)
	fmt.Fprintf(&report, "OAuth over the whole run: %s\n", summarize(outs, started, ended))
	for _, w := range windows {
		fmt.Fprintf(&report, "- %s: down %s, recovered %s after healing; OAuth during it: %s; deactivation/revocation reached every node in %v\n",
			w.name, w.healed.Sub(w.start).Round(time.Millisecond), w.recovered.Sub(w.healed).Round(time.Millisecond),
			summarize(outs, w.start, w.recovered), w.propagation)
	}
	fmt.Fprintf(&report, "client_credentials across three nodes: %.0f tokens/s\n", tokensPerSecond)
	t.Log("\n" + report.String())
	if *clusterReport != "" {
		err := os.MkdirAll(filepath.Dir(*clusterReport), 0o755)
		var f *os.File
		if err == nil {
			f, err = os.OpenFile(*clusterReport, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		}
		if err == nil {
			_, err = f.WriteString(report.String() + "\n")
			f.Close()
		}
		if err != nil {
			t.Error(err)
		}
	}
	if stale > 0 {
		t.Errorf("%d acknowledged writes were not visible to a GET at the same node right after", stale)
	}
}

// logProblems logs what each node logged at warning level or above, and
// what it said of its NATS connection and its watch of the revocations
// (every server error, and the last 30 of the other lines, leaving out
// the expected answers of an outage), to tell why a run failed.
func (c *cluster) logProblems(t *testing.T) {
	for i, n := range c.nodes {
		var lines, serverErrors []string
		for line := range strings.Lines(n.logs.String()) {
			switch {
			case strings.Contains(line, `"error":"server_error"`) || strings.Contains(line, `"status":500`):
				serverErrors = append(serverErrors, strings.TrimSpace(line))
			case (strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"msg":"revocations:`) ||
				strings.Contains(line, `"msg":"NATS`)) && !strings.Contains(line, "temporarily_unavailable") && !strings.Contains(line, "store unavailable"):
				lines = append(lines, strings.TrimSpace(line))
			}
		}
		t.Logf("node %d: %d server errors:\n%s", i+1, len(serverErrors), strings.Join(serverErrors, "\n"))
		t.Logf("node %d: %d other warnings and errors; the last:\n%s", i+1, len(lines), strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
}

// waitHealed waits until every node is ready and every replica of both
// event streams is current.
func (c *cluster) waitHealed(t *testing.T) {
	t.Helper()
	names := mustNames(t, subject.DefaultPrefix)
	poll.UntilNil(t, 90*time.Second, func() error {
		// Every stream: the event streams and the key-value buckets.
		streams := []string{names.InternalStream(), names.PublicStream()}
		lister := c.js.StreamNames(t.Context())
		for s := range lister.Name() {
			if !slices.Contains(streams, s) {
				streams = append(streams, s)
			}
		}
		if err := lister.Err(); err != nil {
			return err
		}
		for _, s := range streams {
			if !c.nats.current(c.js, s) {
				return fmt.Errorf("stream %s has a replica that is not current", s)
			}
		}
		for i, n := range c.nodes {
			resp, err := http.Get("http://" + n.addr + "/readyz")
			if err != nil {
				return fmt.Errorf("node %d: %v", i+1, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("node %d is not ready: %d", i+1, resp.StatusCode)
			}
		}
		return nil
	})
}

// checkAdminFailures checks every admin write that failed: a write to a
// node being killed may fail any way; one during a PostgreSQL restart
// must answer 503 with Retry-After; no other write may fail. It returns
// the failures counted by kind.
func checkAdminFailures(t *testing.T, ops []adminOp, windows []faultWindow) string {
	t.Helper()
	kinds := map[string]int{}
	bad := 0
	for _, o := range ops {
		if o.ok() {
			continue
		}
		in := windowOf(windows, o.Sent, o.Done)
		switch {
		case in != nil && slices.Contains(in.down, o.Node):
			kinds["node killed"]++
		case in != nil && in.pg && o.Status == http.StatusServiceUnavailable && validRetryAfter(o.RetryAfter):
			kinds["503 with Retry-After during the PostgreSQL restart"]++
		default:
			if bad++; bad <= 10 {
				t.Errorf("the %s of %q at node %d (sent %s, in fault %v) failed: %d %s (Retry-After %q)",
					o.Op, o.ClientID, o.Node+1, o.Sent.Format(time.TimeOnly), in != nil, o.Status, o.Err, o.RetryAfter)
			}
			kinds["unexpected"]++
		}
	}
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// windowOf returns the last fault window a request sent at sent and
// answered at done overlaps, or nil.
func windowOf(windows []faultWindow, sent, done time.Time) *faultWindow {
	var in *faultWindow
	for i := range windows {
		if w := &windows[i]; done.After(w.start) && sent.Before(w.recovered) {
			in = w
		}
	}
	return in
}

// propagationBound is how soon after a deactivation and a revocation are
// acknowledged (or after a fault heals) every node refuses the client and
// the token: docs/oauth.md states two seconds for a deactivation, one for
// a revocation.
const propagationBound = 2 * time.Second

// bound is the propagation bound around fault f: a node connected to a
// NATS server that hangs learns of revocations once it has left that
// server (within hungServerBound) and watches them again.
func (f clusterFault) bound() time.Duration {
	if f.hung {
		return hungServerBound + propagationBound
	}
	return propagationBound
}

// checkOAuthFailures checks the OAuth requests that failed at nodes that
// were up: none outside a fault (and the recovery after it), none with a
// server error, and no client_credentials request while a NATS server or
// a node was down (it needs neither NATS nor the other nodes).
func checkOAuthFailures(t *testing.T, outs []oauthOutcome, windows []faultWindow, started time.Time) {
	t.Helper()
	bad := 0
	fail := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, o := range outs {
		if o.OK || o.NodeDown {
			continue
		}
		in := windowOf(windows, o.Sent, o.Done)
		switch {
		case o.Status == http.StatusInternalServerError || strings.Contains(o.Err, "server_error"):
			fail("a %s request at node %d (sent %s) failed with a server error: %d %s", o.Kind, o.Node+1, o.Sent.Format(time.TimeOnly), o.Status, o.Err)
		case in == nil && o.Sent.After(started):
			fail("a %s request at node %d (sent %s) failed with no fault under way: %d %s", o.Kind, o.Node+1, o.Sent.Format(time.TimeOnly), o.Status, o.Err)
		case o.Kind == kindClientCredentials && !in.pg:
			fail("a client_credentials request at node %d (sent %s, during %q) failed: %d %s", o.Node+1, o.Sent.Format(time.TimeOnly), in.name, o.Status, o.Err)
		}
	}
	if bad > 10 {
		t.Errorf("… %d OAuth failures in all that should not be", bad)
	}
}

func validRetryAfter(v string) bool {
	n, err := strconv.Atoi(v)
	return err == nil && n >= 1
}

// tokenThroughput registers an m2m client and sends client_credentials
// requests from 24 workers to the three nodes in turn for d, and returns
// the tokens per second issued.
func (c *cluster) tokenThroughput(t *testing.T, slug string, d time.Duration) float64 {
	t.Helper()
	body := newClientBody("urn:" + slug + "/throughput")
	cl, _ := c.node(0).do(http.MethodPost, "/t/"+slug+"/admin/clients", body, http.StatusCreated)
	id, secret := cl["client_id"].(string), cl["client_secret"].(string)
	// The client must be known to every node before the clock starts.
	for i := range c.size() {
		poll.Until(t, 10*time.Second, "the new client at every node", func() bool {
			return issueToken(http.DefaultClient, c.node(i).addr, slug, id, secret) == nil
		})
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	begin := time.Now()
	for w := range 24 {
		wg.Go(func() {
			for i := w; time.Now().Before(end); i++ {
				if issueToken(hc, c.node(i%c.size()).addr, slug, id, secret) == nil {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(begin)
	if failed.Load() > 0 {
		t.Errorf("%d of %d token requests failed with every node up", failed.Load(), failed.Load()+ok.Load())
	}
	return float64(ok.Load()) / took.Seconds()
}

func issueToken(hc *http.Client, addr, slug, id, secret string) error {
	resp, err := hc.Do(clientCredentials(addr, slug, id, secret))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, data)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		return fmt.Errorf("no access token in %s", data)
	}
	return nil
}

// checkRebuild compares what every node answers for the read model with
// what one node answers after `clavis projections rebuild` replayed the
// store into it, and returns how many reads it compared.
func (c *cluster) checkRebuild(t *testing.T, slug string) int {
	t.Helper()
	before := readModelJSON(t, c.node(0), slug)
	for i := 1; i < c.size(); i++ {
		other := readModelJSON(t, c.node(i), slug)
		for path, b := range before {
			if !bytes.Equal(b, other[path]) {
				t.Errorf("GET %s differs between node 1 and node %d:\n%s\n%s", path, i+1, b, other[path])
			}
		}
	}
	for _, n := range c.nodes {
		n.stop()
	}
	cmd := exec.Command(clavisBinary(t), "projections", "rebuild")
	cmd.Env = append(os.Environ(), c.node(0).env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clavis projections rebuild: %v\n%s", err, out)
	}
	c.node(0).start()
	after := readModelJSON(t, c.node(0), slug)
	for path, b := range before {
		if !bytes.Equal(b, after[path]) {
			t.Errorf("GET %s changed after the rebuild:\nbefore: %s\nafter:  %s", path, b, after[path])
		}
	}
	if len(after) != len(before) {
		t.Errorf("the rebuilt read model answers %d reads, the live one %d", len(after), len(before))
	}
	return len(before)
}
