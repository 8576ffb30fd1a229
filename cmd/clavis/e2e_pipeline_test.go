package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/eventstore/postgres/pgtest"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
)

// TestPipelineEndToEnd drives every client command over HTTP against one
// real node per backend and follows its events all the way: the read
// model answers each change, the internal stream holds exactly the
// store's events in order, and the public stream the same events as
// CloudEvents without any secret.
func TestPipelineEndToEnd(t *testing.T) {
	t.Parallel()

	// The embedded default: SQLite in the data dir and the in-process NATS
	// server, on a port the test picks so that it can subscribe.
	t.Run("sqlite and embedded NATS", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		n := startServe(t, "embedded", "CLAVIS_DATA_DIR="+dataDir, "CLAVIS_NATS_LISTEN="+natsAddr)
		// The test reads the internal stream, which needs the node's own
		// user; without credentials only the public events are served, live.
		password, err := os.ReadFile(filepath.Join(dataDir, node.NATSPasswordFile))
		if err != nil {
			t.Fatal(err)
		}
		_, js := natsConnect(t, "nats://"+natsserver.InternalUser+":"+strings.TrimSpace(string(password))+"@"+natsAddr)
		checkSubscriberRights(t, "nats://"+natsAddr)
		names := mustNames(t, subject.DefaultPrefix)
		w := watchInternal(t, js, names)

		j := runLifecycle(t, n, uniqueSlug("emb"))
		burst(t, n, j, 40)
		internal, public := checkJournal(t, n, js, names, j)
		logLatency(t, "sqlite+embedded", j, w)

		// The store, read once the node has let go of it, is what the
		// streams hold.
		n.stop()
		s, err := sqlite.Open(t.Context(), filepath.Join(dataDir, node.SQLiteFile), sqlite.WithMigrate(false))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		checkRelayed(t, readAll(t, s), names, internal, public, j.secrets)
	})

	// PostgreSQL and the machine's shared NATS server, under a prefix of
	// the test's own.
	t.Run("postgres and shared NATS", func(t *testing.T) {
		t.Parallel()
		url := pgtest.Schema(t, dbURL)
		prefix := uniquePrefix()
		_, js := natsConnect(t, sharedNATSURL)
		names := mustNames(t, prefix)
		deleteOnCleanup(t, js, names)
		n := startServe(t, "pg", "CLAVIS_DATABASE_URL="+url, "CLAVIS_NATS_URL="+sharedNATSURL, "CLAVIS_NATS_PREFIX="+prefix)
		w := watchInternal(t, js, names)

		j := runLifecycle(t, n, uniqueSlug("pg"))
		burst(t, n, j, 40)
		internal, public := checkJournal(t, n, js, names, j)
		logLatency(t, "postgres+shared NATS", j, w)

		checkRelayed(t, readAll(t, openPostgres(t, url)), names, internal, public, j.secrets)
	})
}

// journal is what a workload expects the store to hold: one entry per
// event, in the order the (sequential) commands appended them.
type journal struct {
	slug     string
	want     []wantEvent
	versions map[string]int64 // stream id → version
	streams  []string         // client streams, in order of creation
	secrets  []string         // every plaintext secret the API showed
	writes   []writeTimes     // per write, its last event
}

type wantEvent struct {
	stream  string // the stream's id: the tenant's slug or a client_id
	version int64
	typ     string
}

type writeTimes struct {
	key         string // stream/version of the write's last event
	sent, acked time.Time
}

func (j *journal) expect(stream, typ string) string {
	if _, ok := j.versions[stream]; !ok && stream != j.slug {
		j.streams = append(j.streams, stream)
	}
	j.versions[stream]++
	j.want = append(j.want, wantEvent{stream, j.versions[stream], typ})
	return fmt.Sprintf("%s/%d", stream, j.versions[stream])
}

// wrote records a write that appended the events typs to stream.
func (j *journal) wrote(sent time.Time, stream string, typs ...string) {
	acked := time.Now()
	var key string
	for _, typ := range typs {
		key = j.expect(stream, typ)
	}
	j.writes = append(j.writes, writeTimes{key, sent, acked})
}

// runLifecycle creates a tenant and clients of all three types, changes
// them with every command, and checks after each one that the read model
// (GET, list) shows the change.
func runLifecycle(t *testing.T, n *serveProc, slug string) *journal {
	t.Helper()
	j := &journal{slug: slug, versions: map[string]int64{}}
	base := "/t/" + slug + "/admin/clients"
	secret := func(c map[string]any) string {
		t.Helper()
		s, _ := c["client_secret"].(string)
		if !strings.HasPrefix(s, "cls_") {
			t.Fatalf("client %v has no new secret", c["client_id"])
		}
		j.secrets = append(j.secrets, s)
		return s
	}
	check := func(c map[string]any, field string, want any) {
		t.Helper()
		if fmt.Sprint(c[field]) != fmt.Sprint(want) {
			t.Fatalf("client %v: %s = %v, want %v (%v)", c["client_id"], field, c[field], want, c)
		}
	}
	get := func(id string, version int) map[string]any {
		t.Helper()
		c, h := n.do(http.MethodGet, base+"/"+id, nil, http.StatusOK)
		check(c, "version", version)
		if h.Get("ETag") != fmt.Sprintf(`"%d"`, version) {
			t.Fatalf("GET %s: ETag %q at version %d", id, h.Get("ETag"), version)
		}
		if _, ok := c["client_secret"]; ok {
			t.Fatalf("GET %s shows a secret: %v", id, c)
		}
		return c
	}

	sent := time.Now()
	tn, _ := n.do(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "E2E " + slug}, http.StatusCreated)
	admin := tn["admin_client"].(map[string]any)
	adminID := admin["client_id"].(string)
	secret(admin)
	j.expect(slug, "tenant.created")
	j.expect(slug, "tenant.signing_key_added")
	j.expect(slug, "tenant.audit_key_added")
	j.wrote(sent, adminID, "client.registered")
	got, _ := n.do(http.MethodGet, "/admin/tenants/"+slug, nil, http.StatusOK)
	check(got, "version", 3)
	check(got, "suspended", false)

	// One client of each type.
	sent = time.Now()
	conf, h := n.do(http.MethodPost, base, map[string]any{
		"type": "confidential", "client_name": "Web", "code": "urn:" + slug + "/web",
		"redirect_uris": []string{"https://app.example.com/callback"}, "default_scopes": []string{"openid", "profile"},
	}, http.StatusCreated)
	confID := conf["client_id"].(string)
	j.wrote(sent, confID, "client.registered")
	first := secret(conf)
	check(conf, "type", "confidential")
	check(conf, "version", 1)
	if h.Get("ETag") != `"1"` || h.Get("Location") != base+"/"+confID {
		t.Fatalf("create: ETag %q, Location %q", h.Get("ETag"), h.Get("Location"))
	}

	sent = time.Now()
	pub, _ := n.do(http.MethodPost, base, map[string]any{
		"type": "public", "client_name": "SPA", "code": "urn:" + slug + "/spa",
		"redirect_uris": []string{"https://spa.example.com/cb"}, "allowed_cors_origins": []string{"https://spa.example.com"},
	}, http.StatusCreated)
	pubID := pub["client_id"].(string)
	j.wrote(sent, pubID, "client.registered")
	check(pub, "type", "public")
	check(pub, "token_endpoint_auth_method", "none")
	if _, ok := pub["client_secret"]; ok {
		t.Fatalf("a public client got a secret: %v", pub)
	}

	sent = time.Now()
	m2m, _ := n.do(http.MethodPost, base, newClientBody("urn:"+slug+"/m2m"), http.StatusCreated)
	m2mID := m2m["client_id"].(string)
	j.wrote(sent, m2mID, "client.registered")
	secret(m2m)
	check(m2m, "type", "m2m")

	for _, id := range []string{confID, pubID, m2mID, adminID} {
		get(id, 1)
	}
	if d := sameVersions(n.listVersions(slug), map[string]int64{adminID: 1, confID: 1, pubID: 1, m2mID: 1}); d != "" {
		t.Fatalf("list after the creates: %s", d)
	}

	// PATCH with If-Match; a stale one is refused and appends nothing.
	sent = time.Now()
	p, h := n.do(http.MethodPatch, base+"/"+confID, map[string]any{"client_name": "Web renamed", "description": "the web app"}, http.StatusOK,
		"If-Match", `"1"`, "Content-Type", "application/merge-patch+json")
	j.wrote(sent, confID, "client.updated")
	check(p, "version", 2)
	check(p, "client_name", "Web renamed")
	if h.Get("ETag") != `"2"` {
		t.Fatalf("PATCH: ETag %q", h.Get("ETag"))
	}
	stale, _ := n.do(http.MethodPatch, base+"/"+confID, map[string]any{"client_name": "Lost update"}, http.StatusPreconditionFailed,
		"If-Match", `"1"`, "Content-Type", "application/merge-patch+json")
	check(stale, "status", 412)
	c := get(confID, 2)
	check(c, "client_name", "Web renamed")
	check(c, "description", "the web app")

	// Rotate: a new secret, the old one kept for the overlap.
	sent = time.Now()
	r, _ := n.do(http.MethodPost, base+"/"+confID+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}, http.StatusOK)
	j.wrote(sent, confID, "client.secret_rotated")
	if secret(r) == first {
		t.Fatal("rotation returned the old secret")
	}
	c = get(confID, 3)
	if ss := c["secrets"].([]any); len(ss) != 2 {
		t.Fatalf("after rotation the client has secrets %v, want 2", ss)
	}

	// Clone: a new client with its own secret.
	sent = time.Now()
	cl, _ := n.do(http.MethodPost, base+"/"+confID+"/clone", map[string]any{"client_name": "Web copy", "code": "urn:" + slug + "/web-copy"}, http.StatusCreated)
	cloneID := cl["client_id"].(string)
	j.wrote(sent, cloneID, "client.registered")
	secret(cl)
	check(cl, "cloned_from", confID)
	c = get(cloneID, 1)
	check(c, "cloned_from", confID)
	check(c, "description", "the web app")
	check(c, "code", "urn:"+slug+"/web-copy")

	// Deactivate and activate.
	sent = time.Now()
	d, _ := n.do(http.MethodPost, base+"/"+m2mID+"/deactivate", map[string]any{"reason": "end to end"}, http.StatusOK)
	j.wrote(sent, m2mID, "client.deactivated")
	check(d, "active", false)
	c = get(m2mID, 2)
	check(c, "active", false)
	check(c, "deactivation_reason", "end to end")
	inactive, _ := n.do(http.MethodGet, base+"?active=false", nil, http.StatusOK)
	if cs := inactive["clients"].([]any); len(cs) != 1 || cs[0].(map[string]any)["client_id"] != m2mID {
		t.Fatalf("inactive clients = %v, want only %s", cs, m2mID)
	}
	sent = time.Now()
	a, _ := n.do(http.MethodPost, base+"/"+m2mID+"/activate", nil, http.StatusOK)
	j.wrote(sent, m2mID, "client.activated")
	check(a, "active", true)
	check(get(m2mID, 3), "active", true)

	// Delete: gone from the read model, its history stays.
	sent = time.Now()
	n.do(http.MethodDelete, base+"/"+pubID, nil, http.StatusNoContent)
	j.wrote(sent, pubID, "client.deleted")
	n.do(http.MethodGet, base+"/"+pubID, nil, http.StatusNotFound)

	if d := sameVersions(n.listVersions(slug), map[string]int64{adminID: 1, confID: 3, cloneID: 1, m2mID: 3}); d != "" {
		t.Fatalf("final list: %s", d)
	}
	return j
}

// burst sends count more writes, one after the other, for the latency
// figures: creates, each followed by a PATCH of the new client with
// If-Match.
func burst(t *testing.T, n *serveProc, j *journal, count int) {
	t.Helper()
	base := "/t/" + j.slug + "/admin/clients"
	for i := 0; i < count; i += 2 {
		sent := time.Now()
		c, _ := n.do(http.MethodPost, base, newClientBody(fmt.Sprintf("urn:%s/burst%d", j.slug, i)), http.StatusCreated)
		id := c["client_id"].(string)
		j.wrote(sent, id, "client.registered")
		j.secrets = append(j.secrets, c["client_secret"].(string))
		sent = time.Now()
		p, _ := n.do(http.MethodPatch, base+"/"+id, map[string]any{"client_name": fmt.Sprintf("Burst %d", i)}, http.StatusOK, "If-Match", `"1"`)
		j.wrote(sent, id, "client.updated")
		if p["version"] != 2.0 {
			t.Fatalf("PATCH %s answered version %v, want 2", id, p["version"])
		}
	}
}

// checkJournal waits for the streams to hold the journal's events and
// checks the internal stream against it and against every client's
// history as the API tells it, and the public stream against the
// internal one. It returns both streams' messages.
func checkJournal(t *testing.T, n *serveProc, js jetstream.JetStream, names subject.Names, j *journal) (internal, public []*jetstream.RawStreamMsg) {
	t.Helper()
	waitRelayed(t, js, names, len(j.want))
	internal = streamMsgs(t, js, names.InternalStream())
	public = streamMsgs(t, js, names.PublicStream())
	byStream := map[string][]eventstore.Event{}
	for i, m := range internal {
		e, err := message.DecodeInternal(&nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		if err != nil {
			t.Fatal(err)
		}
		w := j.want[i]
		if e.Stream.Tenant != j.slug || e.Stream.ID != w.stream || e.Version != w.version || e.Type != w.typ {
			t.Fatalf("internal message %d is %s v%d %s, want %s/%s v%d %s", m.Sequence, e.Stream, e.Version, e.Type, j.slug, w.stream, w.version, w.typ)
		}
		if i > 0 && !byPosition(internal[i-1], m) {
			t.Fatalf("internal messages %d and %d are out of store order", m.Sequence-1, m.Sequence)
		}
		byStream[e.Stream.ID] = append(byStream[e.Stream.ID], e)
	}
	// Every client's history, as the admin API shows it, is its part of
	// the stream: same ids, versions and types.
	for _, id := range j.streams {
		h, _ := n.do(http.MethodGet, "/t/"+j.slug+"/admin/clients/"+id+"/history", nil, http.StatusOK)
		var hist, rel []string
		for _, e := range h["events"].([]any) {
			e := e.(map[string]any)
			hist = append(hist, fmt.Sprintf("%v v%v %v", e["id"], e["version"], e["type"]))
		}
		for _, e := range byStream[id] {
			rel = append(rel, fmt.Sprintf("%s v%d %s", e.ID, e.Version, e.Type))
		}
		if !slices.Equal(hist, rel) {
			t.Fatalf("client %s: history %v, internal stream %v", id, hist, rel)
		}
	}
	// The tenant's own stream: created, at the version the API shows.
	tn, _ := n.do(http.MethodGet, "/admin/tenants/"+j.slug, nil, http.StatusOK)
	if ts := byStream[j.slug]; len(ts) != int(tn["version"].(float64)) || ts[0].Type != "tenant.created" {
		t.Fatalf("tenant %s at version %v, its events in the stream: %v", j.slug, tn["version"], ts)
	}
	return internal, public
}

func byPosition(a, b *jetstream.RawStreamMsg) bool {
	pa, err1 := eventstore.ParsePosition(a.Header.Get(message.HeaderPosition))
	pb, err2 := eventstore.ParsePosition(b.Header.Get(message.HeaderPosition))
	return err1 == nil && err2 == nil && pa.Less(pb)
}

// watcher records when each event (stream/version) reached a subscriber
// of the internal stream.
type watcher struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// watchInternal subscribes to the internal stream, from its start, as a
// downstream consumer would, once the node has created it.
func watchInternal(t *testing.T, js jetstream.JetStream, names subject.Names) *watcher {
	t.Helper()
	w := &watcher{seen: map[string]time.Time{}}
	var s jetstream.Stream
	poll.Until(t, 30*time.Second, "the internal stream to exist", func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		var err error
		s, err = js.Stream(ctx, names.InternalStream())
		return err == nil
	})
	cons, err := s.OrderedConsumer(t.Context(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now()
		e, err := message.DecodeInternal(&nats.Msg{Header: m.Headers(), Data: m.Data()})
		if err != nil {
			return
		}
		w.mu.Lock()
		w.seen[fmt.Sprintf("%s/%d", e.Stream.ID, e.Version)] = at
		w.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return w
}

// logLatency logs how long after each write's answer its event reached
// a subscriber of the internal stream. A negative figure means the event
// was there before the answer: the node waits for its read model, which
// the internal stream feeds, before it answers.
func logLatency(t *testing.T, label string, j *journal, w *watcher) {
	t.Helper()
	poll.Until(t, 10*time.Second, "the subscriber to see every write", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, wr := range j.writes {
			if _, ok := w.seen[wr.key]; !ok {
				return false
			}
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	var afterAck, afterSend, roundTrip []time.Duration
	before := 0
	for _, wr := range j.writes {
		at := w.seen[wr.key]
		afterAck = append(afterAck, at.Sub(wr.acked))
		afterSend = append(afterSend, at.Sub(wr.sent))
		roundTrip = append(roundTrip, wr.acked.Sub(wr.sent))
		if at.Before(wr.acked) {
			before++
		}
	}
	p50, maxd := quantiles(afterAck)
	s50, smax := quantiles(afterSend)
	r50, rmax := quantiles(roundTrip)
	t.Logf("%s: write answered → event seen on the internal stream: p50 %s, max %s over %d writes (%d seen before the answer); request sent → seen: p50 %s, max %s; request sent → answered: p50 %s, max %s",
		label, p50, maxd, len(afterAck), before, s50, smax, r50, rmax)
}

// checkSubscriberRights connects to the embedded server without
// credentials, as a downstream subscriber: it may subscribe to the public
// events, but has no JetStream (neither stream may be opened or
// consumed) and publishes to neither.
func checkSubscriberRights(t *testing.T, url string) {
	t.Helper()
	nc, js := natsConnect(t, url)
	names := mustNames(t, subject.DefaultPrefix)
	ctx := t.Context()
	if _, err := nc.SubscribeSync(names.PublicFilter()); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.LastError(); err != nil {
		t.Fatalf("a subscriber cannot subscribe to the public events: %v", err)
	}
	// A refused request gets no answer: give each a short deadline.
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		t.Cleanup(cancel)
		return c
	}
	if _, err := js.Stream(short(), names.PublicStream()); err == nil {
		t.Fatal("a subscriber without credentials can open the public stream")
	}
	if _, err := js.Stream(short(), names.InternalStream()); err == nil {
		t.Fatal("a subscriber without credentials can open the internal stream")
	}
	if _, err := js.OrderedConsumer(short(), names.InternalStream(), jetstream.OrderedConsumerConfig{}); err == nil {
		t.Fatal("a subscriber without credentials can consume the internal stream")
	}
	if _, err := js.Publish(short(), names.InternalSubject("acme", "client.registered"), []byte("{}")); err == nil {
		t.Fatal("a subscriber without credentials can publish to the internal stream")
	}
	_ = nc
}
