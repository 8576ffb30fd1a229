package natsserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/mod/sumdb/note"
)

// The code of docs/events.md's guide "Following events over NATS": each
// piece between "// guide:begin NAME" and "// guide:end NAME" is shown
// there, byte for byte, after a line "<!-- guide: NAME -->"
// (TestEventsGuideShowsTheTestedCode), and TestFollowingEventsGuide runs
// it against a node.

// guide:begin connect
// connect connects as the service's NATS user. A user confined to one
// tenant takes its replies on an inbox prefix of its own, the only
// subjects it may subscribe to.
func connect(url, user, password, inboxPrefix string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(url, nats.UserInfo(user, password), nats.CustomInboxPrefix(inboxPrefix))
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// guide:end connect

// guide:begin follow
// follow creates the durable consumer acme-orders on Acme's events, or
// finds it again after a restart: the server keeps its place (what was
// acknowledged), so the service goes on where it left off.
func follow(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	return js.CreateOrUpdateConsumer(ctx, "CLAVIS_EVENTS", jetstream.ConsumerConfig{
		Durable:       "acme-orders",
		FilterSubject: "clavis.events.acme.>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		// One event at a time: the next one comes once this one is
		// acknowledged, so an event that comes again is never overtaken.
		MaxAckPending: 1,
		// An event not acknowledged within AckWait (the service died
		// before it could) comes again.
		AckWait: 10 * time.Second,
	})
}

// guide:end follow

// guide:begin pull
// event is what the service reads of a message: its CloudEvent, and
// where the message is in the stream.
type event struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Source  string          `json:"source"`
	Subject string          `json:"subject"`
	Time    time.Time       `json:"time"`
	Data    json.RawMessage `json:"data"`
	// Seq is the message's stream sequence, Stored when it reached the
	// stream: where to replay from.
	Seq    uint64    `json:"-"`
	Stored time.Time `json:"-"`
}

// pull fetches up to batch events (waiting at most two seconds for
// them), hands each to apply in stream order and acknowledges it once
// apply has succeeded. It stops at the first error: that event comes
// again after AckWait.
func pull(ctx context.Context, c jetstream.Consumer, batch int, apply func(event) error) error {
	msgs, err := c.Fetch(batch, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		return err
	}
	for msg := range msgs.Messages() {
		meta, err := msg.Metadata()
		if err != nil {
			return err
		}
		e := event{Seq: meta.Sequence.Stream, Stored: meta.Timestamp}
		if err := json.Unmarshal(msg.Data(), &e); err != nil {
			return err
		}
		if err := apply(e); err != nil {
			return err
		}
		// Acknowledge what apply did even if ctx ends meanwhile; DoubleAck
		// waits for the server's confirmation (5 s at most).
		if err := msg.DoubleAck(context.WithoutCancel(ctx)); err != nil {
			return err
		}
	}
	return msgs.Error()
}

// guide:end pull

// guide:begin once
// once applies each event once: one that comes again (its ack was lost,
// or the service died between applying and acknowledging it, or the
// relay published it twice) is skipped by its id. A real service keeps
// the ids in the same database transaction as the changes apply makes.
func once(seen map[string]bool, apply func(event) error) func(event) error {
	return func(e event) error {
		if seen[e.ID] {
			return nil
		}
		if err := apply(e); err != nil {
			return err
		}
		seen[e.ID] = true
		return nil
	}
}

// guide:end once

// guide:begin run
// run is the service's loop: it follows acme-orders until ctx ends.
// After a restart it runs again, on a new connection, and goes on from
// the first event not acknowledged.
func run(ctx context.Context, js jetstream.JetStream, apply func(event) error) error {
	c, err := follow(ctx, js)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		if err := pull(ctx, c, 100, apply); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// guide:end run

// guide:begin replay
// replay reads Acme's events again, with a consumer of its own, from the
// stream sequence seq or, when seq is 0, from the first message that
// reached the stream at or after since. The server deletes the consumer
// an hour after its last use; js.DeleteConsumer does it at once.
func replay(ctx context.Context, js jetstream.JetStream, seq uint64, since time.Time) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{
		Name:              "acme-replay",
		FilterSubject:     "clavis.events.acme.>",
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       seq,
		AckPolicy:         jetstream.AckExplicitPolicy,
		MaxAckPending:     1,
		InactiveThreshold: time.Hour,
	}
	if seq == 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, 0, &since
	}
	return js.CreateConsumer(ctx, "CLAVIS_EVENTS", cfg)
}

// guide:end replay

// guide:begin checkpoint
// checkpoint checks an audit checkpoint (type dev.clavis.audit.checkpoint)
// with the tenant's verifier keys, from GET /t/acme/audit/key (one a
// line), and returns its size: the tenant's first size events are in the
// audit log it signed.
func checkpoint(e event, verifierKeys []string) (int64, error) {
	var data struct {
		Size int64  `json:"size"`
		Note string `json:"note"`
	}
	if err := json.Unmarshal(e.Data, &data); err != nil {
		return 0, err
	}
	var verifiers []note.Verifier
	for _, k := range verifierKeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return 0, err
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open([]byte(data.Note), note.VerifierList(verifiers...))
	if err != nil {
		return 0, err
	}
	// The signed text is the checkpoint: origin, size, root hash, a line each.
	if lines := strings.Split(n.Text, "\n"); len(lines) < 3 || lines[1] != strconv.FormatInt(data.Size, 10) {
		return 0, fmt.Errorf("checkpoint %s: its note does not sign size %d", e.ID, data.Size)
	}
	return data.Size, nil
}

// guide:end checkpoint

// TestFollowingEventsGuide runs the guide's code as Acme's service
// acme-orders of deploy/nats/tenant-events.conf, against a node that
// writes Acme's and Beta's events: the service applies Acme's events in
// store order, and only those; dies between applying an event and
// acknowledging it; restarts on a new connection with the same durable
// consumer, which hands it the rest, the unacknowledged event first
// (skipped by its id), and the events written while it was down; checks
// the audit checkpoints between them; and replays from a stream sequence
// and from a time.
func TestFollowingEventsGuide(t *testing.T) {
	p := startPipeline(t, false)
	ctx := t.Context()
	acmeAdmin := p.createTenant(t, "acme")
	betaAdmin := p.createTenant(t, "beta")
	p.addSecret(t, "acme", acmeAdmin)
	p.addSecret(t, "beta", betaAdmin)
	p.addSecret(t, "acme", acmeAdmin)
	if n := len(p.storeIDs(t, "acme")); n < 5 {
		t.Fatalf("acme has %d events; the test needs 5", n)
	}
	user, password := "acme-orders", p.passwords["acme-orders"]

	var (
		seen    = map[string]bool{} // the service's memory of what it applied
		applied []event             // what it applied, in order
		handed  []string            // the ids pull handed it, again and again
	)
	service := func(dies func(event)) func(event) error {
		apply := once(seen, func(e event) error {
			if e.Source != "/t/acme" {
				t.Errorf("acme-orders received %s of %s", e.ID, e.Source)
			}
			applied = append(applied, e)
			dies(e)
			return nil
		})
		return func(e event) error {
			handed = append(handed, e.ID)
			return apply(e)
		}
	}

	// The first run applies the fourth event and dies before
	// acknowledging it.
	nc, js, err := connect(p.url, user, password, "_INBOX_acme")
	if err != nil {
		t.Fatal(err)
	}
	err = run(ctx, js, service(func(event) {
		if len(applied) == 4 {
			nc.Close()
		}
	}))
	if !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("the first run ended with %v, want the connection closed", err)
	}
	fourth := applied[3]

	// While it is down, both tenants change.
	p.addSecret(t, "beta", betaAdmin)
	p.addSecret(t, "acme", acmeAdmin)
	p.addSecret(t, "acme", acmeAdmin)
	acmeIDs := p.storeIDs(t, "acme")
	keys := strings.Fields(string(p.request(t, http.MethodGet, "/t/acme/audit/key", nil, http.StatusOK)))

	// The restart: a new connection, the same durable consumer. It runs
	// until it has applied every event and the checkpoint of them all.
	nc, js, err = connect(p.url, user, password, "_INBOX_acme")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx2, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	signed := int64(0)
	err = run(ctx2, js, service(func(e event) {
		if e.Type != "dev.clavis.audit.checkpoint" {
			return
		}
		events := len(applied) - 1 - countCheckpoints(applied[:len(applied)-1])
		size, err := checkpoint(e, keys)
		if err != nil {
			t.Errorf("checkpoint %s: %v", e.ID, err)
		}
		if size > int64(events) {
			t.Errorf("checkpoint %s of size %d comes after %d events", e.ID, size, events)
		}
		if signed = size; size == int64(len(acmeIDs)) {
			cancel()
		}
	}))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the second run ended with %v; it applied %d events of %d, the last checkpoint of size %d", err, len(applied)-countCheckpoints(applied), len(acmeIDs), signed)
	}

	var ids []string
	for i, e := range applied {
		if e.Type != "dev.clavis.audit.checkpoint" {
			ids = append(ids, e.ID)
		}
		if i > 0 && e.Seq <= applied[i-1].Seq {
			t.Errorf("applied sequence %d after %d", e.Seq, applied[i-1].Seq)
		}
	}
	if !slices.Equal(ids, acmeIDs) {
		t.Errorf("the service applied\n%v\nwant Acme's events in store order\n%v", ids, acmeIDs)
	}
	// Every event was handed once, but the fourth, which came again after
	// the restart (and was skipped).
	for _, e := range applied {
		want := 1
		if e.ID == fourth.ID {
			want = 2
		}
		if n := count(handed, e.ID); n != want {
			t.Errorf("%s was handed to the service %d times, want %d", e.ID, n, want)
		}
	}
	c, err := js.Consumer(ctx, "CLAVIS_EVENTS", "acme-orders")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := c.Info(ctx); err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
		t.Errorf("acme-orders after the run: %+v, %v; want nothing pending", info, err)
	}

	// Replays: from the third message's sequence, then from the time it
	// reached the stream.
	from := applied[2]
	wantSeq := idsOf(applied[2:])
	if got := replayed(t, js, from.Seq, time.Time{}, len(wantSeq)); !slices.Equal(got, wantSeq) {
		t.Errorf("replay from sequence %d gave\n%v\nwant\n%v", from.Seq, got, wantSeq)
	}
	if err := js.DeleteConsumer(ctx, "CLAVIS_EVENTS", "acme-replay"); err != nil {
		t.Fatal(err)
	}
	first := slices.IndexFunc(applied, func(e event) bool { return !e.Stored.Before(from.Stored) })
	wantTime := idsOf(applied[first:])
	if got := replayed(t, js, 0, from.Stored, len(wantTime)); !slices.Equal(got, wantTime) {
		t.Errorf("replay from %s gave\n%v\nwant\n%v", from.Stored.Format(time.RFC3339Nano), got, wantTime)
	}
}

// replayed reads want messages with the guide's replay, and one fetch
// more to see that nothing follows.
func replayed(t *testing.T, js jetstream.JetStream, seq uint64, since time.Time, want int) []string {
	t.Helper()
	c, err := replay(t.Context(), js, seq, since)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	var got []string
	collect := func(e event) error {
		got = append(got, e.ID)
		return nil
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		if err := pull(t.Context(), c, 100, collect); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	if err := pull(t.Context(), c, 100, collect); err != nil {
		t.Fatalf("replay: %v", err)
	}
	return got
}

func countCheckpoints(events []event) int {
	n := 0
	for _, e := range events {
		if e.Type == "dev.clavis.audit.checkpoint" {
			n++
		}
	}
	return n
}

func idsOf(events []event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

func count(ids []string, id string) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// codeMarker finds a piece of the guide's code in this file, docMarker
// a code block of docs/events.md.
var (
	codeMarker = regexp.MustCompile(`(?m)^// guide:begin (\S+)\n((?s:.*?))\n// guide:end (\S+)$`)
	docMarker  = regexp.MustCompile("(?m)^<!-- guide: (\\S+) -->\\n```go\\n((?s:.*?))```$")
)

// TestEventsGuideShowsTheTestedCode checks that every piece of Go code
// in docs/events.md's guide is the code TestFollowingEventsGuide runs,
// byte for byte, and that each piece is shown once.
func TestEventsGuideShowsTheTestedCode(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("guide_test.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	code := map[string]string{}
	var order []string
	for _, m := range codeMarker.FindAllStringSubmatch(string(src), -1) {
		if m[1] != m[3] {
			t.Fatalf("guide:begin %s ends with guide:end %s", m[1], m[3])
		}
		code[m[1]] = strings.TrimSuffix(m[2], "\n") + "\n"
		order = append(order, m[1])
	}
	if len(code) < 7 {
		t.Fatalf("guide_test.go has %d pieces of the guide: %v", len(code), order)
	}
	shown := map[string]int{}
	for _, m := range docMarker.FindAllStringSubmatch(string(doc), -1) {
		shown[m[1]]++
		want, ok := code[m[1]]
		if !ok {
			t.Errorf("docs/events.md shows a piece %q that guide_test.go does not have", m[1])
			continue
		}
		if m[2] != want {
			t.Errorf("docs/events.md's piece %q is not the tested code; it should read:\n%s", m[1], want)
		}
	}
	for _, name := range order {
		if shown[name] != 1 {
			t.Errorf("docs/events.md shows the piece %q %d times, want once", name, shown[name])
		}
	}
}
