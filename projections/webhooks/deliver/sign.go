package deliver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/clavisiam/clavis/tenants/signing"
)

// The headers of a delivery, as the Standard Webhooks specification
// names them.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// ContentType is the body's media type: a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// ErrSecret matches the error of a signing secret that is not
// "whsec_" and the standard base64 of a key.
var ErrSecret = errors.New("deliver: malformed webhook signing secret")

// Key is an endpoint's signing key: the bytes a "whsec_…" secret
// encodes. It is secret material: it never appears in a log or an error.
type Key []byte

// String hides the key.
func (Key) String() string { return "[redacted]" }

// ParseKey decodes a "whsec_" secret into its key.
func ParseKey(secret string) (Key, error) {
	b64, ok := strings.CutPrefix(secret, signing.WebhookSecretPrefix)
	if !ok {
		return nil, ErrSecret
	}
	k, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(k) == 0 {
		return nil, ErrSecret
	}
	return k, nil
}

// Signature is the webhook-signature header of message id sent at unix
// second ts with body: for each key, "v1," and the standard base64 of
// HMAC-SHA256(key, id + "." + ts + "." + body), separated by spaces.
func Signature(keys []Key, id string, ts int64, body []byte) string {
	var b strings.Builder
	prefix := id + "." + strconv.FormatInt(ts, 10) + "."
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(prefix))
		m.Write(body)
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("v1,")
		b.WriteString(base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return b.String()
}
