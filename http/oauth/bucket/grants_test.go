package bucket_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/internal/poll"
)

// On a NATS server with per-message TTLs (the embedded one), an entry
// created or updated with an expiry a second or two away is gone after
// it, while one without an expiry, or with one no sooner than its
// life's TTL, stays.
func TestGrantsExpireOnTheirOwn(t *testing.T) {
	js := embeddedJetStream(t)
	testGrantExpiries(t, js, true)
}

// On a NATS server without per-message TTLs (the loopback one, 2.9),
// the same writes succeed and every entry lives its bucket's TTL.
func TestGrantsOnServerWithoutMessageTTLs(t *testing.T) {
	js := loopbackJetStream(t)
	info, err := js.AccountInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.API.Level >= 1 {
		// The loopback server was upgraded: what it does is what the
		// embedded one does.
		t.Logf("the NATS server at %s has per-message TTLs (API level %d): testing them", loopbackURL(), info.API.Level)
	}
	testGrantExpiries(t, js, info.API.Level >= 1)
}

// testGrantExpiries writes entries with and without expiries to a grant
// store of a bucket prefix of its own on js, and checks that they go
// after their expiry when own is set, or stay otherwise.
func testGrantExpiries(t *testing.T, js jetstream.JetStream, own bool) {
	t.Helper()
	prefix := testPrefix(t, js)
	g := bucket.NewGrants(js, prefix, 1, 0)
	ctx := t.Context()
	now := time.Now()
	create := func(key string, expires time.Time) uint64 {
		t.Helper()
		rev, err := g.Create(ctx, oauth.LifeFlow, key, []byte(key), expires)
		if err != nil {
			t.Fatalf("create %s: %v", key, err)
		}
		return rev
	}
	short := create("acme.ac.short", now.Add(time.Second))
	create("acme.ac.none", time.Time{})
	create("acme.ac.life", now.Add(oauth.LifeFlow.TTL()))
	stale := create("acme.ac.updated", time.Time{})
	if _, err := g.Update(ctx, oauth.LifeFlow, "acme.ac.updated", []byte("updated"), stale, now.Add(2*time.Second)); err != nil {
		t.Fatalf("update with an expiry: %v", err)
	}
	rev := create("acme.ac.kept", now.Add(time.Second))
	if _, err := g.Update(ctx, oauth.LifeFlow, "acme.ac.kept", []byte("kept"), rev, time.Time{}); err != nil {
		t.Fatalf("update without an expiry: %v", err)
	}
	// A compare-and-set against a revision that is no longer the
	// entry's fails as before, with or without an expiry.
	for _, expires := range []time.Time{{}, now.Add(time.Minute)} {
		if _, err := g.Update(ctx, oauth.LifeFlow, "acme.ac.updated", []byte("late"), stale, expires); !errors.Is(err, oauth.ErrGrantConflict) {
			t.Errorf("update at a stale revision (expiry %v): %v, want oauth.ErrGrantConflict", expires, err)
		}
	}

	s, err := js.Stream(ctx, "KV_"+prefix+"_FLOWS")
	if err != nil {
		t.Fatal(err)
	}
	if sc := s.CachedInfo().Config; sc.AllowMsgTTL != own || sc.SubjectDeleteMarkerTTL != 0 {
		t.Errorf("the bucket's stream allows per-message TTLs: %t, with delete markers for %s; want %t, without",
			sc.AllowMsgTTL, sc.SubjectDeleteMarkerTTL, own)
	}

	gone := func(key string) bool {
		_, _, err := g.Get(ctx, oauth.LifeFlow, key)
		if err != nil && !errors.Is(err, oauth.ErrGrantNotFound) {
			t.Fatalf("get %s: %v", key, err)
		}
		return err != nil
	}
	stay := []string{"acme.ac.none", "acme.ac.life", "acme.ac.kept"}
	if own {
		poll.Until(t, 10*time.Second, "the entries created and updated with an expiry going", func() bool {
			return gone("acme.ac.short") && gone("acme.ac.updated")
		})
		// Gone, not hidden: the key is free, and a compare-and-set
		// against the revision it had fails.
		if _, err := g.Update(ctx, oauth.LifeFlow, "acme.ac.short", []byte("again"), short, time.Time{}); !errors.Is(err, oauth.ErrGrantConflict) {
			t.Errorf("update of an expired entry: %v, want oauth.ErrGrantConflict", err)
		}
		create("acme.ac.short", time.Time{})
	} else {
		stay = append(stay, "acme.ac.short", "acme.ac.updated")
		// Nothing goes: checked until well after the expiries.
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			for _, key := range stay {
				if gone(key) {
					t.Fatalf("%s went before its bucket's TTL on a server without per-message TTLs", key)
				}
			}
		}
	}
	for _, key := range stay {
		if gone(key) {
			t.Errorf("%s went, though it was written to be kept", key)
		}
	}
}

// A bucket whose stream allows per-message TTLs opens at every node: a
// node with the same settings binds it, and one with other settings (a
// byte limit of its own) changes them, keeping per-message TTLs, which
// nats.go's bucket update would turn off (the server refuses).
func TestGrantsBucketReopened(t *testing.T) {
	js := embeddedJetStream(t)
	prefix := testPrefix(t, js)
	for i, maxBytes := range []int64{0, 0, 64 << 20} {
		g := bucket.NewGrants(js, prefix, 1, maxBytes)
		if _, err := g.Create(t.Context(), oauth.LifeRequest, "acme.flow.k"+string(rune('0'+i)), []byte("v"), time.Now().Add(time.Minute)); err != nil {
			t.Fatalf("node %d (max bytes %d): %v", i, maxBytes, err)
		}
	}
	s, err := js.Stream(t.Context(), "KV_"+prefix+"_REQUESTS")
	if err != nil {
		t.Fatal(err)
	}
	if sc := s.CachedInfo().Config; !sc.AllowMsgTTL || sc.MaxBytes != 64<<20 {
		t.Errorf("after the last node opened it, the bucket allows per-message TTLs: %t, holds %d bytes; want true, %d",
			sc.AllowMsgTTL, sc.MaxBytes, 64<<20)
	}
}

// embeddedJetStream is JetStream on an embedded NATS server of the
// test's own.
func embeddedJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	ns, err := natsserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// loopbackURL is the shared NATS server tests use:
// CLAVIS_TEST_NATS_URL, or the one on the loopback port.
func loopbackURL() string {
	if url := os.Getenv("CLAVIS_TEST_NATS_URL"); url != "" {
		return url
	}
	return "nats://127.0.0.1:4222"
}

// loopbackJetStream is JetStream on the shared NATS server.
func loopbackJetStream(t *testing.T) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(loopbackURL(), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("NATS is not reachable at %s (start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log): %v", loopbackURL(), err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// testPrefix is a bucket prefix of the test's own, whose grant buckets
// are deleted after it.
func testPrefix(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	prefix := "TEST_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, life := range []string{"FLOWS", "TOKENS", "GRANTS", "REQUESTS"} {
			if err := js.DeleteStream(ctx, "KV_"+prefix+"_"+life); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
				t.Errorf("delete the test's bucket %s_%s: %v", prefix, life, err)
			}
		}
	})
	return prefix
}
