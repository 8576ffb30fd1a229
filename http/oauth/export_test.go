package oauth

import (
	"context"

	jose "github.com/go-jose/go-jose/v3"
)

// InlineKeySetParses is how many inline key sets p has parsed.
func InlineKeySetParses(p *Provider) int64 { return p.inlineKeys.parses.Load() }

// ParseKeySet is parseKeySet: how a client's key set is read for use.
func ParseKeySet(raw []byte) (*jose.JSONWebKeySet, error) { return parseKeySet(raw) }

// CheckAssertionSize is checkAssertionSize: the bounds on a client
// assertion checked before anything else.
func CheckAssertionSize(assertion string) error { return checkAssertionSize(assertion) }

// AssertionAlg is the algorithm the token endpoint notes of a request's
// client assertion, unverified ("" when it notes none).
func AssertionAlg(assertion string) string {
	return assertionAlg(withAssertionAlg(context.Background(), assertion))
}

// AssertionAlgs are the algorithms a client assertion may name.
var AssertionAlgs = assertionAlgs

// ReadIDTokenHint is readIDTokenHint: the reading of an id_token_hint
// at the logout endpoint. It returns the hint's subject.
func ReadIDTokenHint(ctx context.Context, p *Provider, slug, token string) (string, error) {
	h, err := p.readIDTokenHint(ctx, slug, token)
	return h.Subject, err
}
