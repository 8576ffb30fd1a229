package bucket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
)

// revocationTTL is how long a revocation is kept: the longest an access
// token lives (client.MaxAccessTokenLifetime, a day), and a margin.
const revocationTTL = 25 * time.Hour

// Revocations keeps revocations ([oauth.Revocations]) in a key-value
// bucket (key {tenant}.{jti}, or {tenant}.grant.{id} for a grant; value
// the token's, or the grant's last token's, expiry in Unix seconds)
// whose entries expire after revocationTTL, and mirrors it in memory
// through a watch, so that a revocation made at any node applies at
// every node as soon as NATS delivers it. While NATS is away, revoking
// fails (the endpoint answers temporarily_unavailable) and the
// revocations already known still apply; the watch resumes when NATS is
// back. It is safe for concurrent use.
type Revocations struct {
	js       jetstream.JetStream
	bucket   string
	replicas int
	log      *slog.Logger
	now      func() time.Time

	mu      sync.RWMutex
	kv      jetstream.KeyValue // nil until the bucket is open
	revoked map[string]time.Time
	loaded  bool // the entries present when the watch began are in revoked
}

var _ oauth.Revocations = (*Revocations)(nil)

// Loaded reports whether the revocations recorded before this node
// started are known: until then a revoked token could pass, so a node
// is not ready to serve (readiness checks ask this).
func (r *Revocations) Loaded() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.loaded
}

// NewRevocations keeps revocations in bucket, on replicas servers (at
// least one), which it creates if need be, and follows it until ctx
// ends. It waits up to a few seconds for the bucket's current entries,
// then goes on in the background (NATS may be away at start). A nil log
// discards.
func NewRevocations(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, log *slog.Logger) *Revocations {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Revocations{js: js, bucket: bucket, replicas: max(replicas, 1), log: log, now: time.Now, revoked: map[string]time.Time{}}
	loaded := make(chan struct{})
	go r.run(ctx, loaded)
	select {
	case <-loaded:
	case <-time.After(5 * time.Second):
		log.Warn("revocations: NATS not reachable yet; following the bucket in the background")
	case <-ctx.Done():
	}
	return r
}

// run opens the bucket and follows it, again after any failure, until
// ctx ends; it closes loaded once the entries present are read.
//
// A watch's consumer lives on a NATS server, the bucket's stream leader:
// when that server restarts or another one becomes leader, the client
// would notice the consumer gone only after two missed heartbeats (some
// ten seconds), while revocations made meanwhile reach no one. So the
// watch starts again as soon as the connection is back or the stream
// has a new leader (JetStream's advisory), reading the bucket anew
// (which also brings what was revoked while the node was cut off).
func (r *Revocations) run(ctx context.Context, loaded chan struct{}) {
	var once sync.Once
	done := func() {
		once.Do(func() {
			r.mu.Lock()
			r.loaded = true
			r.mu.Unlock()
			close(loaded)
		})
	}
	restart := make(chan string, 1)
	signal := func(why string) {
		select {
		case restart <- why:
		default: // a restart is due already
		}
	}
	nc := r.js.Conn()
	reconnected := nc.StatusChanged(nats.CONNECTED)
	defer nc.RemoveStatusListener(reconnected)
	go func() {
		for range reconnected {
			signal("the NATS connection is back")
		}
	}()
	// Core NATS subscriptions are made again on reconnect by the client.
	sub, err := nc.Subscribe(leaderElected+"KV_"+r.bucket, func(*nats.Msg) { signal("the bucket's stream has a new leader") })
	if err != nil {
		r.log.Warn("revocations: cannot follow the bucket's leader elections", "error", err)
	} else {
		defer func() { _ = sub.Unsubscribe() }()
	}
	// Each revocation is also heard as it is published, from whichever
	// NATS server this node is connected to, with no JetStream consumer:
	// a watch that must start again needs the cluster's metadata leader
	// to create its consumer, and when the server that died led the
	// metadata as well, a new one takes seconds to be elected.
	prefix := "$KV." + r.bucket + "."
	live, err := nc.Subscribe(prefix+">", func(m *nats.Msg) { r.apply(m.Subject, m.Header, m.Data, prefix) })
	if err != nil {
		r.log.Warn("revocations: cannot hear revocations as they are made", "error", err)
	} else {
		defer func() { _ = live.Unsubscribe() }()
	}
	// Right after a restart, JetStream may need a moment (a restarted
	// server recovering its streams, a leader being elected): for
	// restartGrace the watch is tried again every first, so that it
	// starts within that of JetStream being able to serve it.
	const first, restartGrace = 100 * time.Millisecond, 10 * time.Second
	backoff, fastUntil := first, time.Time{}
	for ctx.Err() == nil {
		err := r.follow(ctx, restart, done)
		if ctx.Err() != nil {
			return
		}
		var why restartError
		if errors.As(err, &why) {
			r.log.Info("revocations: watching the bucket again", "reason", string(why))
			backoff, fastUntil = first, time.Now().Add(restartGrace)
			continue
		}
		r.log.Warn("revocations: following the bucket", "error", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		case <-restart:
			backoff, fastUntil = first, time.Now().Add(restartGrace)
			continue
		}
		if time.Now().After(fastUntil) {
			backoff = min(backoff*2, 5*time.Second)
		}
	}
}

// leaderElected starts the subject of JetStream's advisory that a
// stream (named after it) has a new leader.
const leaderElected = "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED."

// restartError ends a watch that must start again, saying why.
type restartError string

func (e restartError) Error() string { return string(e) }

// watchHeartbeat is how often the NATS server serving a node's watch of
// the bucket says it is alive while no revocation comes: two missed
// heartbeats (a server dead or hung, the connection to it lost) make the
// watch start again from where it was, on a server that is alive.
const watchHeartbeat = 500 * time.Millisecond

// follow applies the bucket's entries as they come, until the watch
// ends, ctx ends, or restart says why it must start again (a
// restartError); loaded is called once the entries present when the
// watch began are applied.
//
// The watch is an ordered consumer of the bucket's stream, not the
// key-value watch of nats.go, whose server reports alive every five
// seconds only: when that server died, revocations made meanwhile
// reached the node ten seconds late.
func (r *Revocations) follow(ctx context.Context, restart <-chan string, loaded func()) error {
	kv, err := r.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: r.bucket, TTL: revocationTTL, History: 1, Replicas: r.replicas,
		MaxBytes: DefaultBucketBytes, MaxValueSize: maxSmallEntry,
		Description: "Clavis revoked access tokens",
	})
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", r.bucket, err)
	}
	prefix := "$KV." + r.bucket + "."
	cons, err := r.js.OrderedConsumer(ctx, "KV_"+r.bucket, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{prefix + ">"},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
	})
	if err != nil {
		return fmt.Errorf("watch bucket %s: %w", r.bucket, err)
	}
	msgs, err := cons.Messages(jetstream.PullHeartbeat(watchHeartbeat))
	if err != nil {
		return fmt.Errorf("watch bucket %s: %w", r.bucket, err)
	}
	// Next blocks: ctx and restart stop the iterator, which ends it.
	why := make(chan error, 1)
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case w := <-restart:
			why <- restartError(w)
		case <-stopped:
		}
		msgs.Stop()
	}()
	r.mu.Lock()
	r.kv = kv
	r.mu.Unlock()
	if info := cons.CachedInfo(); info != nil && info.NumPending == 0 {
		loaded()
	}
	for {
		m, err := msgs.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			select {
			case err := <-why:
				return err
			default:
			}
			return fmt.Errorf("watch bucket %s: %w", r.bucket, err)
		}
		r.apply(m.Subject(), m.Headers(), m.Data(), prefix)
		if meta, err := m.Metadata(); err == nil && meta.NumPending == 0 {
			loaded()
		}
	}
}

// apply remembers the revocation an entry of the bucket records (its
// subject is prefix and its key, its data the token's expiry), leaving
// out deletions and purges. A revocation heard as it was published but
// that the bucket then refused (full) is remembered all the same: the
// revoking node answered an error, and the token is refused until it
// expires or the node restarts.
func (r *Revocations) apply(subject string, h nats.Header, data []byte, prefix string) {
	key, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return
	}
	switch h.Get(kvOperation) {
	case "DEL", "PURGE":
		return
	}
	exp, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		r.log.Warn("revocations: unreadable entry", "key", key)
		return
	}
	r.remember(key, time.Unix(exp, 0))
}

// kvOperation is the header by which a key-value bucket's stream marks
// a deletion or a purge.
const kvOperation = "KV-Operation"

func (r *Revocations) remember(key string, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.revoked[key] = until
	if len(r.revoked)%1024 == 0 { // now and then, forget what expired
		now := r.now()
		for k, t := range r.revoked {
			if !now.Before(t) {
				delete(r.revoked, k)
			}
		}
	}
}

func revocationKey(tenant, jti string) string { return tenant + "." + jti }

// Revoke records, on every node, that the token jti of tenant stops
// working before until; it fails while the bucket is not open.
func (r *Revocations) Revoke(ctx context.Context, tenant, jti string, until time.Time) error {
	key := revocationKey(tenant, jti)
	r.mu.RLock()
	kv := r.kv
	r.mu.RUnlock()
	if kv == nil {
		return errors.New("bucket: the revocation bucket is not open yet")
	}
	if _, err := kv.Put(ctx, key, []byte(strconv.FormatInt(until.Unix(), 10))); err != nil {
		return fmt.Errorf("bucket: record revocation: %w", err)
	}
	r.remember(key, until) // this node knows at once, before the watch says so
	return nil
}

// Revoked reports, from memory, whether the token jti of tenant was
// revoked and has not expired since.
func (r *Revocations) Revoked(tenant, jti string) bool {
	r.mu.RLock()
	until, ok := r.revoked[revocationKey(tenant, jti)]
	r.mu.RUnlock()
	return ok && r.now().Before(until)
}
