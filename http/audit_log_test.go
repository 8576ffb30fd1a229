package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/tenants"
)

// TestAuditLogAnswersMatchOpenAPI reads every route of the audit log
// once it has signed a checkpoint: each answer is what openapi.json
// documents (call checks it), with its media type.
func TestAuditLogAnswersMatchOpenAPI(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	h.call(t, "PATCH", "/t/acme/admin/clients/"+c.ClientID, map[string]any{"client_name": "Web, renamed"}, contentType("application/merge-patch+json")).want(t, 200)
	h.call(t, "POST", "/t/acme/admin/clients/"+c.ClientID+"/secrets/rotate", map[string]any{"overlap_seconds": 60}).want(t, 200)

	// The log takes the client's three events, and a checkpoint covering
	// them comes, within the log's signing interval.
	deadline := time.Now().Add(30 * time.Second)
	var (
		note response
		size int64
	)
	for {
		note = h.call(t, "GET", "/t/acme/audit/checkpoint", nil)
		logged := h.call(t, "GET", "/t/acme/audit/events?client="+c.ClientID, nil).want(t, 200)
		page := decodeAs[struct {
			Events []struct {
				Index int64 `json:"index"`
			} `json:"events"`
		}](t, logged)
		if note.status == 200 {
			if _, err := fmt.Sscanf(strings.SplitN(string(note.body), "\n", 3)[1], "%d", &size); err != nil {
				t.Fatalf("checkpoint %q: %v", note.body, err)
			}
		}
		if len(page.Events) == 3 && size > page.Events[2].Index || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	note.want(t, 200)
	if ct := note.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("checkpoint: %s %q", ct, note.body)
	}

	h.call(t, "GET", "/t/acme/audit/checkpoints", nil).want(t, 200)
	events := h.call(t, "GET", "/t/acme/audit/events?client="+c.ClientID, nil).want(t, 200)
	if !strings.Contains(string(events.body), `"field":"secrets","after":"changed"`) {
		t.Errorf("the rotation's diff is not shown as changed: %s", events.body)
	}
	h.call(t, "GET", fmt.Sprintf("/t/acme/audit/proof/inclusion?index=%d", size-1), nil).want(t, 200)
	h.call(t, "GET", fmt.Sprintf("/t/acme/audit/proof/consistency?from=1&to=%d", size), nil).want(t, 200)
	export := h.call(t, "GET", "/t/acme/audit/export", nil).want(t, 200)
	if lines := strings.Count(string(export.body), "\n"); int64(lines) != size+1 {
		t.Errorf("the export has %d lines for %d leaves", lines, size)
	}
	h.call(t, "GET", "/t/acme/audit/proof/inclusion?index=0&size=999999", nil).want(t, 400)
	h.call(t, "GET", "/t/nope/audit/checkpoint", nil).want(t, 404)
}

// TestAuditEventsUntilTheStartOfTime: until is exclusive, so an until at
// the zero time (0001-01-01T00:00:00Z, however written) lists nothing;
// it is not read as "no until".
func TestAuditEventsUntilTheStartOfTime(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	count := func(query string) int {
		t.Helper()
		var page struct{ Events []json.RawMessage }
		if err := json.Unmarshal(h.call(t, "GET", "/t/acme/audit/events"+query, nil).want(t, 200).body, &page); err != nil {
			t.Fatal(err)
		}
		return len(page.Events)
	}
	for deadline := time.Now().Add(30 * time.Second); count("") == 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the tenant's audit log holds no event")
		}
	}
	for _, until := range []string{"0001-01-01T00:00:00Z", "0001-01-01T01:00:00%2B01:00"} {
		if n := count("?until=" + until); n != 0 {
			t.Errorf("until=%s lists %d events, all recorded after it", until, n)
		}
	}
}

// TestAuditExportsAreCapped: an export to a reader that stops reading
// holds the node's buffers for as long as the connection lasts, so a node
// sends at most four at once and answers another 429 with Retry-After;
// a slot is free again once its reader has gone. A HEAD starts no export.
func TestAuditExportsAreCapped(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	// Enough events that an export outgrows every socket buffer between
	// the node and a reader that does not read: 40 clients, each changed
	// 100 times. The changes are the domain's own, appended a client's
	// hundred at a time: a command each would load a stream each time,
	// which is not what this test is about.
	const clients, changes = 40, 100
	const events = clients * changes
	long := strings.Repeat("x", 990)
	for i := range clients {
		c, _ := h.newClient(t, "acme", webClient(fmt.Sprintf("urn:acme/web%d", i)))
		stream := tenants.ClientStream("acme", c.ClientID)
		history, version, err := aggregate.Load(t.Context(), h.store, stream, client.Decode)
		if err != nil {
			t.Fatal(err)
		}
		agg, err := client.Replay(history)
		if err != nil {
			t.Fatal(err)
		}
		var batch []domain.Event
		for j := range changes {
			d := fmt.Sprintf("%04d %s", j, long)
			evs, err := agg.Update(client.Patch{Description: &d}, scope.Catalogue{}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if err := agg.Apply(e); err != nil {
					t.Fatal(err)
				}
			}
			batch = append(batch, evs...)
		}
		stored, claims, err := aggregate.Envelopes(batch, eventstore.Metadata{Actor: "root", OccurredAt: time.Now().UTC()}, uuid.NewString)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.Append(t.Context(), stream, version, stored, claims...); err != nil {
			t.Fatal(err)
		}
	}
	// Logging 4,000 events takes 5 s alone and 45 s with the race
	// detector beside the package's other tests: a limit, not a wait.
	poll.Until(t, 3*time.Minute, "a checkpoint of every event", func() bool {
		r := h.call(t, "GET", "/t/acme/audit/checkpoint", nil)
		var size int64
		if r.status == 200 {
			_, _ = fmt.Sscanf(strings.SplitN(string(r.body), "\n", 3)[1], "%d", &size)
		}
		return size > events
	})
	head, err := http.NewRequest(http.MethodHead, h.url+"/t/acme/audit/export", nil)
	if err != nil {
		t.Fatal(err)
	}
	head.Header.Set("Authorization", "Bearer "+rootToken)
	if resp, err := http.DefaultClient.Do(head); err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("HEAD export = %v, %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if strings.Contains(h.logs.String(), "audit export") {
		t.Error("a HEAD started an export")
	}

	addr := strings.TrimPrefix(h.url, "http://")
	stalled := func() net.Conn {
		d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
			}); err != nil {
				return err
			}
			return serr
		}}
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET /t/acme/audit/export HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", rootToken)
		status := make([]byte, 12)
		if _, err := io.ReadFull(conn, status); err != nil || string(status) != "HTTP/1.1 200" {
			t.Fatalf("export: %q %v", status, err)
		}
		return conn // and read no more
	}
	var conns []net.Conn
	for range 4 {
		conns = append(conns, stalled())
	}
	r := h.call(t, "GET", "/t/acme/audit/export", nil)
	checkProblem(t, r, 429, httpapi.ProblemTooManyRequests, "")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	for _, conn := range conns {
		conn.Close()
	}
	poll.Until(t, 30*time.Second, "an export once the stalled readers are gone", func() bool {
		return h.call(t, "GET", "/t/acme/audit/export", nil).status == 200
	})
}

// TestClientChangesBetween: what changed in a client between two
// instants is what the events between them changed, secrets shown only
// as changed; a client not created yet at from is new.
func TestClientChangesBetween(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	h.call(t, "PATCH", "/t/acme/admin/clients/"+c.ClientID, map[string]any{"client_name": "Web, renamed"}, contentType("application/merge-patch+json")).want(t, 200)
	h.call(t, "POST", "/t/acme/admin/clients/"+c.ClientID+"/secrets/rotate", map[string]any{"overlap_seconds": 60}).want(t, 200)
	type event struct {
		Position string `json:"position"`
		Changes  []struct {
			Field  string          `json:"field"`
			Before json.RawMessage `json:"before,omitempty"`
			After  json.RawMessage `json:"after"`
		} `json:"changes"`
	}
	var events []event
	poll.Until(t, 10*time.Second, "the client's three events in the log", func() bool {
		events = decodeAs[struct {
			Events []event `json:"events"`
		}](t, h.call(t, "GET", "/t/acme/audit/events?client="+c.ClientID, nil).want(t, 200)).Events
		return len(events) == 3
	})
	between := func(from, to string) string {
		r := h.call(t, "GET", "/t/acme/audit/clients/"+c.ClientID+"/changes?"+url.Values{"from": {from}, "to": {to}}.Encode(), nil).want(t, 200)
		got := decodeAs[struct {
			From    string          `json:"from"`
			To      string          `json:"to"`
			Changes json.RawMessage `json:"changes"`
		}](t, r)
		if got.From != from || got.To != to {
			t.Errorf("changes from %s to %s echo %s, %s", from, to, got.From, got.To)
		}
		return string(got.Changes)
	}
	for i := 1; i < 3; i++ {
		want, err := json.Marshal(events[i].Changes)
		if err != nil {
			t.Fatal(err)
		}
		if got := between(events[i-1].Position, events[i].Position); got != string(want) {
			t.Errorf("changes over event %d = %s, want the event's own %s", i, got, want)
		}
	}
	if got := between(events[0].Position, events[2].Position); !strings.Contains(got, `"field":"client_name"`) || !strings.Contains(got, `{"field":"secrets","after":"changed"}`) {
		t.Errorf("changes over both events = %s", got)
	}
	if got := between("2000-01-01T00:00:00Z", events[0].Position); !strings.Contains(got, `{"field":"client_name","before":null,"after":"Web urn:acme/web"}`) {
		t.Errorf("changes from before the client existed = %s", got)
	}
	checkProblem(t, h.call(t, "GET", "/t/acme/audit/clients/"+c.ClientID+"/changes?from="+events[0].Position, nil), 400, httpapi.ProblemInvalidParameter, "to")
	checkProblem(t, h.call(t, "GET", "/t/acme/audit/clients/"+c.ClientID+"/changes?from=yesterday&to="+events[0].Position, nil), 400, httpapi.ProblemInvalidParameter, "from")
	checkProblem(t, h.call(t, "GET", "/t/acme/audit/clients/"+c.ClientID+"/changes?from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z", nil), 404, httpapi.ProblemNotFound, "")
}
