package auditlog_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// event is a stored tenant event; tenant events need no client setup.
func event(i int) eventstore.Event {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
	data := fmt.Sprintf(`{"name":"Acme %d","at":%q}`, i, at.Format(time.RFC3339Nano))
	typ := "tenant.renamed"
	if i == 0 {
		typ = "tenant.created"
		data = fmt.Sprintf(`{"slug":"acme","name":"Acme","at":%q}`, at.Format(time.RFC3339Nano))
	}
	return eventstore.Event{
		ID:      fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Stream:  eventstore.StreamID{Tenant: "acme", Type: "tenant", ID: "acme"},
		Version: int64(i + 1), Type: typ, Schema: 1,
		Data: json.RawMessage(data),
		Meta: eventstore.Metadata{Actor: "root", CorrelationID: "c", OccurredAt: at, Reason: "r",
			Source: "203.0.113.7", UserAgent: "curl/8"},
		Position:   eventstore.Position{Commit: uint64(i + 1), Seq: int64(i + 1)},
		RecordedAt: at.Add(time.Millisecond),
	}
}

func entries(t testing.TB, n int) []auditlog.Entry {
	t.Helper()
	out := make([]auditlog.Entry, n)
	for i := range out {
		e, err := auditlog.NewEntry(int64(i), event(i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

func TestLeafCommitsToEveryField(t *testing.T) {
	base := entries(t, 1)[0]
	want := base.LeafHash()
	mutations := map[string]func(e *auditlog.Entry){
		"id":          func(e *auditlog.Entry) { e.ID = "x" },
		"tenant":      func(e *auditlog.Entry) { e.Stream.Tenant = "globex" },
		"stream type": func(e *auditlog.Entry) { e.Stream.Type = "client" },
		"stream id":   func(e *auditlog.Entry) { e.Stream.ID = "x" },
		"version":     func(e *auditlog.Entry) { e.Version++ },
		"type":        func(e *auditlog.Entry) { e.Type = "tenant.renamed" },
		"schema":      func(e *auditlog.Entry) { e.Schema++ },
		"occurred":    func(e *auditlog.Entry) { e.Meta.OccurredAt = e.Meta.OccurredAt.Add(time.Microsecond) },
		"recorded":    func(e *auditlog.Entry) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		"actor":       func(e *auditlog.Entry) { e.Meta.Actor = "mallory" },
		"correlation": func(e *auditlog.Entry) { e.Meta.CorrelationID = "x" },
		"causation":   func(e *auditlog.Entry) { e.Meta.CausationID = "x" },
		"trace":       func(e *auditlog.Entry) { e.Meta.TraceParent = "x" },
		"reason":      func(e *auditlog.Entry) { e.Meta.Reason = "x" },
		"source":      func(e *auditlog.Entry) { e.Meta.Source = "x" },
		"user agent":  func(e *auditlog.Entry) { e.Meta.UserAgent = "x" },
		"data":        func(e *auditlog.Entry) { e.Data = json.RawMessage(`{}`) },
		"digest":      func(e *auditlog.Entry) { e.DataDigest[0] ^= 1 },
		"field shift": func(e *auditlog.Entry) { e.Stream.Tenant, e.Stream.Type = "acmet", "enant" },
	}
	for name, mutate := range mutations {
		e := base
		mutate(&e)
		if e.LeafHash() == want {
			t.Errorf("changing the %s does not change the leaf hash", name)
		}
	}
	// Index and Position are the log's and the store's, not the event's.
	e := base
	e.Index, e.Position = 7, eventstore.Position{Commit: 9, Seq: 9}
	if e.LeafHash() != want {
		t.Error("the leaf hash depends on the index or the position")
	}
}

// TestLeafEncodingIsStable pins one leaf hash: a change to the encoding,
// or to how an event is redacted for history, would make every logged
// leaf unverifiable, and must come with a new leaf format instead.
func TestLeafEncodingIsStable(t *testing.T) {
	got := entries(t, 1)[0].LeafHash().String()
	const want = "a82sXYVY76fqoH1TQrz9p4p6R8RYD+iGYUktnBg+7L4="
	if got != want {
		t.Fatalf("leaf hash of the pinned event = %s, want %s", got, want)
	}
}

func TestCheckpointRoundTrip(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.com/t/acme/audit")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	c := auditlog.Checkpoint{Origin: "example.com/t/acme/audit", Size: 42, Root: tlog.RecordHash([]byte("x"))}
	signed, err := auditlog.Sign(c, s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(signed), c.Text()+"\n— example.com/t/acme/audit ") {
		t.Errorf("signed checkpoint is not a note of the checkpoint text:\n%s", signed)
	}
	got, err := auditlog.Open(signed, vkey)
	if err != nil || !got.Equal(c) {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, c)
	}
	if got, err := auditlog.Open(append(append([]byte(nil), signed...), "\n\r\n"...), vkey); err != nil || !got.Equal(c) {
		t.Errorf("a checkpoint saved with more line ends: %+v, %v", got, err)
	}
	_, other, _ := note.GenerateKey(rand.Reader, "example.com/t/acme/audit")
	if _, err := auditlog.Open(signed, other); err == nil {
		t.Error("a checkpoint opened with another key of the same name")
	}
	tampered := bytes.Replace(signed, []byte("\n42\n"), []byte("\n43\n"), 1)
	if _, err := auditlog.Open(tampered, vkey); err == nil {
		t.Error("a checkpoint with a changed size still verifies")
	}
	if _, err := auditlog.Sign(auditlog.Checkpoint{Origin: "another/log", Size: 1}, s); err == nil {
		t.Error("a key signed a checkpoint of another log")
	}
	for _, bad := range []string{"", "o\n1\n", "o\n01\nAAAA\n", "o\n-1\n" + c.Text()[len("example.com/t/acme/audit\n42\n"):], "\n1\nx\n"} {
		if _, err := auditlog.ParseCheckpoint(bad); err == nil {
			t.Errorf("ParseCheckpoint(%q) succeeded", bad)
		}
	}
}
