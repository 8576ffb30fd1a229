package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/eventstore/subject"
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
		// Every event of the tenant is in the store once its creation
		// has answered; the log catches up with them in its own time,
		// and a checkpoint signed before it did covers fewer.
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
		var opened auditlog.Checkpoint
		poll.Until(t, 15*time.Second, fmt.Sprintf("%s's checkpoint of all %d events", slug, events), func() bool {
			c, err := srv.Audit.Latest(t.Context(), slug)
			if err != nil {
				return false
			}
			keys.mu.Lock()
			vkey := keys.vkeys[slug]
			keys.mu.Unlock()
			opened, err = auditlog.Open(c.Note, vkey)
			if err != nil {
				t.Fatalf("%s's checkpoint does not verify: %v", slug, err)
			}
			return opened.Size >= events
		})
		size, err := srv.Audit.Size(t.Context(), slug)
		if err != nil || size != events || opened.Size != events {
			t.Fatalf("%s has %d events, its log %d leaves (%v), its checkpoint %d", slug, events, size, err, opened.Size)
		}
	}
}

// TestAuditCheckpointsOnThePublicStream runs a node that signs audit
// checkpoints: the relay publishes each once on the public stream as a
// CloudEvent, in between the events, and goes on publishing every event
// after them, in order.
func TestAuditCheckpointsOnThePublicStream(t *testing.T) {
	t.Parallel()
	bus := testnode.StartNATS(t)
	cfg := testnode.Config(t, "")
	cfg.NATSURL = bus.URL
	keys := &testKeys{signers: map[string]note.Signer{}, vkeys: map[string]string{}}
	srv := testnode.Start(t, cfg, node.WithAuditKeys(keys), node.WithAudit(auditlog.WithSignInterval(time.Second)))
	names, err := subject.NewNames(cfg.NATSPrefix)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := bus.JetStream.Stream(t.Context(), names.PublicStream())
	if err != nil {
		// The relay creates it once it runs.
		poll.UntilNil(t, 10*time.Second, func() error {
			stream, err = bus.JetStream.Stream(t.Context(), names.PublicStream())
			return err
		})
	}
	type published struct {
		subject, typ, id string
		position         eventstore.Position
		data             json.RawMessage
	}
	read := func() []published {
		t.Helper()
		info, err := stream.Info(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var out []published
		for seq := uint64(1); seq <= info.State.LastSeq; seq++ {
			m, err := stream.GetMsg(t.Context(), seq)
			if err != nil {
				t.Fatal(err)
			}
			var ce struct {
				ID   string          `json:"id"`
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(m.Data, &ce); err != nil {
				t.Fatalf("message %d: %v", seq, err)
			}
			pos, err := message.PositionOf(m.Header)
			if err != nil {
				t.Fatalf("message %d carries no position: %v", seq, err)
			}
			out = append(out, published{m.Subject, ce.Type, ce.ID, pos, ce.Data})
		}
		return out
	}
	has := func(ps []published, subject string) int {
		for i, p := range ps {
			if p.subject == subject {
				return i
			}
		}
		return -1
	}
	var got []published
	slugs := []string{"acme", "globex", "initech"}
	for _, slug := range slugs {
		createTenant(t, srv, slug)
		// Wait for its checkpoint before the next tenant, so that events
		// follow checkpoints on the stream.
		poll.Until(t, 15*time.Second, slug+"'s checkpoint on the public stream", func() bool {
			got = read()
			return has(got, names.PublicSubject(slug, "audit.checkpoint")) >= 0
		})
	}
	checkpoints := map[string]int{}
	var last eventstore.Position
	for i, p := range got {
		if p.position.Less(last) {
			t.Errorf("message %d (%s) is at %s, after one at %s", i+1, p.subject, p.position, last)
		}
		last = p.position
		if p.typ != node.CheckpointType {
			continue
		}
		checkpoints[p.id]++
		var data struct {
			Origin string `json:"origin"`
			Size   int64  `json:"size"`
			Note   string `json:"note"`
		}
		if err := json.Unmarshal(p.data, &data); err != nil {
			t.Fatal(err)
		}
		tenant, _, _ := strings.Cut(p.id, "/")
		keys.mu.Lock()
		vkey := keys.vkeys[tenant]
		keys.mu.Unlock()
		c, err := auditlog.Open([]byte(data.Note), vkey)
		if err != nil || c.Size != data.Size || c.Origin != data.Origin || p.id != fmt.Sprintf("%s/checkpoint/%d", tenant, c.Size) {
			t.Errorf("checkpoint %s: %+v, %v", p.id, data, err)
		}
	}
	for id, n := range checkpoints {
		if n != 1 {
			t.Errorf("checkpoint %s published %d times", id, n)
		}
	}
	// Every event is on the stream, the ones after each checkpoint too.
	for _, slug := range slugs {
		var events int
		var after eventstore.Position
		for {
			page, err := srv.Store.ReadTenant(t.Context(), slug, after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, e := range page {
				if has(got, names.PublicSubject(slug, e.Type)) < 0 {
					t.Errorf("%s's %s is not on the public stream", slug, e.Type)
				}
			}
			events += len(page)
			after = page[len(page)-1].Position
		}
		if events == 0 {
			t.Errorf("%s has no events", slug)
		}
	}
	if i, j := has(got, names.PublicSubject("acme", "audit.checkpoint")), has(got, names.PublicSubject("globex", "tenant.created")); i < 0 || j < i {
		t.Errorf("the public stream holds %v: want acme's checkpoint, then globex's events", got)
	}
}

// TestAuditCheckpointsSignedWithTheTenantsKey runs a node as serve
// builds it: each tenant's checkpoints are signed with the tenant's own
// audit key and open with its published verifier keys.
func TestAuditCheckpointsSignedWithTheTenantsKey(t *testing.T) {
	t.Parallel()
	cfg := testnode.Config(t, "")
	srv := testnode.Start(t, cfg, node.WithAudit(auditlog.WithSignInterval(time.Second)))
	createTenant(t, srv, "acme")
	var c auditlog.SignedCheckpoint
	poll.Until(t, 15*time.Second, "acme's checkpoint", func() bool {
		var err error
		c, err = srv.Audit.Latest(t.Context(), "acme")
		return err == nil
	})
	verifiers, err := srv.Admin.Tenants.AuditVerifiers(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	opened, err := auditlog.Open(c.Note, verifiers...)
	if err != nil {
		t.Fatalf("acme's checkpoint does not open with its verifier keys %v: %v", verifiers, err)
	}
	if opened.Origin != srv.Admin.Tenants.AuditKeyName("acme") || !opened.Equal(c.Checkpoint) {
		t.Errorf("acme's checkpoint = %+v, kept as %+v", opened, c.Checkpoint)
	}
}
