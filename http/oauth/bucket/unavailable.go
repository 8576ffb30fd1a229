package bucket

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/http/oauth"
)

// OpTimeout bounds each key-value operation of a request: a healthy
// replicated bucket answers in milliseconds, and a JetStream electing a
// new leader, or a NATS server that hangs, should cost the request an
// honest temporarily_unavailable quickly rather than the node's whole
// request timeout (5 s). Two seconds let a request that read and wrote
// one entry, both timing out, still answer inside that timeout.
const OpTimeout = 2 * time.Second

// IsUnavailable reports whether err, from a NATS or JetStream call, says
// that NATS could not serve it for now (the connection is down or
// reconnecting, no server answered in time, JetStream is away or
// electing a leader) rather than that the request was wrong. It is the
// one place that classifies NATS's errors so.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jsErrCodeStoreFailed, jsErrCodeMessageTooLarge, jsErrCodeSequenceMismatch:
			// A full bucket or an entry too large: the store's answer,
			// not its absence (see full).
			return false
		case jsErrCodeStreamOffline, jsErrCodeStreamOfflineReason, jsErrCodeClusterNotLeader, jsErrCodeClusterNotAssigned,
			jsErrCodeRaftGeneral:
			return true
		}
		// JetStream says 503 for "temporarily unavailable", "not
		// enabled" and its like.
		return api.Code == 503
	}
	for _, target := range []error{
		nats.ErrTimeout, nats.ErrNoResponders, nats.ErrConnectionClosed, nats.ErrConnectionDraining,
		nats.ErrConnectionReconnecting, nats.ErrDisconnected, nats.ErrStaleConnection, nats.ErrNoServers,
		jetstream.ErrNoStreamResponse, jetstream.ErrJetStreamNotEnabled,
		jetstream.ErrJetStreamNotEnabledForAccount, jetstream.ErrServerShutdown,
		// An operation bounded by OpTimeout, or by the request's own
		// deadline, that NATS did not answer in time.
		context.DeadlineExceeded,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// unavailable wraps err with [oauth.ErrUnavailable] when
// [IsUnavailable] says so, and returns it as it is otherwise.
func unavailable(err error) error {
	if IsUnavailable(err) && !errors.Is(err, oauth.ErrUnavailable) {
		return fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	return err
}

// JetStream's error codes the classification names: a stream whose
// replicas cannot serve it, a server that is not (or no longer) the
// leader or a member of the group a request went to, and its RAFT layer
// failing while leaders change; and an expected sequence that does not
// match (a conflict, never an outage).
const (
	jsErrCodeStreamOffline       jetstream.ErrorCode = 10118
	jsErrCodeStreamOfflineReason jetstream.ErrorCode = 10194
	jsErrCodeClusterNotLeader    jetstream.ErrorCode = 10009
	jsErrCodeClusterNotAssigned  jetstream.ErrorCode = 10007
	jsErrCodeRaftGeneral         jetstream.ErrorCode = 10041
	jsErrCodeSequenceMismatch    jetstream.ErrorCode = 10063
)

// bounded is ctx bounded by OpTimeout.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, OpTimeout)
}

// openKV opens bucket cfg.Bucket, creating it if need be, and brings an
// existing bucket's settings to cfg. It creates first: nodes that start
// together create the same bucket at once, which JetStream answers at
// once when the settings are the same, whereas updates of a bucket being
// created stall until their deadline. Only a bucket whose settings
// differ (another --grants-max-bytes, say) is updated.
func openKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	if cfg.Replicas > 1 {
		// A bucket already as wanted is only bound: creating or updating
		// it would turn direct gets on again for a moment, and a node
		// binding it in that moment would read from followers for as
		// long as it runs.
		if stream, err := js.Stream(ctx, kvStream(cfg.Bucket)); err == nil {
			if sc := stream.CachedInfo().Config; !sc.AllowDirect && kvMatches(sc, cfg) {
				return js.KeyValue(ctx, cfg.Bucket)
			}
		}
	}
	kv, err := createOrUpdateKV(ctx, js, cfg)
	if err != nil || cfg.Replicas <= 1 {
		return kv, err
	}
	// A read must see what another node wrote just before: a code, a
	// flow's step, a rotated refresh token. With replicas, a direct get
	// may be answered by a follower that has not applied that write yet
	// (the cluster test saw codes and flows refused as unknown with no
	// fault under way); without direct gets, reads go to the stream's
	// leader, which answers only what is committed. nats.go turns direct
	// gets on when it creates or updates a bucket, so they are turned off
	// after it, and the bucket bound again to read without them.
	stream, err := js.Stream(ctx, kvStream(cfg.Bucket))
	if err != nil {
		// A server that has not learnt of a bucket just created says it
		// has no such stream: the bucket is not there yet.
		return nil, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
	}
	if sc := stream.CachedInfo().Config; sc.AllowDirect {
		sc.AllowDirect = false
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return nil, err
		}
	}
	return js.KeyValue(ctx, cfg.Bucket)
}

// kvMatches reports whether stream settings sc are those nats.go gives a
// bucket of cfg.
func kvMatches(sc jetstream.StreamConfig, cfg jetstream.KeyValueConfig) bool {
	history, maxValue, maxBytes := int64(max(cfg.History, 1)), cfg.MaxValueSize, cfg.MaxBytes
	if maxValue == 0 {
		maxValue = -1
	}
	if maxBytes == 0 {
		maxBytes = -1
	}
	return sc.MaxBytes == maxBytes && sc.Replicas == max(cfg.Replicas, 1) && sc.MaxAge == cfg.TTL &&
		sc.MaxMsgSize == maxValue && sc.MaxMsgsPerSubject == history && sc.Storage == cfg.Storage
}

// kvStream is the JetStream stream of key-value bucket b.
func kvStream(b string) string { return "KV_" + b }

func createOrUpdateKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.UpdateKeyValue(ctx, cfg)
	}
	return kv, err
}
