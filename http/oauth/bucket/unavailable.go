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

// entryTTLs says how long openKV lets the entries of a bucket live.
type entryTTLs int

const (
	// bucketTTL: every entry lives the bucket's TTL.
	bucketTTL entryTTLs = iota
	// ownTTLs: an entry may be written with a TTL of its own
	// (per-message TTLs), on a server that has them (JetStream API level
	// 1, NATS 2.11, and later).
	ownTTLs
)

// openKV opens bucket cfg.Bucket, creating it if need be, and brings its
// settings to cfg's, with direct gets off when it has replicas and, with
// ownTTLs on a server that has them, per-message TTLs allowed (see
// kvSettled); it reports whether the bucket allows per-message TTLs. A
// bucket already as wanted is only bound. A missing one is created, not
// updated into being: nodes that start together create the same bucket
// at once, which JetStream answers at once when the settings are the
// same, whereas updates of a bucket being created stall until their
// deadline. Only a bucket whose settings differ (just created by
// nats.go, or another --grants-max-bytes, say) is updated, with one
// update of its stream.
//
// Per-message TTLs are allowed with a stream update, not with nats.go's
// KeyValueConfig.LimitMarkerTTL, which would also have the server write
// a marker when an entry expires: an extra write per entry. Once a
// stream allows them, nats.go cannot update it as a bucket (it would
// turn them off, which the server refuses), hence the stream update for
// every change.
func openKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig, ttls entryTTLs) (jetstream.KeyValue, bool, error) {
	msgTTL := false
	if ttls == ownTTLs {
		info, err := js.AccountInfo(ctx)
		if err != nil {
			return nil, false, err
		}
		msgTTL = info.API.Level >= 1
	}
	stream, err := js.Stream(ctx, kvStream(cfg.Bucket))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateKeyValue(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrBucketExists) {
			return nil, false, err
		}
		if stream, err = js.Stream(ctx, kvStream(cfg.Bucket)); errors.Is(err, jetstream.ErrStreamNotFound) {
			// A server that has not learnt of a bucket just created says
			// it has no such stream: the bucket is not there yet.
			return nil, false, fmt.Errorf("%w: %w", oauth.ErrUnavailable, err)
		}
	}
	if err != nil {
		return nil, false, err
	}
	sc := stream.CachedInfo().Config
	if !kvSettled(sc, cfg, msgTTL) {
		if sc, err = settleKV(ctx, js, sc, cfg, msgTTL); err != nil {
			return nil, false, err
		}
	}
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	return kv, sc.AllowMsgTTL, err
}

// kvSettled reports whether a bucket's stream settings sc are those
// openKV gives a bucket of cfg: nats.go's (kvMatches), direct gets off
// with replicas, and per-message TTLs allowed if msgTTL (a stream that
// allows them, which cannot be undone, is as wanted either way).
//
// A read must see what another node wrote just before: a code, a flow's
// step, a rotated refresh token. With replicas, a direct get may be
// answered by a follower that has not applied that write yet (the
// cluster test saw codes and flows refused as unknown with no fault
// under way); without direct gets, reads go to the stream's leader,
// which answers only what is committed. nats.go turns direct gets on
// when it creates a bucket, so openKV turns them off after it, and binds
// the bucket (which reads as its stream says when it is bound) only
// then. An existing bucket is not created again: nats.go would turn its
// direct gets on again for a moment (it updates a bucket that differs in
// those only), and a node binding it in that moment would read from
// followers for as long as it runs.
func kvSettled(sc jetstream.StreamConfig, cfg jetstream.KeyValueConfig, msgTTL bool) bool {
	return kvMatches(sc, cfg) && (cfg.Replicas <= 1 || !sc.AllowDirect) && (sc.AllowMsgTTL || !msgTTL)
}

// settleKV updates a bucket's stream, of settings sc, to those openKV
// gives a bucket of cfg (see kvSettled), and returns its new settings.
// When the server refuses per-message TTLs (a cluster some of whose
// servers are older than the one that said it has them), the bucket
// goes without: its entries live its TTL.
func settleKV(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig, cfg jetstream.KeyValueConfig, msgTTL bool) (jetstream.StreamConfig, error) {
	want := sc
	want.MaxMsgsPerSubject, want.MaxMsgSize, want.MaxBytes = kvLimits(cfg)
	want.MaxAge, want.Replicas, want.Storage, want.Description = cfg.TTL, max(cfg.Replicas, 1), cfg.Storage, cfg.Description
	want.Discard = jetstream.DiscardNew
	// As nats.go: a duplicate window of two minutes at most, no longer
	// than the TTL.
	want.Duplicates = 2 * time.Minute
	if cfg.TTL > 0 && cfg.TTL < want.Duplicates {
		want.Duplicates = cfg.TTL
	}
	if cfg.Replicas > 1 {
		want.AllowDirect = false
	}
	if msgTTL {
		want.AllowMsgTTL = true
	}
	stream, err := js.UpdateStream(ctx, want)
	if err != nil && want.AllowMsgTTL && !sc.AllowMsgTTL && !IsUnavailable(err) {
		want.AllowMsgTTL = false
		stream, err = js.UpdateStream(ctx, want)
	}
	if err != nil {
		return jetstream.StreamConfig{}, err
	}
	return stream.CachedInfo().Config, nil
}

// kvMatches reports whether stream settings sc are those nats.go gives a
// bucket of cfg.
func kvMatches(sc jetstream.StreamConfig, cfg jetstream.KeyValueConfig) bool {
	history, maxValue, maxBytes := kvLimits(cfg)
	return sc.MaxBytes == maxBytes && sc.Replicas == max(cfg.Replicas, 1) && sc.MaxAge == cfg.TTL &&
		sc.MaxMsgSize == maxValue && sc.MaxMsgsPerSubject == history && sc.Storage == cfg.Storage
}

// kvLimits are the stream limits nats.go gives a bucket of cfg: the
// messages kept per subject, and the largest message and the most bytes
// (-1 for none).
func kvLimits(cfg jetstream.KeyValueConfig) (history int64, maxValue int32, maxBytes int64) {
	history, maxValue, maxBytes = int64(max(cfg.History, 1)), cfg.MaxValueSize, cfg.MaxBytes
	if maxValue == 0 {
		maxValue = -1
	}
	if maxBytes == 0 {
		maxBytes = -1
	}
	return history, maxValue, maxBytes
}

// kvStream is the JetStream stream of key-value bucket b.
func kvStream(b string) string { return "KV_" + b }
