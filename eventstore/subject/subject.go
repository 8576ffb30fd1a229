// Package subject names what one Clavis installation keeps in NATS: the
// subjects events are published on, the streams that hold them, the
// key-value buckets of the relay's lease and of the OAuth provider, and
// the node's reply inbox. Every name derives from one prefix, so several
// installations (or test runs) can share a NATS server. The relay
// publishes under these names; projections, the OAuth stores, the
// embedded server's permissions and downstream tools read them.
package subject

import (
	"fmt"
	"regexp"
	"strings"
)

// DefaultPrefix is the subject prefix unless configured otherwise.
const DefaultPrefix = "clavis"

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Names derives stream, subject and bucket names from one prefix, so that
// several Clavis installations (or test runs) can share a NATS server.
type Names struct {
	Prefix string
}

// NewNames validates prefix (lowercase letters, digits, '-' and '_').
func NewNames(prefix string) (Names, error) {
	if !prefixRE.MatchString(prefix) {
		return Names{}, fmt.Errorf("subject: prefix %q must match %s", prefix, prefixRE)
	}
	return Names{Prefix: prefix}, nil
}

func (n Names) upper() string { return strings.ToUpper(strings.ReplaceAll(n.Prefix, "-", "_")) }

// InternalStream is the name of the stream with whole envelopes.
func (n Names) InternalStream() string { return n.upper() + "_INTERNAL" }

// PublicStream is the name of the stream with public CloudEvents.
func (n Names) PublicStream() string { return n.upper() + "_EVENTS" }

// LeaseBucket is the key-value bucket holding the relay's lease.
func (n Names) LeaseBucket() string { return n.upper() + "_LEASES" }

// RevokedBucket is the key-value bucket holding revoked access tokens.
func (n Names) RevokedBucket() string { return n.upper() + "_REVOKED" }

// AssertionsBucket is the key-value bucket holding the client assertions
// already used.
func (n Names) AssertionsBucket() string { return n.upper() + "_ASSERTIONS" }

// GrantsPrefix starts the names of the key-value buckets holding the
// browser flows, codes, refresh tokens and login sessions.
func (n Names) GrantsPrefix() string { return n.upper() }

// InboxPrefix is the prefix of the node's own reply subjects (its
// connections' nats.CustomInboxPrefix): {PREFIX}_INBOX, "_CLAVIS_INBOX"
// by default. Every JetStream reply, pull delivery and key-value read of
// the node arrives there, secret hashes and grants included, so only the
// node's user may subscribe to it; other users keep NATS's default
// "_INBOX" and may be given that one.
func (n Names) InboxPrefix() string { return "_" + n.upper() + "_INBOX" }

// WakeSubject is the core NATS subject that tells the relay new events
// were committed.
func (n Names) WakeSubject() string { return n.Prefix + ".wake" }

// InternalSubject is where the internal stream keeps an event.
func (n Names) InternalSubject(tenant, eventType string) string {
	return n.Prefix + ".internal." + subjectTail(tenant, eventType)
}

// PublicSubject is where the public stream keeps an event:
// {prefix}.events.{tenant}.{aggregate}.{event}.
func (n Names) PublicSubject(tenant, eventType string) string {
	return n.Prefix + ".events." + subjectTail(tenant, eventType)
}

// InternalFilter matches every internal subject; PublicFilter every public one.
func (n Names) InternalFilter() string { return n.Prefix + ".internal.>" }

// PublicFilter matches every public subject.
func (n Names) PublicFilter() string { return n.Prefix + ".events.>" }

// subjectTail is "{tenant}.{aggregate}.{event}" from a tenant slug and an
// event type "aggregate.event". Slugs are DNS labels and event types are
// snake_case, so no token holds a '.', '*' or '>'; anything else is
// escaped rather than allowed to change the subject's shape.
func subjectTail(tenant, eventType string) string {
	aggregate, event, ok := strings.Cut(eventType, ".")
	if !ok {
		aggregate, event = "unknown", eventType
	}
	return token(tenant) + "." + token(aggregate) + "." + token(event)
}

func token(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}
