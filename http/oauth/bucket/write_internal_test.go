package bucket

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
)

// ackSequence reads a plain acknowledgement and leaves everything else
// to encoding/json.
func TestAckSequence(t *testing.T) {
	for _, c := range []struct {
		ack string
		seq uint64
		ok  bool
	}{
		{`{"stream":"KV_X_FLOWS","seq":1}`, 1, true},
		{`{"stream":"KV_X_FLOWS", "seq":7}`, 7, true},
		{`{"stream":"KV_X_FLOWS",  "seq":7}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":18446744073709551615}`, 18446744073709551615, true},
		{`{"stream":"KV_X_FLOWS","seq":18446744073709551616}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":0}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":012}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":12,"duplicate":true}`, 0, false},
		{`{"stream":"KV_X_FLOWS","domain":"hub","seq":12}`, 0, false},
		{`{"stream":"KV_X\"_FLOWS","seq":12}`, 0, false},
		{`{"stream":"","seq":12}`, 0, false},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_X_FLOWS","seq":0}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":12} `, 0, false},
		{` {"stream":"KV_X_FLOWS","seq":12}`, 0, false},
		{``, 0, false},
	} {
		seq, ok := ackSequence([]byte(c.ack))
		if seq != c.seq || ok != c.ok {
			t.Errorf("ackSequence(%s) = %d, %t; want %d, %t", c.ack, seq, ok, c.seq, c.ok)
		}
	}
}

// readAck reads every answer JetStream gives a write: a revision, a
// revision that is not the key's, another error, or nothing a write's.
func TestReadAck(t *testing.T) {
	for _, c := range []struct {
		ack  string
		seq  uint64
		want error // nil: seq
	}{
		{`{"stream":"KV_X_FLOWS","seq":12}`, 12, nil},
		{`{"stream":"KV_X_FLOWS","seq":12,"duplicate":true}`, 12, nil},
		{`{"stream":"KV_X_FLOWS","domain":"hub","seq":12}`, 12, nil},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_X_FLOWS","seq":0}`, 0, jetstream.ErrKeyRevisionMismatch},
		{`{"error":{"code":503,"err_code":10077,"description":"maximum bytes exceeded"}}`, 0, &jetstream.APIError{ErrorCode: 10077}},
		{`{"stream":"KV_X_FLOWS","seq":0}`, 0, jetstream.ErrInvalidJSAck},
		{`{"stream":"KV_X_FLOWS"}`, 0, jetstream.ErrInvalidJSAck},
		{`{"seq":12}`, 0, jetstream.ErrInvalidJSAck},
		{`{"stream":`, 0, jetstream.ErrInvalidJSAck},
		{``, 0, jetstream.ErrInvalidJSAck},
	} {
		seq, err := readAck([]byte(c.ack))
		if c.want == nil && (err != nil || seq != c.seq) {
			t.Errorf("readAck(%s) = %d, %v; want %d", c.ack, seq, err, c.seq)
		}
		if c.want != nil && (seq != 0 || !errors.Is(err, c.want)) {
			t.Errorf("readAck(%s) = %d, %v; want 0, %v", c.ack, seq, err, c.want)
		}
	}
}

// A write that found no stream to answer it (a stream's leader being
// elected) and sends again is not sent if the connection went down
// meanwhile: nats.go would keep it and send it on reconnecting, after the
// request answered 503, using up what it had not used. Only the first
// send checked the connection.
func TestWriteRetryWhileAwayIsNeverApplied(t *testing.T) {
	defer func(w time.Duration) { writeRetryWait = w }(writeRetryWait)
	writeRetryWait = OpTimeout / 2 // sent again before the write's deadline
	srv := StartOutage(t)
	js, _ := jetstream.New(srv.NC)
	g := NewGrants(js, "RETRY", 1, 0)
	ctx := t.Context()
	if _, err := g.Create(ctx, oauth.LifeGrant, "acme.fam.a", []byte("a"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	b, err := g.bucket(ctx, oauth.LifeGrant)
	if err != nil {
		t.Fatal(err)
	}
	stream := "KV_" + b.kv.Bucket()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if err := js.DeleteStream(ctx, stream); err != nil { // writes now find no stream
		t.Fatal(err)
	}

	start := time.Now()
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := g.Create(wctx, oauth.LifeGrant, "acme.fam.b", []byte("b"), time.Time{})
		done <- err
	}()
	time.Sleep(writeRetryWait / 4) // the first send: no responders
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if time.Since(start) > writeRetryWait*3/4 {
		t.Fatalf("the server took %s to go: the write sent again before", time.Since(start))
	}
	time.Sleep(time.Until(start.Add(writeRetryWait * 3 / 2))) // it sends again: away

	srv.Restart()
	if err := <-done; err == nil {
		t.Errorf("the write sent again while NATS was away succeeded after all; want it refused")
	}
	if _, _, err := g.Get(ctx, oauth.LifeGrant, "acme.fam.b"); !errors.Is(err, oauth.ErrGrantNotFound) {
		t.Errorf("after the outage, the entry the refused write named: %v; want oauth.ErrGrantNotFound", err)
	}
}
