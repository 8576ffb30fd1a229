package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
)

// The cluster test's tenant administrators and downstream consumer: the
// admin load creates, updates, rotates and deletes clients on every node
// and records each answer; the follower reads the public stream as the
// deployed `events` user does.

// adminOp is one admin write the load sent: what, to which node, and how
// it ended.
type adminOp struct {
	Op         string // create, update, rotate, delete
	ClientID   string // empty for a create that failed
	Name       string // the client_name a create or update set
	Version    int64  // the version the answer showed (0 for a delete)
	Node       int
	Sent, Done time.Time
	Status     int    // 0: no answer
	RetryAfter string // the Retry-After of a failure
	Err        string // the transport error, or the body of a failure
}

func (o adminOp) ok() bool { return o.Status/100 == 2 && o.Err == "" }

type adminLoad struct {
	c     clusterNodes
	slug  string
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	ops   []adminOp
	plain []string // the client secrets the answers showed
	stale int      // acknowledged writes a GET at the same node right after did not show
}

// startAdminLoad runs workers administrators of tenant slug, each on its
// own clients (no two race for one), each request to the next live node.
func startAdminLoad(t *testing.T, c clusterNodes, slug string, workers int, pick func() int) *adminLoad {
	l := &adminLoad{c: c, slug: slug, stop: make(chan struct{})}
	for w := range workers {
		l.done.Go(func() { l.run(w, pick) })
	}
	t.Cleanup(l.halt)
	return l
}

func (l *adminLoad) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.done.Wait()
}

func (l *adminLoad) run(worker int, pick func() int) {
	var mine []string
	rotated := map[string]int{} // a client holds at most 10 secrets
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		case <-time.After(40 * time.Millisecond):
		}
		ni := pick()
		n := l.c.node(ni)
		op := adminOp{Node: ni, Sent: time.Now()}
		var (
			method, path string
			body         any
		)
		base := "/t/" + l.slug + "/admin/clients"
		switch r := rand.IntN(100); {
		case len(mine) < 2 || r < 25:
			op.Op = "create"
			op.Name = fmt.Sprintf("w%d create %d", worker, i)
			b := newClientBody(fmt.Sprintf("urn:%s/w%d-c%d", l.slug, worker, i))
			b["client_name"] = op.Name
			method, path, body = http.MethodPost, base, b
		case r < 65:
			op.Op, op.ClientID = "update", mine[rand.IntN(len(mine))]
			op.Name = fmt.Sprintf("w%d update %d", worker, i)
			method, path, body = http.MethodPatch, base+"/"+op.ClientID, map[string]any{"client_name": op.Name}
		case r < 85 && rotated[mine[len(mine)-1]] < 8:
			op.Op, op.ClientID = "rotate", mine[len(mine)-1]
			rotated[op.ClientID]++
			method, path = http.MethodPost, base+"/"+op.ClientID+"/secrets/rotate"
		default:
			k := rand.IntN(len(mine))
			op.Op, op.ClientID = "delete", mine[k]
			// Whatever the answer, the worker no longer uses it: a
			// delete whose answer was lost may have happened.
			mine = slices.Delete(mine, k, k+1)
			method, path = http.MethodDelete, base+"/"+op.ClientID
		}
		code, hdr, data, err := n.try(method, path, body)
		op.Done, op.Status = time.Now(), code
		if err != nil {
			op.Err = err.Error()
		} else if code/100 != 2 {
			op.Err, op.RetryAfter = string(data), hdr.Get("Retry-After")
		} else if op.Op != "delete" {
			var c struct {
				ClientID     string `json:"client_id"`
				Version      int64  `json:"version"`
				ClientSecret string `json:"client_secret"`
			}
			if jerr := json.Unmarshal(data, &c); jerr != nil || c.ClientID == "" || c.Version == 0 {
				op.Err = fmt.Sprintf("answer %s: %v", data, jerr)
			}
			op.ClientID, op.Version = c.ClientID, c.Version
			if c.ClientSecret != "" {
				l.mu.Lock()
				l.plain = append(l.plain, c.ClientSecret)
				l.mu.Unlock()
			}
		}
		stale := false
		if op.ok() {
			if op.Op == "create" {
				mine = append(mine, op.ClientID)
			}
			stale = !l.readsOwnWrite(n, op)
		}
		l.mu.Lock()
		l.ops = append(l.ops, op)
		if stale {
			l.stale++
		}
		l.mu.Unlock()
	}
}

// readsOwnWrite reports whether a GET at the node that acknowledged op
// shows it (read-your-writes). A GET that fails for the node's own
// reasons (it was killed) does not count against it.
func (l *adminLoad) readsOwnWrite(n *serveProc, op adminOp) bool {
	code, _, data, err := n.try(http.MethodGet, "/t/"+l.slug+"/admin/clients/"+op.ClientID, nil)
	if err != nil || code >= 500 {
		return true
	}
	if op.Op == "delete" {
		return code == http.StatusNotFound
	}
	var g struct {
		Version int64 `json:"version"`
	}
	return code == http.StatusOK && json.Unmarshal(data, &g) == nil && g.Version >= op.Version
}

func (l *adminLoad) snapshot() ([]adminOp, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ops), l.stale
}

// secrets returns the client secrets the answers showed.
func (l *adminLoad) secrets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.plain)
}

// checkAdminOps checks that every acknowledged write is in the store (the
// event of its kind at the version the answer showed, with the name it
// set; a delete as its client's client.deleted).
func checkAdminOps(t *testing.T, events []eventstore.Event, ops []adminOp) {
	t.Helper()
	at := map[string]eventstore.Event{}
	deleted := map[string]bool{}
	for _, e := range events {
		at[fmt.Sprintf("%s/%d", e.Stream.ID, e.Version)] = e
		if e.Type == "client.deleted" {
			deleted[e.Stream.ID] = true
		}
	}
	want := map[string]string{"create": "client.registered", "update": "client.updated", "rotate": "client.secret_rotated"}
	for _, o := range ops {
		if !o.ok() {
			continue
		}
		if o.Op == "delete" {
			if !deleted[o.ClientID] {
				t.Errorf("the delete of %s, acknowledged by node %d, is not in the store", o.ClientID, o.Node+1)
			}
			continue
		}
		e, ok := at[fmt.Sprintf("%s/%d", o.ClientID, o.Version)]
		if !ok {
			t.Errorf("the %s of %s, acknowledged by node %d at version %d, is not in the store", o.Op, o.ClientID, o.Node+1, o.Version)
			continue
		}
		if e.Type != want[o.Op] || (o.Name != "" && !strings.Contains(string(e.Data), strconv.Quote(o.Name))) {
			t.Errorf("the %s %q of %s, acknowledged at version %d, is stored as %s %s", o.Op, o.Name, o.ClientID, o.Version, e.Type, e.Data)
		}
	}
}

// follower reads the public stream as a downstream service does: a
// durable consumer of the deployed `events` user, acknowledging each
// message, through whatever the NATS cluster goes through.
type follower struct {
	cc jetstream.ConsumeContext
	nc *nats.Conn

	mu        sync.Mutex
	ids       []string // event ids in the order first received (checkpoints left out)
	seqs      []uint64 // their stream sequences
	seen      map[string]bool
	delivered int // messages received, redeliveries included
}

func followPublic(t *testing.T, url string, names subject.Names) *follower {
	t.Helper()
	nc, js := natsConnect(t, url)
	f := &follower{nc: nc, seen: map[string]bool{}}
	var cons jetstream.Consumer
	poll.UntilNil(t, 30*time.Second, func() error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(t.Context(), names.PublicStream(), jetstream.ConsumerConfig{
			Durable: "cluster-follower", AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		})
		return err
	})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ce struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		_ = json.Unmarshal(m.Data(), &ce)
		f.mu.Lock()
		f.delivered++
		if !f.seen[ce.ID] {
			f.seen[ce.ID] = true
			if meta, err := m.Metadata(); err == nil && !strings.HasSuffix(ce.Type, ".audit.checkpoint") {
				f.ids = append(f.ids, ce.ID)
				f.seqs = append(f.seqs, meta.Sequence.Stream)
			}
		}
		f.mu.Unlock()
		_ = m.Ack()
	}, jetstream.PullExpiry(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	f.cc = cc
	t.Cleanup(cc.Stop)
	return f
}

func (f *follower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// check waits until the follower has every stored event and checks it
// got each, none missing, none extra, and that in the order of their
// stream sequences they are in store order. A redelivery (a message
// whose acknowledgement a NATS fault lost) comes after messages
// delivered meanwhile: a consumer that needs store order sorts by
// sequence or position. It returns the deliveries and how many events
// first arrived after one with a later sequence.
func (f *follower) check(t *testing.T, events []eventstore.Event) (delivered, late int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for f.count() < len(events) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.ids) < len(events) {
		t.Errorf("the downstream consumer received %d of the %d stored events", len(f.ids), len(events))
	}
	order := make([]int, len(f.ids))
	var newest uint64
	for i := range order {
		order[i] = i
		if f.seqs[i] < newest {
			late++
		}
		newest = max(newest, f.seqs[i])
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(f.seqs[a], f.seqs[b]) })
	for i, e := range events {
		if i >= len(order) {
			break
		}
		if id := f.ids[order[i]]; id != e.ID {
			t.Errorf("the downstream consumer's event #%d, by stream sequence, is %s, the store's %s (%s)", i, id, e.ID, e.Type)
			break
		}
	}
	if len(f.ids) > len(events) {
		t.Errorf("the downstream consumer received %d events, the store holds %d", len(f.ids), len(events))
	}
	return f.delivered, late
}
