package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// testKeys gives each tenant an audit key of its own.
type testKeys struct {
	mu      sync.Mutex
	signers map[string]note.Signer
	vkeys   map[string]string
}

func (k *testKeys) AuditSigner(_ context.Context, tenant string) (note.Signer, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.signers[tenant]; ok {
		return s, nil
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "clavis.test/t/"+tenant)
	if err != nil {
		return nil, err
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	k.signers[tenant], k.vkeys[tenant] = s, vkey
	return s, nil
}

func createTenant(t *testing.T, srv *testnode.Server, slug string) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"slug": slug, "name": "Tenant " + slug})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/admin/tenants", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.RootToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create tenant %s: %s", slug, resp.Status)
	}
}

// TestAuditLogFollowsTheStore runs a node with audit keys: its log
// follows the store, woken by the projector, and signs checkpoints that
// verify with the tenant's key, for every tenant, with no help from NATS
// delivery (the node's NATS server takes no part in it).
func TestAuditLogFollowsTheStore(t *testing.T) {
	t.Parallel()
	cfg := testnode.Config(t, "")
	keys := &testKeys{signers: map[string]note.Signer{}, vkeys: map[string]string{}}
	srv := testnode.Start(t, cfg, node.WithAuditKeys(keys), node.WithAudit(auditlog.WithSignInterval(time.Second)))
	for _, slug := range []string{"acme", "globex"} {
		createTenant(t, srv, slug)
	}
	for _, slug := range []string{"acme", "globex"} {
		var c auditlog.SignedCheckpoint
		poll.Until(t, 15*time.Second, slug+"'s checkpoint", func() bool {
			var err error
			c, err = srv.Audit.Latest(t.Context(), slug)
			return err == nil
		})
		keys.mu.Lock()
		vkey := keys.vkeys[slug]
		keys.mu.Unlock()
		opened, err := auditlog.Open(c.Note, vkey)
		if err != nil {
			t.Fatalf("%s's checkpoint does not verify: %v", slug, err)
		}
		size, err := srv.Audit.Size(t.Context(), slug)
		if err != nil || size != opened.Size || size == 0 {
			t.Fatalf("%s's log has %d leaves (%v), its checkpoint %d", slug, size, err, opened.Size)
		}
		var events int64
		var after eventstore.Position
		for {
			page, err := srv.Store.ReadTenant(t.Context(), slug, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			events += int64(len(page))
			after = page[len(page)-1].Position
		}
		if events != size {
			t.Errorf("%s has %d events, its log %d leaves", slug, events, size)
		}
	}
}
