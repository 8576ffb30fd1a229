package webhook

import (
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

// Redact returns e as r's readers may see it ([domain.Redaction]): a
// sealed secret becomes [Redacted] in history and is left out of the
// public form, which keeps the secret's id; the other events hold no
// secret and are returned as they are. An event of another aggregate
// yields nil. It is the one place that knows which fields of webhook
// events are secret.
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
		}{e.ID, e.Settings, publicSecret{e.Secret.ID}, e.At}
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
	case Updated, Deactivated, Activated, Replayed, Deleted:
		return e
	}
	return nil
}
