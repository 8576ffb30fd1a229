package bucket_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
)

// The grant store's writes answer as the oauth.Grants contract says, on
// both servers: a create of a taken key is ErrGrantExists (but for a key
// whose last entry is a delete marker, as nats.go's Create), an update
// at a revision not the key's is ErrGrantConflict, an entry over its
// life's size is ErrGrantTooLarge, and a write to a full bucket is
// ErrGrantsFull.
func TestGrantWritesAnswer(t *testing.T) {
	for name, js := range map[string]jetstream.JetStream{"embedded": embeddedJetStream(t), "loopback": loopbackJetStream(t)} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			prefix := testPrefix(t, js)
			g := bucket.NewGrants(js, prefix, 1, 0)
			expires := time.Now().Add(time.Minute)
			rev, err := g.Create(ctx, oauth.LifeRequest, "acme.flow.a", []byte("one"), expires)
			if err != nil || rev == 0 {
				t.Fatalf("create: %d %v", rev, err)
			}
			if _, err := g.Create(ctx, oauth.LifeRequest, "acme.flow.a", []byte("two"), expires); !errors.Is(err, oauth.ErrGrantExists) {
				t.Errorf("create of a taken key: %v, want ErrGrantExists", err)
			}
			next, err := g.Update(ctx, oauth.LifeRequest, "acme.flow.a", []byte("two"), rev, expires)
			if err != nil || next <= rev {
				t.Fatalf("update at the key's revision %d: %d %v", rev, next, err)
			}
			if _, err := g.Update(ctx, oauth.LifeRequest, "acme.flow.a", []byte("three"), rev, expires); !errors.Is(err, oauth.ErrGrantConflict) {
				t.Errorf("update at an old revision: %v, want ErrGrantConflict", err)
			}
			if v, got, err := g.Get(ctx, oauth.LifeRequest, "acme.flow.a"); err != nil || got != next || string(v) != "two" {
				t.Errorf("get: %q %d %v, want %q %d", v, got, err, "two", next)
			}
			if _, err := g.Create(ctx, oauth.LifeRequest, "acme.flow.big", bytes.Repeat([]byte("x"), oauth.LifeRequest.MaxSize()+1), expires); !errors.Is(err, oauth.ErrGrantTooLarge) {
				t.Errorf("create of an entry over its size: %v, want ErrGrantTooLarge", err)
			}

			// A delete marker, as nats.go's Delete leaves (earlier
			// versions deleted so), leaves the key free.
			kv, err := js.KeyValue(ctx, prefix+"_REQUESTS")
			if err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, "acme.flow.a"); err != nil {
				t.Fatal(err)
			}
			if _, err := g.Create(ctx, oauth.LifeRequest, "acme.flow.a", []byte("again"), expires); err != nil {
				t.Errorf("create over a delete marker: %v", err)
			}

			full := bucket.NewGrants(js, testPrefix(t, js), 1, 64<<10)
			value := bytes.Repeat([]byte("y"), 16<<10)
			var ferr error
			for i := 0; i < 8 && ferr == nil; i++ {
				_, ferr = full.Create(ctx, oauth.LifeRequest, "acme.flow.f"+string(rune('0'+i)), value, expires)
			}
			if !errors.Is(ferr, oauth.ErrGrantsFull) {
				t.Errorf("creates past the bucket's bytes: %v, want ErrGrantsFull", ferr)
			}
		})
	}
}
