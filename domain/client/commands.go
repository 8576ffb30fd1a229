package client

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/scope"
)

// MaxClientIDLength bounds a client_id.
const MaxClientIDLength = 128

// Register returns the events that register a new client: one
// [ClientRegistered], active, holding initial as its only secret.
//
// id is the client_id the caller generated: 1..128 printable ASCII
// characters without spaces, quotes or backslashes (field "client_id").
// s is normalised ([Settings.Normalize]) and validated
// ([Settings.Validate]). A client whose auth method uses a secret must be
// given its initial secret (field "client_secret", code "required"); a
// public client must not be given one ("not_allowed"); other clients may be
// given one to switch to a secret later. A pairwise subject salt of
// [Redacted] is refused ("pairwise_subject_salt", "invalid_value"): the
// caller replaces it with a salt of the client's own. Every problem is
// reported in one *[domain.ValidationError].
//
// Register does not know whether the id or the code is taken: the event's
// claims make the event store refuse duplicates atomically, and appending
// to a stream that already exists is refused by the store's new-stream
// expectation.
//
// A code in the platform's namespace ([PlatformCodePrefix]) is refused
// ("code", "reserved"): only [RegisterPlatform] registers such a client.
func Register(id string, s Settings, cat scope.Catalogue, initial *Secret, now time.Time) ([]domain.Event, error) {
	return register(id, s, cat, initial, "", false, at(now))
}

// RegisterPlatform is [Register] for a client the platform creates and
// manages itself (a tenant's admin client), whose code must be in the
// platform's namespace ([PlatformCodePrefix]) and never changes.
func RegisterPlatform(id string, s Settings, cat scope.Catalogue, initial *Secret, now time.Time) ([]domain.Event, error) {
	return register(id, s, cat, initial, "", true, at(now))
}

func register(id string, s Settings, cat scope.Catalogue, initial *Secret, clonedFrom string, platform bool, now time.Time) ([]domain.Event, error) {
	var c checker
	switch {
	case id == "":
		c.add("client_id", "required", "client_id is required")
	case len(id) > MaxClientIDLength || !scope.ValidToken(id):
		c.add("client_id", "invalid_value", "client_id must be 1..%d printable ASCII characters without spaces, quotes or backslashes", MaxClientIDLength)
	}
	s = s.Normalize()
	s.check(&c, cat, nil)
	checkPlatformCode(&c, s.Code, platform, nil)
	if s.PairwiseSubjectSalt == Redacted {
		c.add("pairwise_subject_salt", "invalid_value", "%s stands for a salt that is never shown; give the client a salt of its own", Redacted)
	}
	var secrets []Secret
	if initial != nil {
		if s.Type == TypePublic {
			c.add("client_secret", "not_allowed", "a public client cannot keep a secret")
		} else {
			secrets = []Secret{prepareSecret(&c, "client_secret", *initial, nil, now)}
		}
	}
	checkSecretState(&c, s, secrets, now)
	if err := c.err(); err != nil {
		return nil, err
	}
	return []domain.Event{ClientRegistered{
		ClientID:   id,
		Settings:   s,
		Active:     true,
		Secrets:    secrets,
		ClonedFrom: clonedFrom,
		At:         now,
	}}, nil
}

// Clone returns the events that register a new client, newID, copying every
// setting of c except the name and the code, which are given (the code must
// be unique in the tenant too), the secrets, which are never copied:
// initial is the new client's secret, under the rules of [Register], and
// the pairwise subject salt, which is secret too: salt is the new client's
// own, so that it never shares c's pairwise subjects. When c has a salt,
// salt must be given and differ from it ("pairwise_subject_salt",
// "required"); when c has none, salt is ignored. The events belong to the
// new client's stream; [ClientRegistered.ClonedFrom] names c. The copy is
// active whether or not c is, and is validated like a registration,
// against today's catalogue.
func (c *Client) Clone(newID, name, code, salt string, cat scope.Catalogue, initial *Secret, now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	s := c.settings.clone()
	s.ClientName, s.Code = name, code
	if s.PairwiseSubjectSalt != "" {
		if salt == "" || salt == s.PairwiseSubjectSalt {
			var ch checker
			ch.add("pairwise_subject_salt", "required", "a clone of a client with pairwise subjects needs a salt of its own")
			return nil, ch.err()
		}
		s.PairwiseSubjectSalt = salt
	}
	return register(newID, s, cat, initial, c.id, false, at(now))
}

// Update returns the events that apply the patch p: one [ClientUpdated]
// with the whole resulting settings and the names of those that changed,
// or no events when nothing would change.
//
// The patch is applied to the current settings, and the result normalised
// and validated whole against today's catalogue: a setting that has become
// invalid (a scope removed from the catalogue) must be fixed in the same
// update. When the type, the auth method or the secrets change, the result
// must also hold a secret usable at now if its auth method needs one
// ("client_secret", "required"). The type may change when the result
// validates. Changing the type to public revokes every secret the client
// holds in the same command (one [SecretRevoked] each, after the update),
// because a public client cannot keep one and the last secret could not be
// revoked otherwise. p.NewSecret adds a secret in the same command (one
// [SecretAdded] last), under the rules of [Client.AddSecret]. A pairwise
// subject salt of [Redacted] (what reads show) leaves the salt unchanged.
func (c *Client) Update(p Patch, cat scope.Catalogue, now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	now = at(now)
	if p.PairwiseSubjectSalt != nil && strings.TrimSpace(*p.PairwiseSubjectSalt) == Redacted {
		// What a read showed, sent back: the salt stays as it is.
		p.PairwiseSubjectSalt = nil
	}
	next := p.apply(c.settings.clone()).Normalize()
	changed := changedFields(c.settings, next)
	if len(changed) == 0 && p.NewSecret == nil {
		return nil, nil
	}
	var ch checker
	if len(changed) > 0 {
		next.check(&ch, cat, &c.settings)
		checkPlatformCode(&ch, next.Code, false, &c.settings.Code)
	}
	held := c.Secrets()
	var revoked []string
	if next.Type == TypePublic {
		for _, s := range held {
			revoked = append(revoked, s.ID)
		}
		held = nil
	}
	var added *Secret
	if p.NewSecret != nil {
		if next.Type == TypePublic {
			ch.add("client_secret", "not_allowed", "a public client cannot keep a secret")
		} else {
			s := prepareSecret(&ch, "client_secret", *p.NewSecret, c.usedSecretIDs, now)
			if len(held) >= MaxSecrets {
				ch.add("client_secret", "too_many", "a client holds at most %d secrets; revoke expired ones first", MaxSecrets)
			}
			held = append(held, s)
			added = &s
		}
	}
	// Whether a usable secret exists changes with the clock alone, so it is
	// checked only when this update changes what the client needs: its type,
	// its auth method or its secrets. A client whose secrets merely expired
	// can still be renamed.
	if slices.Contains(changed, "type") || slices.Contains(changed, "token_endpoint_auth_method") || added != nil {
		checkSecretState(&ch, next, held, now)
	}
	if err := ch.err(); err != nil {
		return nil, err
	}
	var events []domain.Event
	if len(changed) > 0 {
		u := ClientUpdated{Settings: next, Changed: changed, At: now}
		if next.Code != c.settings.Code {
			u.PreviousCode = c.settings.Code
		}
		events = append(events, u)
	}
	for _, id := range revoked {
		events = append(events, SecretRevoked{SecretID: id, At: now})
	}
	if added != nil {
		events = append(events, SecretAdded{Secret: *added, At: now})
	}
	return events, nil
}

// AddSecret returns a [SecretAdded] event for secret, stamped with now as
// its creation time. Public clients cannot hold secrets ("client_secret",
// "not_allowed"). The id must be new to the client, never used before
// ("client_secret.id", "duplicate"); an expiry must be after now
// ("client_secret.expires_at", "out_of_range"); and the client may hold at
// most [MaxSecrets] secrets, expired ones included until they are revoked
// ("client_secret", "too_many"). Expired secrets are not pruned
// automatically so that every removal is an explicit, audited revocation.
func (c *Client) AddSecret(secret Secret, now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	now = at(now)
	var ch checker
	if c.settings.Type == TypePublic {
		ch.add("client_secret", "not_allowed", "a public client cannot keep a secret")
		return nil, ch.err()
	}
	s := prepareSecret(&ch, "client_secret", secret, c.usedSecretIDs, now)
	if len(c.secrets) >= MaxSecrets {
		ch.add("client_secret", "too_many", "a client holds at most %d secrets; revoke expired ones first", MaxSecrets)
	}
	if err := ch.err(); err != nil {
		return nil, err
	}
	return []domain.Event{SecretAdded{Secret: s, At: now}}, nil
}

// RevokeSecret returns a [SecretRevoked] event for the secret with the
// given id. It returns an error wrapping [domain.ErrSecretNotFound] when
// the client holds no such secret, and [domain.ErrLastSecret] when the
// secret is the last one usable at now and the client's auth method needs
// a secret: rotate it instead, or change the auth method first.
func (c *Client) RevokeSecret(secretID string, now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	now = at(now)
	i := c.secretIndex(secretID)
	if i < 0 {
		return nil, fmt.Errorf("revoke secret %q: %w", secretID, domain.ErrSecretNotFound)
	}
	if c.settings.TokenEndpointAuthMethod.UsesSecret() && c.secrets[i].UsableAt(now) {
		others := slices.ContainsFunc(c.secrets, func(s Secret) bool { return s.ID != secretID && s.UsableAt(now) })
		if !others {
			return nil, domain.ErrLastSecret
		}
	}
	return []domain.Event{SecretRevoked{SecretID: secretID, At: now}}, nil
}

// RotateSecret returns a [SecretRotated] event that adds newSecret, under
// the rules of [Client.AddSecret], and makes every other secret usable at
// now expire at now+overlap, unless it already expires earlier. overlap is
// how long callers have to switch to the new secret, 0 to 30 days (field
// "overlap", "out_of_range"); with 0 the old secrets stop working at once.
func (c *Client) RotateSecret(newSecret Secret, overlap time.Duration, now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	now = at(now)
	var ch checker
	if c.settings.Type == TypePublic {
		ch.add("client_secret", "not_allowed", "a public client cannot keep a secret")
		return nil, ch.err()
	}
	if overlap < 0 || overlap > MaxRotationOverlap {
		ch.add("overlap", "out_of_range", "overlap must be between 0 and %s", MaxRotationOverlap)
	}
	s := prepareSecret(&ch, "client_secret", newSecret, c.usedSecretIDs, now)
	if len(c.secrets) >= MaxSecrets {
		ch.add("client_secret", "too_many", "a client holds at most %d secrets; revoke expired ones first", MaxSecrets)
	}
	if err := ch.err(); err != nil {
		return nil, err
	}
	until := at(now.Add(overlap))
	var expiring []SecretExpiry
	for _, old := range c.secrets {
		if old.UsableAt(now) && (old.ExpiresAt == nil || until.Before(*old.ExpiresAt)) {
			expiring = append(expiring, SecretExpiry{SecretID: old.ID, ExpiresAt: until})
		}
	}
	return []domain.Event{SecretRotated{New: s, Expiring: expiring, At: now}}, nil
}

// Activate returns a [ClientActivated] event, or no events when the client
// is already active.
func (c *Client) Activate(now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	if c.active {
		return nil, nil
	}
	return []domain.Event{ClientActivated{At: at(now)}}, nil
}

// Deactivate returns a [ClientDeactivated] event, or no events when the
// client is already inactive (the first reason stands). The reason is
// optional, trimmed, at most [MaxReasonLength] characters (field "reason");
// it is validated even when nothing would change.
func (c *Client) Deactivate(reason string, now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	var ch checker
	switch {
	case !utf8.ValidString(reason) || strings.ContainsFunc(reason, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}):
		ch.add("reason", "invalid_value", "reason must be UTF-8 text without control characters")
	case utf8.RuneCountInString(reason) > MaxReasonLength:
		ch.add("reason", "too_long", "reason must be at most %d characters", MaxReasonLength)
	}
	if err := ch.err(); err != nil {
		return nil, err
	}
	if !c.active {
		return nil, nil
	}
	return []domain.Event{ClientDeactivated{Reason: reason, At: at(now)}}, nil
}

// Delete returns a [ClientDeleted] event, which releases the client's code.
// Afterwards every command, Delete included, returns [domain.ErrDeleted].
func (c *Client) Delete(now time.Time) ([]domain.Event, error) {
	if err := c.live(); err != nil {
		return nil, err
	}
	return []domain.Event{ClientDeleted{Code: c.settings.Code, At: at(now)}}, nil
}
