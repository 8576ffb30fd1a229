package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
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
