package bucket

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
)

// Assertions records the jtis of client assertions ([oauth.Assertions])
// in a key-value bucket whose entries expire after
// [oauth.MaxAssertionLifetime]: Create succeeds for the first use only,
// atomically across nodes. It is safe for concurrent use.
type Assertions struct {
	js       jetstream.JetStream
	bucket   string
	replicas int

	mu sync.Mutex
	kv jetstream.KeyValue
}

var _ oauth.Assertions = (*Assertions)(nil)

// NewAssertions keeps used assertions in bucket, on replicas servers (at
// least one).
func NewAssertions(js jetstream.JetStream, bucket string, replicas int) *Assertions {
	return &Assertions{js: js, bucket: bucket, replicas: max(replicas, 1)}
}

func (a *Assertions) open(ctx context.Context) (jetstream.KeyValue, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.kv == nil {
		kv, _, err := openKV(ctx, a.js, jetstream.KeyValueConfig{
			Bucket: a.bucket, TTL: oauth.MaxAssertionLifetime, History: 1, Replicas: a.replicas,
			MaxBytes: DefaultBucketBytes, MaxValueSize: maxSmallEntry,
			Description: "Clavis client assertions already used",
		}, bucketTTL)
		if err != nil {
			return nil, unavailable(fmt.Errorf("bucket: assertion bucket: %w", err))
		}
		a.kv = kv
	}
	return a.kv, nil
}

// Use records the assertion jti of a client of tenant;
// [oauth.ErrReplayed] when it was recorded before; [oauth.ErrUnavailable]
// when NATS cannot record it within [OpTimeout].
func (a *Assertions) Use(ctx context.Context, tenant, clientID, jti string, _ time.Time) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	kv, err := a.open(ctx)
	if err != nil {
		return err
	}
	// A jti is unique per issuer, the client (RFC 7523 §3).
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	_, err = kv.Create(ctx, tenant+"."+hex.EncodeToString(sum[:16]), nil)
	if errors.Is(err, jetstream.ErrKeyExists) {
		return oauth.ErrReplayed
	}
	return unavailable(err)
}
