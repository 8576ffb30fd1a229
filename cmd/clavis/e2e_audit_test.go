package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// checkAuditLog waits for node n to sign a checkpoint of tenant slug's
// log covering every event the store holds for it, exports the log and
// verifies the export offline with the tenant's published verifier keys:
// every stored event is a leaf exactly once, in store order, no gap and
// no duplicate.
func checkAuditLog(t *testing.T, n *serveProc, events []eventstore.Event, slug string) {
	t.Helper()
	want := int64(0)
	for _, e := range events {
		if e.Stream.Tenant == slug {
			want++
		}
	}
	var cp auditlog.Checkpoint
	poll.Until(t, 30*time.Second, "a checkpoint of every event of the tenant", func() bool {
		code, _, body, err := n.try(http.MethodGet, "/t/"+slug+"/audit/checkpoint", nil)
		if err != nil || code != http.StatusOK {
			return false
		}
		text, _, _ := strings.Cut(string(body), "\n\n")
		c, err := auditlog.ParseCheckpoint(text + "\n")
		cp = c
		return err == nil && c.Size >= want
	})
	if cp.Size != want {
		t.Fatalf("the audit log of %s holds %d leaves, the store %d events", slug, cp.Size, want)
	}
	code, _, keys, err := n.try(http.MethodGet, "/t/"+slug+"/audit/key", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET audit key: %d %s %v", code, keys, err)
	}
	code, _, export, err := n.try(http.MethodGet, "/t/"+slug+"/audit/export", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET audit export: %d %v", code, err)
	}
	rep, err := auditlog.Verify(bytes.NewReader(export), strings.Fields(string(keys)))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Entries != want {
		t.Fatalf("the audit log of %s does not verify (%d entries of %d): %v", slug, rep.Entries, want, rep.Failures)
	}
}
