package bucket

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// write puts value under key in bucket kv if the key's last revision is
// rev (0: the key has no entry), with a TTL of its own unless ttl is 0,
// and returns the new revision. It publishes as nats.go's Create and
// Update do (to the key's subject, with the revision expected) but reads
// JetStream's acknowledgement itself: nats.go decodes it with
// encoding/json, which took a tenth of a write's CPU on the node. A
// revision that is not the key's is [jetstream.ErrKeyRevisionMismatch].
//
// As nats.go's publish, it sends again, twice at most a quarter second
// apart, while no server answers (a stream's leader being elected); it
// sends nothing while the connection is down (see send).
func (g *Grants) write(ctx context.Context, kv jetstream.KeyValue, key string, value []byte, rev uint64, ttl time.Duration) (uint64, error) {
	if !keyValid(key) {
		return 0, jetstream.ErrInvalidKey
	}
	m := &nats.Msg{Subject: "$KV." + kv.Bucket() + "." + key, Data: value,
		Header: nats.Header{jetstream.ExpectedLastSubjSeqHeader: {strconv.FormatUint(rev, 10)}}}
	if ttl > 0 {
		m.Header[jetstream.MsgTTLHeader] = []string{ttl.String()}
	}
	nc := g.js.Conn()
	resp, err := send(ctx, nc, m)
	for retry := 0; errors.Is(err, nats.ErrNoResponders) && retry < writeRetries; retry++ {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(writeRetryWait):
		}
		resp, err = send(ctx, nc, m)
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return 0, jetstream.ErrNoStreamResponse
	}
	if err != nil {
		return 0, err
	}
	return readAck(resp.Data)
}

// send sends write's message and waits for the answer, only on a
// connection that is up, each time: nats.go keeps what is published
// while it reconnects and sends it once it is back, so a write that
// timed out (the request answered 503, nothing used up) would be applied
// afterwards, using up the code or refresh token it answered for.
func send(ctx context.Context, nc *nats.Conn, m *nats.Msg) (*nats.Msg, error) {
	if st := nc.Status(); st != nats.CONNECTED {
		return nil, fmt.Errorf("bucket: NATS connection %s: %w", st, nats.ErrDisconnected)
	}
	return nc.RequestMsgWithContext(ctx, m)
}

// readAck reads JetStream's answer to a write: the new revision, or why
// there is none. A revision of 0 is no write's.
func readAck(data []byte) (uint64, error) {
	if seq, ok := ackSequence(data); ok {
		return seq, nil
	}
	var ack struct {
		Error    *jetstream.APIError `json:"error"`
		Stream   string              `json:"stream"`
		Sequence uint64              `json:"seq"`
	}
	if err := json.Unmarshal(data, &ack); err != nil {
		return 0, jetstream.ErrInvalidJSAck
	}
	switch {
	case ack.Error != nil && (ack.Error.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		ack.Error.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return 0, fmt.Errorf("nats: %w: %w", ack.Error, jetstream.ErrKeyRevisionMismatch)
	case ack.Error != nil:
		return 0, fmt.Errorf("nats: %w", ack.Error)
	case ack.Stream == "" || ack.Sequence == 0:
		return 0, jetstream.ErrInvalidJSAck
	}
	return ack.Sequence, nil
}

// How often, and how far apart, write sends again while no server
// answers: nats.go's defaults for a publish.
const writeRetries = 2

var writeRetryWait = 250 * time.Millisecond // a variable for a test

// ackSequence reads the sequence of a plain acknowledgement,
// {"stream":"…","seq":N} (NATS 2.9 puts a space before "seq") and
// nothing else; anything else (an error, a
// duplicate, fields of a later server) is left to encoding/json.
func ackSequence(ack []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(ack, []byte(`{"stream":"`))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return 0, false
	}
	rest, ok = bytes.CutPrefix(rest[end:], []byte(`",`))
	if !ok {
		return 0, false
	}
	digits, ok := bytes.CutPrefix(bytes.TrimPrefix(rest, []byte(" ")), []byte(`"seq":`))
	if !ok {
		return 0, false
	}
	digits, ok = bytes.CutSuffix(digits, []byte("}"))
	if !ok || len(digits) == 0 || len(digits) > 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(digits), 10, 64)
	if err != nil || seq == 0 || digits[0] == '0' {
		return 0, false
	}
	return seq, true
}
