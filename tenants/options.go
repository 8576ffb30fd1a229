package tenants

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/eventstore"
)

// Request carries who issues a command and in answer to what. Its fields
// become the metadata of every event the command appends.
type Request struct {
	// Actor identifies who issued the command: "root", "client:{id}",
	// "user:{sub}@client:{id}", "system". Required.
	Actor string
	// CorrelationID ties together everything one request caused (the HTTP
	// request id, say).
	CorrelationID string
	// CausationID is the id of the message that caused the command.
	CausationID string
	// TraceParent is the W3C trace context of the request.
	TraceParent string
	// Reason is the actor's free-text justification, if any.
	Reason string
	// Source is the network address the request came from, as the server
	// decided it; empty when there was no request (CLI, system).
	Source string
	// UserAgent is the request's User-Agent header, if any. The events
	// keep at most [eventstore.MaxUserAgent] bytes of it, cut on a UTF-8
	// boundary, with invalid UTF-8 and NUL bytes replaced.
	UserAgent string
	// Authority is the platform authority of the actor; the zero
	// Authority (the platform operator's, the platform's own) is
	// unbounded. See [Authority].
	Authority Authority
}

// ErrAuthority matches an *[AuthorityError].
var ErrAuthority = errors.New("tenants: beyond the caller's platform authority")

// Authority bounds what a command may do with platform scopes
// (clavis:*, see scope.IsPlatform): a client command fails with an
// *[AuthorityError] when the client has, or would get, a platform scope
// in its default or optional scopes that the caller does not hold
// (scope.Holds). So a token can never give a client, nor through a
// client's secret itself, more platform authority than it has. The zero
// Authority holds every platform scope.
type Authority struct {
	bounded bool
	scopes  []string
}

// TokenAuthority is the authority of a token with scopes.
func TokenAuthority(scopes []string) Authority {
	return Authority{bounded: true, scopes: append([]string(nil), scopes...)}
}

// AuthorityError names the platform scope that is beyond the caller's
// authority and where it was found.
type AuthorityError struct {
	// Field is "default_scopes" or "optional_scopes", prefixed for an
	// import ("clients[2].default_scopes").
	Field string
	Scope string
}

func (e *AuthorityError) Error() string {
	return fmt.Sprintf("%s: %s is a platform scope the caller's token does not hold", e.Field, e.Scope)
}

// Is makes errors.Is(err, ErrAuthority) true.
func (e *AuthorityError) Is(target error) bool { return target == ErrAuthority }

// allowsClient checks that a holds every platform scope of the default
// and optional scopes of s, normalized as the domain keeps them.
func (a Authority) allowsClient(s client.Settings) error {
	if !a.bounded {
		return nil
	}
	n := s.Normalize()
	for _, f := range []struct {
		field  string
		scopes []string
	}{{"default_scopes", n.DefaultScopes}, {"optional_scopes", n.OptionalScopes}} {
		for _, sc := range f.scopes {
			if scope.IsPlatform(sc) && !scope.Holds(a.scopes, sc) {
				return &AuthorityError{Field: f.field, Scope: sc}
			}
		}
	}
	return nil
}

// ErrNoActor is returned by every command whose [Request] has no Actor:
// an event must always say who caused it.
var ErrNoActor = errors.New("tenants: request has no actor")

// metadata is the events' metadata for a command decided at now.
func (r Request) metadata(now time.Time) (eventstore.Metadata, error) {
	if r.Actor == "" {
		return eventstore.Metadata{}, ErrNoActor
	}
	return eventstore.Metadata{
		Actor:         r.Actor,
		CorrelationID: r.CorrelationID,
		CausationID:   r.CausationID,
		OccurredAt:    now,
		TraceParent:   r.TraceParent,
		Reason:        r.Reason,
		Source:        r.Source,
		UserAgent:     userAgent(r.UserAgent),
	}, nil
}

// userAgent is what an event keeps of a User-Agent header: valid UTF-8
// without NUL bytes, which the store refuses, and at most
// [eventstore.MaxUserAgent] bytes, cut before a character that would
// cross the limit.
func userAgent(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= eventstore.MaxUserAgent {
		return s
	}
	cut := eventstore.MaxUserAgent
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// Option configures a service built by [NewTenants] or [NewClients].
type Option func(*config) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("tenants: invalid option")

// config holds the knobs every service shares.
type config struct {
	now         func() time.Time
	eventID     func() string
	clientID    func() string
	secretID    func() string
	log         *slog.Logger
	catalogues  Catalogues   // only Clients uses it; nil means the store's
	sealer      SecretSealer // only Clients uses it; nil: secrets are only hashed
	auditBase   string       // only Tenants uses it: the public URL without scheme
	views       TenantViews  // only Tenants uses it; nil means the store
	snapshots   int          // only Clients uses it; 0: no snapshots
	maxWebhooks int          // only Webhooks uses it; 0: the default
}

func newConfig(opts []Option) (config, error) {
	c := config{
		now:       time.Now,
		eventID:   newEventID,
		clientID:  newClientID,
		secretID:  secret.NewID,
		log:       slog.New(slog.DiscardHandler),
		snapshots: DefaultSnapshotEvery,
	}
	c.auditBase, _ = auditNameBase(DefaultPublicURL) // a valid constant
	for _, o := range opts {
		if o == nil {
			return config{}, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// WithClock makes the service read the time from now instead of
// [time.Now] (the default). Events store it in UTC, microseconds.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return fmt.Errorf("%w: WithClock: nil clock", ErrInvalidOption)
		}
		c.now = now
		return nil
	}
}

// WithEventIDs makes the service take event ids from next instead of
// random UUIDv7s (the default, time-ordered so that store indexes stay
// compact). Ids must be unique across the store.
func WithEventIDs(next func() string) Option {
	return func(c *config) error {
		if next == nil {
			return fmt.Errorf("%w: WithEventIDs: nil generator", ErrInvalidOption)
		}
		c.eventID = next
		return nil
	}
}

// WithClientIDs makes the service take new client ids from next instead
// of random UUIDv4s (the default: unguessable, so that a client id reveals
// nothing about when or where it was made). Ids are claimed across the
// platform; a taken one fails the registration.
func WithClientIDs(next func() string) Option {
	return func(c *config) error {
		if next == nil {
			return fmt.Errorf("%w: WithClientIDs: nil generator", ErrInvalidOption)
		}
		c.clientID = next
		return nil
	}
}

// WithSecretIDs makes the service take secret ids from next instead of
// "sec_" + 12 random base32 characters (the default). The secret values
// themselves always come from crypto/rand.
func WithSecretIDs(next func() string) Option {
	return func(c *config) error {
		if next == nil {
			return fmt.Errorf("%w: WithSecretIDs: nil generator", ErrInvalidOption)
		}
		c.secretID = next
		return nil
	}
}

// WithLogger makes the service log to l. Without it, or with a nil l,
// the service logs nothing. It logs only what it handles itself, never a
// secret.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			l = slog.New(slog.DiscardHandler)
		}
		c.log = l
		return nil
	}
}

// SecretSealer seals the secrets of clients that authenticate with
// client_secret_jwt, whose secret the server must be able to read back
// (signing.Keyring is one).
type SecretSealer interface {
	SealSecret(tenant, clientID, secret string) (string, error)
}

// WithSecretSealer makes [Clients] keep the secrets of client_secret_jwt
// clients sealed with s instead of hashed; without it those clients'
// secrets are hashed like any other, and client_secret_jwt cannot work.
func WithSecretSealer(s SecretSealer) Option {
	return func(c *config) error {
		if s == nil {
			return fmt.Errorf("%w: WithSecretSealer: nil sealer", ErrInvalidOption)
		}
		c.sealer = s
		return nil
	}
}

// storedSecret is the form in which a secret of client clientID of
// tenant, authenticating with method, is kept: sealed for
// client_secret_jwt when a sealer is configured, hashed otherwise.
func (c config) storedSecret(tenant, clientID string, method client.AuthMethod, value string) (string, error) {
	if method == client.AuthClientSecretJWT && c.sealer != nil {
		return c.sealer.SealSecret(tenant, clientID, value)
	}
	return secret.Hash(value), nil
}

// WithCatalogues makes [Clients] read each tenant's scope catalogue from
// cat, typically the projections' read model, which answers from one
// query. The default reads it from the event store ([StoreCatalogues]):
// always exact, but it scans the tenant's whole history on every
// registration and update. [Tenants] ignores it.
func WithCatalogues(cat Catalogues) Option {
	return func(c *config) error {
		if cat == nil {
			return fmt.Errorf("%w: WithCatalogues: nil catalogue source", ErrInvalidOption)
		}
		c.catalogues = cat
		return nil
	}
}

func newEventID() string { return uuid.Must(uuid.NewV7()).String() }

func newClientID() string { return uuid.NewString() }

// newSecret is a fresh secret with an id from the configured generator.
func (c config) newSecret() Secret {
	return Secret{ID: c.secretID(), Value: secret.NewValue()}
}

// DefaultSnapshotEvery is how many versions of a client's stream lie
// between two of its snapshots unless [WithSnapshotEvery] says otherwise.
const DefaultSnapshotEvery = 100

// WithSnapshotEvery makes [Clients] keep a snapshot of a client at every
// version of its stream that is a multiple of n, in stores that keep
// snapshots (eventstore.Snapshots), and read its past ([Clients.At]) from
// the nearest one. n = 0 neither writes nor reads snapshots; n < 0 is
// refused.
func WithSnapshotEvery(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("%w: WithSnapshotEvery: %d is negative", ErrInvalidOption, n)
		}
		c.snapshots = n
		return nil
	}
}
