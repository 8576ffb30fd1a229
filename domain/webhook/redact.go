package webhook

import (
	"net/url"
	"strings"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Redacted stands in for a sealed secret in a webhook event shown at
// [domain.RedactHistory].
const Redacted = "[REDACTED]"

// publicSecret is a secret as downstream readers see it: its id only.
type publicSecret struct {
	ID string `json:"id"`
}

// Redact returns e as r's readers may see it ([domain.Redaction]): in
// history (auditors) a sealed secret becomes [Redacted] and the rest stays
// whole. The public form (the events API, its live stream, webhooks, the
// public NATS stream) leaves the sealed secret out, keeping its id, shows
// of an endpoint's URL only its origin (scheme://host[:port]) — endpoint
// URLs are often capabilities, with a token in the path or the query —
// and leaves out the slot, the limit's bookkeeping. The other events
// hold none of these and are returned as they are. An event of another
// aggregate yields nil. It is the one place that knows which fields of
// webhook events are secret.
func Redact(e domain.Event, r domain.Redaction) any {
	switch e := deref(e).(type) {
	case Created:
		if r == domain.RedactHistory {
			e.Secret.Sealed = Redacted
			return e
		}
		return struct {
			ID       string       `json:"id"`
			Settings Settings     `json:"settings"`
			Secret   publicSecret `json:"secret"`
			At       time.Time    `json:"at"`
		}{e.ID, publicSettings(e.Settings), publicSecret{e.Secret.ID}, e.At}
	case Updated:
		if r == domain.RedactHistory {
			return e
		}
		e.Settings, e.Previous = publicSettings(e.Settings), publicSettings(e.Previous)
		return e
	case SecretRotated:
		if r == domain.RedactHistory {
			e.Secret.Sealed = Redacted
			return e
		}
		return struct {
			Secret        publicSecret `json:"secret"`
			PreviousUntil time.Time    `json:"previous_until"`
			At            time.Time    `json:"at"`
		}{publicSecret{e.Secret.ID}, e.PreviousUntil, e.At}
	case Deleted:
		if r == domain.RedactHistory {
			return e
		}
		return struct {
			At time.Time `json:"at"`
		}{e.At}
	case Deactivated, Activated, Replayed:
		return e
	}
	return nil
}

// publicSettings is s with its URL cut to its origin.
func publicSettings(s Settings) Settings {
	s = cloneSettings(s)
	s.URL = Origin(s.URL)
	return s
}

// Origin returns the origin of an endpoint URL, scheme://host[:port],
// without user information, path, query or fragment; "" for a string
// that is not an absolute URL with a host.
func Origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + strings.TrimSuffix(u.Host, ":")
}
