package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
)

// Helpers of the end-to-end tests: requests that may fail (a node being
// killed), the NATS streams as a subscriber sees them, and the event
// store as the nodes wrote it.

// e2eHTTP bounds every request of the fault tests: a node killed in the
// middle of one must not hang the test.
var e2eHTTP = &http.Client{Timeout: 20 * time.Second}

// try sends a request with the root token and returns the answer, or the
// transport error; unlike call it never fails the test, so goroutines and
// requests to a node being killed use it. hdr is pairs of header names
// and values.
func (n *serveProc) try(method, path string, body any, hdr ...string) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+n.addr+path, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e2eHTTP.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, resp.Header, data, err
	}
	return resp.StatusCode, resp.Header, data, nil
}

// do is try for the test goroutine: a transport error fails the test, and
// so does an answer other than want. It returns the decoded body (nil
// when empty) and the headers.
func (n *serveProc) do(method, path string, body any, want int, hdr ...string) (map[string]any, http.Header) {
	n.t.Helper()
	code, h, data, err := n.try(method, path, body, hdr...)
	if err != nil {
		n.t.Fatalf("%s %s at %s: %v", method, path, n.name, err)
	}
	if code != want {
		n.t.Fatalf("%s %s at %s = %d %s, want %d", method, path, n.name, code, data, want)
	}
	var out map[string]any
	if len(data) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			n.t.Fatalf("%s %s at %s: %d %s: %v", method, path, n.name, code, data, err)
		}
	}
	return out, h
}

// listClients returns every client of tenant slug as the node's read
// model lists them (following the cursor), by client_id.
func (n *serveProc) listClients(slug string) []map[string]any {
	n.t.Helper()
	var all []map[string]any
	after := ""
	for {
		path := "/t/" + slug + "/admin/clients?limit=500"
		if after != "" {
			path += "&after=" + after
		}
		page, _ := n.do(http.MethodGet, path, nil, http.StatusOK)
		for _, c := range page["clients"].([]any) {
			all = append(all, c.(map[string]any))
		}
		next, _ := page["next_cursor"].(string)
		if next == "" {
			return all
		}
		after = next
	}
}

// listVersions is listClients as client_id → version.
func (n *serveProc) listVersions(slug string) map[string]int64 {
	n.t.Helper()
	out := map[string]int64{}
	for _, c := range n.listClients(slug) {
		out[c["client_id"].(string)] = int64(c["version"].(float64))
	}
	return out
}

// uniquePrefix is a NATS subject prefix no other test run uses.
func uniquePrefix() string { return fmt.Sprintf("e2e%016x", rand.Uint64()) }

// sharedNATSURL is the machine's NATS server that tests share; each test
// uses it under its own prefix only.
const sharedNATSURL = "nats://127.0.0.1:4222"

// natsConnect connects the test to a NATS server, closed on cleanup.
func natsConnect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(5*time.Second), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to NATS at %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// deleteOnCleanup removes every stream and key-value bucket of names
// (streams {PREFIX}_*, buckets KV_{PREFIX}_*, whichever the nodes made)
// from the shared server when the test ends (after the nodes stopped:
// cleanups run last registered first, so register it before starting
// them).
func deleteOnCleanup(t *testing.T, js jetstream.JetStream, names subject.Names) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		upper := strings.TrimSuffix(names.InternalStream(), "_INTERNAL")
		list := js.StreamNames(ctx)
		var ours []string
		for s := range list.Name() {
			if strings.HasPrefix(s, upper+"_") || strings.HasPrefix(s, "KV_"+upper+"_") {
				ours = append(ours, s)
			}
		}
		if err := list.Err(); err != nil {
			t.Logf("list streams: %v", err)
		}
		for _, s := range ours {
			if err := js.DeleteStream(ctx, s); err != nil && !strings.Contains(err.Error(), "not found") {
				t.Logf("delete stream %s: %v", s, err)
			}
		}
	})
}

func mustNames(t *testing.T, prefix string) subject.Names {
	t.Helper()
	n, err := subject.NewNames(prefix)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// streamMsgs returns every message stream holds, in sequence order.
func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	out := make([]*jetstream.RawStreamMsg, 0, info.State.Msgs)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("%s message %d: %v", stream, seq, err)
		}
		out = append(out, m)
	}
	return out
}

// streamCount is how many messages stream holds (0 while it does not
// exist or NATS is unreachable).
func streamCount(ctx context.Context, js jetstream.JetStream, stream string) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

// publicEventCount is how many events the public stream holds: its
// messages but the audit checkpoints the relay publishes between them.
func publicEventCount(ctx context.Context, js jetstream.JetStream, names subject.Names) uint64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, names.PublicStream())
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(names.PublicFilter()))
	if err != nil {
		return 0
	}
	var n uint64
	for subj, count := range info.State.Subjects {
		if !strings.HasSuffix(subj, checkpointSubject) {
			n += count
		}
	}
	return n
}

// checkpointSubject ends the subjects of audit checkpoints.
const checkpointSubject = ".audit.checkpoint"

// withoutCheckpoints returns the public stream's messages but the audit
// checkpoints, after checking those: each once, a CloudEvent of its
// type, carrying the position of the message before it, so that the
// relay resumes after it as after that event.
func withoutCheckpoints(t *testing.T, public []*jetstream.RawStreamMsg) []*jetstream.RawStreamMsg {
	t.Helper()
	var events []*jetstream.RawStreamMsg
	seen := map[string]bool{}
	before := eventstore.Position{}.String()
	for _, m := range public {
		pos := m.Header.Get(message.HeaderPosition)
		if !strings.HasSuffix(m.Subject, checkpointSubject) {
			events = append(events, m)
			before = pos
			continue
		}
		var ce struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(m.Data, &ce); err != nil || ce.Type != message.TypePrefix+"audit.checkpoint" || seen[ce.ID] {
			t.Fatalf("public message %d is not a checkpoint published once (%v): %s", m.Sequence, err, m.Data)
		}
		seen[ce.ID] = true
		if pos != before {
			t.Fatalf("checkpoint %s (message %d) carries position %q, the message before it %q", ce.ID, m.Sequence, pos, before)
		}
	}
	return events
}

// waitRelayed waits until both streams of names hold want events, and
// fails at once if either holds more.
func waitRelayed(t *testing.T, js jetstream.JetStream, names subject.Names, want int) time.Duration {
	t.Helper()
	return poll.Until(t, 45*time.Second, fmt.Sprintf("both streams holding the store's %d events", want), func() bool {
		in, pub := streamCount(t.Context(), js, names.InternalStream()), publicEventCount(t.Context(), js, names)
		if in > uint64(want) || pub > uint64(want) {
			t.Fatalf("the streams hold %d (internal) and %d (public) messages for %d stored events: duplicates", in, pub, want)
		}
		return in == uint64(want) && pub == uint64(want)
	})
}

// openPostgres opens the event store the nodes use, without migrating,
// closed on cleanup.
func openPostgres(t *testing.T, url string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), url, postgres.WithMigrate(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readAll returns every event of the store in its global order.
func readAll(t *testing.T, s eventstore.Store) []eventstore.Event {
	t.Helper()
	var all []eventstore.Event
	var after eventstore.Position
	for {
		page, err := s.ReadAll(t.Context(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all
		}
		after = page[len(page)-1].Position
	}
}

// checkRelayed checks that the internal and public streams hold exactly
// the store's events (the public one with audit checkpoints between
// them): the same ids, streams, versions, types and
// positions, in store order, each once; that the internal messages carry
// the event's data byte for byte; and that no public message carries
// secret material — neither a hash, nor a plaintext secret (secrets are
// the ones the API handed out).
func checkRelayed(t *testing.T, events []eventstore.Event, names subject.Names, internal, public []*jetstream.RawStreamMsg, secrets []string) {
	t.Helper()
	public = withoutCheckpoints(t, public)
	if len(internal) != len(events) || len(public) != len(events) {
		t.Fatalf("the store holds %d events, the internal stream %d messages, the public one %d", len(events), len(internal), len(public))
	}
	seenIn, seenPub := map[string]int{}, map[string]int{}
	for i, e := range events {
		m := internal[i]
		got, err := message.DecodeInternal(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		if err != nil {
			t.Fatalf("internal message %d: %v", m.Sequence, err)
		}
		if j, dup := seenIn[got.ID]; dup {
			t.Fatalf("event %s is in the internal stream twice: messages %d and %d", got.ID, j, m.Sequence)
		}
		seenIn[got.ID] = int(m.Sequence)
		if got.ID != e.ID || got.Stream != e.Stream || got.Version != e.Version || got.Type != e.Type || got.Position != e.Position {
			t.Fatalf("internal message %d (#%d) is %s %s v%d %s at %s; the store's event #%d is %s %s v%d %s at %s",
				m.Sequence, i, got.ID, got.Stream, got.Version, got.Type, got.Position, i, e.ID, e.Stream, e.Version, e.Type, e.Position)
		}
		if h := m.Header.Get(message.HeaderPosition); h != e.Position.String() {
			t.Fatalf("internal message %d has %s %q, want %q", m.Sequence, message.HeaderPosition, h, e.Position)
		}
		if !bytes.Equal(got.Data, e.Data) {
			t.Fatalf("internal message %d carries data %s, the store %s", m.Sequence, got.Data, e.Data)
		}
		if want := names.InternalSubject(e.Stream.Tenant, e.Type); m.Subject != want {
			t.Fatalf("internal message %d on %q, want %q", m.Sequence, m.Subject, want)
		}

		p := public[i]
		var ce struct {
			SpecVersion string `json:"specversion"`
			ID          string `json:"id"`
			Type        string `json:"type"`
			Source      string `json:"source"`
			Subject     string `json:"subject"`
			Version     string `json:"clavisversion"`
			Position    string `json:"clavisposition"`
			Tenant      string `json:"clavistenant"`
		}
		if err := json.Unmarshal(p.Data, &ce); err != nil {
			t.Fatalf("public message %d is not JSON: %v: %s", p.Sequence, err, p.Data)
		}
		if j, dup := seenPub[ce.ID]; dup {
			t.Fatalf("event %s is in the public stream twice: messages %d and %d", ce.ID, j, p.Sequence)
		}
		seenPub[ce.ID] = int(p.Sequence)
		if ce.SpecVersion != "1.0" || ce.ID != e.ID || ce.Type != message.TypePrefix+e.Type || ce.Source != "/t/"+e.Stream.Tenant ||
			ce.Tenant != e.Stream.Tenant || ce.Version != fmt.Sprint(e.Version) || ce.Position != e.Position.String() ||
			!strings.HasSuffix(ce.Subject, "/"+e.Stream.ID) {
			t.Fatalf("public message %d (#%d) = %s; the store's event is %s %s %s v%d at %s", p.Sequence, i, p.Data, e.ID, e.Type, e.Stream, e.Version, e.Position)
		}
		if want := names.PublicSubject(e.Stream.Tenant, e.Type); p.Subject != want {
			t.Fatalf("public message %d on %q, want %q", p.Sequence, p.Subject, want)
		}
		if h := p.Header.Get(message.HeaderPosition); h != e.Position.String() {
			t.Fatalf("public message %d has %s %q, want %q", p.Sequence, message.HeaderPosition, h, e.Position)
		}
		body := string(p.Data)
		for _, bad := range []string{`"hash"`, "sha256$", "cls_", "sealed_private_key"} {
			if strings.Contains(body, bad) {
				t.Fatalf("public message %d carries secret material (%q): %s", p.Sequence, bad, body)
			}
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Fatalf("public message %d carries a client secret: %s", p.Sequence, body)
			}
		}
	}
}

// storeVersions is every live client stream's version (deleted clients
// left out) of tenant slug, as the store has it.
func storeVersions(events []eventstore.Event, slug string) map[string]int64 {
	out := map[string]int64{}
	deleted := map[string]bool{}
	for _, e := range events {
		if e.Stream.Tenant != slug || e.Stream.Type != "client" {
			continue
		}
		out[e.Stream.ID] = e.Version
		if e.Type == "client.deleted" {
			deleted[e.Stream.ID] = true
		}
	}
	for id := range deleted {
		delete(out, id)
	}
	return out
}

// sameVersions reports the differences between two client_id → version
// maps, or "" when they are equal.
func sameVersions(got, want map[string]int64) string {
	var diff []string
	for id, v := range want {
		if g, ok := got[id]; !ok {
			diff = append(diff, fmt.Sprintf("%s missing (store v%d)", id, v))
		} else if g != v {
			diff = append(diff, fmt.Sprintf("%s at v%d, store v%d", id, g, v))
		}
	}
	for id, g := range got {
		if _, ok := want[id]; !ok {
			diff = append(diff, fmt.Sprintf("%s (v%d) is not live in the store", id, g))
		}
	}
	sort.Strings(diff)
	return strings.Join(diff, "; ")
}

// waitReadModel waits until the client list of tenant slug at node n
// shows exactly the clients and versions of want, and fails with the
// differences if it does not within 15 s.
func waitReadModel(t *testing.T, n *serveProc, slug string, want map[string]int64) {
	t.Helper()
	poll.UntilNil(t, 15*time.Second, func() error {
		if d := sameVersions(n.listVersions(slug), want); d != "" {
			return fmt.Errorf("the read model of node %s does not match the store: %s", n.name, d)
		}
		return nil
	})
}

// quantiles returns the median and the maximum of ds.
func quantiles(ds []time.Duration) (p50, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[len(s)-1]
}

// workload sends creates and updates of clients of one tenant from a few
// goroutines, at about rate requests per second in all, each to whichever
// node pick returns. Each goroutine updates only the clients it created,
// so no two requests race for one client. It records what the nodes
// acknowledged, and whether a read right after each acknowledged write,
// at the same node, saw it (read-your-writes).
type workload struct {
	slug    string
	label   string
	rate    int
	workers int
	pick    func(i int) *serveProc
	stop    chan struct{}
	done    sync.WaitGroup

	mu       sync.Mutex
	acked    []ackedWrite // every 2xx answer, in order
	failures []string     // every other outcome
	secrets  []string
	stale    int // acknowledged writes the next read at the same node did not show
}

// ackedWrite is a write a node answered 2xx: the client and the version
// the answer showed, and the client_name it set.
type ackedWrite struct {
	ClientID string
	Version  int64
	Name     string
	At       time.Time     // when the answer came
	Took     time.Duration // how long the request took
	Node     string
	Stale    bool // a GET at the same node right after did not show it
}

func startLoad(t *testing.T, label, slug string, rate, workers int, pick func(i int) *serveProc) *workload {
	l := &workload{slug: slug, label: label, rate: rate, workers: workers, pick: pick, stop: make(chan struct{})}
	for w := range workers {
		l.done.Go(func() { l.run(w) })
	}
	t.Cleanup(l.halt)
	return l
}

func (l *workload) run(worker int) {
	tick := time.NewTicker(time.Second * time.Duration(l.workers) / time.Duration(l.rate))
	defer tick.Stop()
	var mine []string // clients this worker created
	for i := worker; ; i += l.workers {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		n := l.pick(i)
		var (
			code int
			data []byte
			err  error
			name string
			path string
		)
		start := time.Now()
		if len(mine) == 0 || i%3 == 0 {
			name = fmt.Sprintf("%s create %d", l.label, i)
			path = "/t/" + l.slug + "/admin/clients"
			body := newClientBody(fmt.Sprintf("urn:%s/c%d", l.slug, i))
			body["client_name"] = name
			code, _, data, err = n.try(http.MethodPost, path, body)
		} else {
			name = fmt.Sprintf("%s update %d", l.label, i)
			path = "/t/" + l.slug + "/admin/clients/" + mine[rand.IntN(len(mine))]
			code, _, data, err = n.try(http.MethodPatch, path, map[string]any{"client_name": name})
		}
		took := time.Since(start)
		var c struct {
			ClientID     string `json:"client_id"`
			Version      int64  `json:"version"`
			ClientSecret string `json:"client_secret"`
		}
		if err == nil && code/100 == 2 {
			if jerr := json.Unmarshal(data, &c); jerr != nil || c.ClientID == "" {
				err = fmt.Errorf("answer %s: %v", data, jerr)
			}
		}
		if err != nil || code/100 != 2 {
			l.mu.Lock()
			if err != nil {
				l.failures = append(l.failures, fmt.Sprintf("%s at %s: %v", path, n.name, err))
			} else {
				l.failures = append(l.failures, fmt.Sprintf("%s at %s: %d %s", path, n.name, code, data))
			}
			l.mu.Unlock()
			continue
		}
		w := ackedWrite{ClientID: c.ClientID, Version: c.Version, Name: name, At: time.Now(), Took: took, Node: n.name}
		// Read your write, at the node that acknowledged it.
		if gc, _, gd, gerr := n.try(http.MethodGet, "/t/"+l.slug+"/admin/clients/"+c.ClientID, nil); gerr == nil {
			var g struct {
				Version int64 `json:"version"`
			}
			w.Stale = gc != http.StatusOK || json.Unmarshal(gd, &g) != nil || g.Version < c.Version
		}
		if c.Version == 1 {
			mine = append(mine, c.ClientID)
		}
		l.mu.Lock()
		l.acked = append(l.acked, w)
		if w.Stale {
			l.stale++
		}
		if c.ClientSecret != "" {
			l.secrets = append(l.secrets, c.ClientSecret)
		}
		l.mu.Unlock()
	}
}

// halt stops the workload and waits for its last requests.
func (l *workload) halt() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.done.Wait()
}

// ackedCount is how many writes were acknowledged so far.
func (l *workload) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// failureCount is how many requests failed so far.
func (l *workload) failureCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.failures)
}

// snapshot returns copies of what the workload recorded.
func (l *workload) snapshot() (acked []ackedWrite, failures []string, secrets []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked), slices.Clone(l.failures), slices.Clone(l.secrets)
}
