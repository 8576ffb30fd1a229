package domain

// Redaction says who reads an event, and so what of its secret material
// must go. Each aggregate package has one Redact function taking it, the
// only place that knows which fields of its events are secret.
type Redaction uint8

const (
	// RedactHistory is an event as auditors read it in a client's
	// history: the stored event's shape, with every secret value (a
	// secret's hash, a sealed private key, the pairwise subject salt)
	// replaced by a placeholder, so that a reader still sees that there
	// was one.
	RedactHistory Redaction = iota + 1
	// RedactPublic is an event as it leaves the platform, for downstream
	// subscribers: fields that hold secret material are left out
	// altogether, hashes included, and the pairwise subject salt is
	// replaced by the placeholder (its presence tells whether subjects
	// are pairwise).
	RedactPublic
)
