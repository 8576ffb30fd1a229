package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
)

// TestNATSOutage stops the NATS server under two nodes while commands
// keep coming, for as long as the nodes take to acknowledge 8 of them:
// every command succeeds, and once NATS is back both streams hold every
// stored event exactly once, in store order, the read model matches the
// store, and the tenant's audit log holds every event once, in order.
func TestNATSOutage(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	url := pgtest.Schema(t, dbURL)
	env := []string{"CLAVIS_DATABASE_URL=" + url, "CLAVIS_NATS_URL=" + ns.url()}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)
	_, js := natsConnect(t, ns.url())
	names := mustNames(t, subject.DefaultPrefix)
	store := openPostgres(t, url)

	slug := uniqueSlug("outage")
	tn, _ := a.do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Outage"}, http.StatusCreated)
	secrets := []string{tn["admin_client"].(map[string]any)["client_secret"].(string)}
	nodes := []*serveProc{a, b}
	l := startLoad(t, "outage", slug, 50, 4, func(i int) *serveProc { return nodes[i%2] })

	poll.Until(t, 20*time.Second, "20 writes before the outage", func() bool { return l.ackedCount() >= 20 })
	ns.stop()
	down := time.Now()
	// The outage lasts until the nodes acknowledged 8 more commands (two
	// per worker).
	before := l.ackedCount()
	poll.Until(t, 20*time.Second, "8 writes while NATS is down", func() bool { return l.ackedCount() >= before+8 })
	ns.start()
	up := time.Now()
	restarted := l.ackedCount()
	poll.Until(t, 30*time.Second, "20 writes after the outage", func() bool { return l.ackedCount() >= restarted+20 })
	l.halt()

	acked, failures, loadSecrets := l.snapshot()
	if len(failures) > 0 {
		t.Errorf("%d of %d commands failed around the NATS outage, want none:\n%s", len(failures), len(failures)+len(acked), strings.Join(failures, "\n"))
	}
	var during []time.Duration
	stale := 0
	for _, w := range acked {
		if sent := w.At.Add(-w.Took); sent.After(down) && sent.Before(up) {
			during = append(during, w.Took)
			if w.Stale {
				stale++
			}
		}
	}
	if len(during) == 0 {
		t.Fatalf("no command sent while NATS was down succeeded")
	}

	events := readAll(t, store)
	checkAcked(t, events, acked)
	waitRelayed(t, js, names, len(events))
	complete := time.Now()
	checkRelayed(t, events, names, streamMsgs(t, js, names.InternalStream()), streamMsgs(t, js, names.PublicStream()), append(secrets, loadSecrets...))
	want := storeVersions(events, slug)
	for _, n := range nodes {
		waitReadModel(t, n, slug, want)
	}
	checkAuditLog(t, b, events, slug)
	p50, maxd := quantiles(during)
	t.Logf("NATS outage of %s: %d commands acknowledged in all, %d sent while NATS was down (latency p50 %s, max %s; %d not visible to a GET at the same node right after); streams complete %s after NATS came back (%d events)",
		up.Sub(down).Round(time.Millisecond), len(acked), len(during), p50, maxd, stale, complete.Sub(up).Round(time.Millisecond), len(events))
	if stale > 0 {
		t.Errorf("%d writes made while NATS was down were not visible to a GET right after: read-your-writes must hold through an outage", stale)
	}
}

// TestSIGKILL kills one of two nodes with SIGKILL while it takes
// commands, restarts it and goes on: every acknowledged write is in the
// store and readable, every stored event is in both streams exactly once
// and in order, each client's read-model version is its stream's
// version, and the tenant's audit log holds every event once, in order.
func TestSIGKILL(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	url := pgtest.Schema(t, dbURL)
	env := []string{"CLAVIS_DATABASE_URL=" + url, "CLAVIS_NATS_URL=" + ns.url()}
	a := startServe(t, "a", env...)
	// A holds the relay's lease before B starts: the kill takes the
	// publishing node down.
	poll.Until(t, 20*time.Second, "node a taking the relay lease", func() bool { return strings.Contains(a.logs.String(), leaseTaken) })
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)
	_, js := natsConnect(t, ns.url())
	names := mustNames(t, subject.DefaultPrefix)
	store := openPostgres(t, url)

	slug := uniqueSlug("kill")
	tn, _ := b.do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Kill"}, http.StatusCreated)
	secrets := []string{tn["admin_client"].(map[string]any)["client_secret"].(string)}
	l := startLoad(t, "kill", slug, 50, 4, func(int) *serveProc { return a })

	poll.Until(t, 20*time.Second, "30 writes before the kill", func() bool { return l.ackedCount() >= 30 })
	a.kill()
	killed := time.Now()
	// The load keeps sending to the dead node: restart it once that has
	// failed at least once.
	poll.Until(t, 10*time.Second, "a request to the killed node failing", func() bool { return l.failureCount() > 0 })
	a.start()
	restarted := time.Now()
	before := l.ackedCount()
	poll.Until(t, 45*time.Second, "30 writes after the restart", func() bool { return l.ackedCount() >= before+30 })
	l.halt()

	acked, failures, loadSecrets := l.snapshot()
	events := readAll(t, store)
	checkAcked(t, events, acked)
	relayed := waitRelayed(t, js, names, len(events))
	checkRelayed(t, events, names, streamMsgs(t, js, names.InternalStream()), streamMsgs(t, js, names.PublicStream()), append(secrets, loadSecrets...))

	// No duplicate effect: each client's read model is at its stream's
	// version, on both nodes, and every acknowledged client is readable.
	want := storeVersions(events, slug)
	for _, n := range []*serveProc{a, b} {
		waitReadModel(t, n, slug, want)
	}
	checkAuditLog(t, a, events, slug)
	for _, w := range acked {
		c, _ := b.do(http.MethodGet, "/t/"+slug+"/admin/clients/"+w.ClientID, nil, http.StatusOK)
		if v := int64(c["version"].(float64)); v < w.Version {
			t.Fatalf("client %s reads at version %d, below the acknowledged %d", w.ClientID, v, w.Version)
		}
	}
	var after []time.Duration
	stale := 0
	for _, w := range acked {
		if w.At.After(restarted) {
			after = append(after, w.Took)
			if w.Stale {
				stale++
			}
		}
	}
	takeover := "not logged"
	if at, ok := loggedAt(b.logs.String()+a.logs.String(), leaseTaken, killed); ok {
		takeover = at.Sub(killed).Round(time.Millisecond).String()
	}
	p50, maxd := quantiles(after)
	for i, f := range failures {
		if i == 3 {
			t.Logf("… and %d more", len(failures)-3)
			break
		}
		t.Logf("failed as expected: %s", f)
	}
	t.Logf("SIGKILL of the relay's leader: %d writes acknowledged, %d failed (node down or killed mid-request); node down for %s; relay lease taken over %s after the kill; "+
		"after the restart, write latency p50 %s, max %s, %d of %d writes not visible to a GET right after; streams complete (%d events) %s after the last write",
		len(acked), len(failures), restarted.Sub(killed).Round(time.Millisecond), takeover, p50, maxd, stale, len(after), len(events), relayed.Round(time.Millisecond))
	if stale > 0 {
		t.Errorf("%d writes after the restart were not visible to a GET right after: read-your-writes must hold while the relay lease changes hands", stale)
	}
}

// checkAcked checks that every acknowledged write is in the store: an
// event of its client at the version the answer showed, setting the name
// the write sent.
func checkAcked(t *testing.T, events []eventstore.Event, acked []ackedWrite) {
	t.Helper()
	at := map[string]eventstore.Event{}
	for _, e := range events {
		at[fmt.Sprintf("%s/%d", e.Stream.ID, e.Version)] = e
	}
	for _, w := range acked {
		e, ok := at[fmt.Sprintf("%s/%d", w.ClientID, w.Version)]
		if !ok {
			t.Fatalf("write %q, acknowledged by %s as client %s version %d, is not in the store", w.Name, w.Node, w.ClientID, w.Version)
		}
		wantType := "client.updated"
		if w.Version == 1 {
			wantType = "client.registered"
		}
		if e.Type != wantType || !strings.Contains(string(e.Data), fmt.Sprintf("%q", w.Name)) {
			t.Fatalf("write %q, acknowledged as client %s version %d, is stored as %s %s", w.Name, w.ClientID, w.Version, e.Type, e.Data)
		}
	}
}

// leaseTaken is what a node logs when its relay starts publishing.
const leaseTaken = "relay: lease taken; publishing"

// loggedAt returns the time of the first JSON log line after since whose
// message is msg.
func loggedAt(logs, msg string, since time.Time) (time.Time, bool) {
	for line := range strings.Lines(logs) {
		var rec struct {
			Time time.Time `json:"time"`
			Msg  string    `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && rec.Time.After(since) {
			return rec.Time, true
		}
	}
	return time.Time{}, false
}
