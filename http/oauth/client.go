package oauth

import (
	"crypto/sha256"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/projections"
)

// fositeClient shows a client of the read model to fosite. It implements
// fosite.Client, fosite.ClientWithSecretRotation (every active secret
// verifies, so a rotation's overlap works), fosite.OpenIDConnectClient
// (the registered authentication method is the only one accepted) and
// fosite.ClientWithCustomTokenLifespans (the client's own lifetimes).
type fositeClient struct {
	view projections.ClientView
	// assertionAlg is the algorithm of the request's client assertion,
	// when it is one accepted (see withAssertionAlg).
	assertionAlg string
	// hashes are the hashes of the secrets that verify now, newest first.
	hashes [][]byte
	// inline keeps the client's inline key set parsed (see
	// GetJSONWebKeys); nil: parse it on every call.
	inline *inlineKeySets
}

var (
	_ fosite.ClientWithSecretRotation       = (*fositeClient)(nil)
	_ fosite.OpenIDConnectClient            = (*fositeClient)(nil)
	_ fosite.ClientWithCustomTokenLifespans = (*fositeClient)(nil)
	_ fosite.ResponseModeClient             = (*fositeClient)(nil)
)

// newClient wraps v; secrets that expired by now do not verify.
func newClient(v projections.ClientView, now time.Time) *fositeClient {
	c := &fositeClient{view: v}
	for i := len(v.Secrets) - 1; i >= 0; i-- {
		s := v.Secrets[i]
		if s.UsableAt(now) {
			c.hashes = append(c.hashes, []byte(s.Hash))
		}
	}
	return c
}

func (c *fositeClient) GetID() string { return c.view.ClientID }

// GetHashedSecret is the newest secret's hash; the others come from
// GetRotatedHashes. A client without a live secret has none, which no
// secret verifies against.
func (c *fositeClient) GetHashedSecret() []byte {
	if len(c.hashes) == 0 {
		return nil
	}
	return c.hashes[0]
}

func (c *fositeClient) GetRotatedHashes() [][]byte {
	if len(c.hashes) < 2 {
		return nil
	}
	return c.hashes[1:]
}

func (c *fositeClient) GetRedirectURIs() []string { return c.view.Settings.RedirectURIs }

func (c *fositeClient) GetGrantTypes() fosite.Arguments { return c.view.Settings.GrantTypes }

func (c *fositeClient) GetResponseTypes() fosite.Arguments { return c.view.Settings.ResponseTypes }

// GetScopes are the scopes the client may ask for: its default and its
// optional scopes.
func (c *fositeClient) GetScopes() fosite.Arguments {
	s := c.view.Settings
	return append(slices.Clone(s.DefaultScopes), s.OptionalScopes...)
}

// IsPublic reports a client that does not authenticate.
func (c *fositeClient) IsPublic() bool {
	return c.view.Settings.TokenEndpointAuthMethod == client.AuthNone
}

// GetAudience is empty: a client does not choose the audience of its
// tokens; the API scopes it is granted do.
func (c *fositeClient) GetAudience() fosite.Arguments { return nil }

// GetJSONWebKeysURI is where the client publishes its public keys (for
// private_key_jwt) when it registered no inline jwks; fosite fetches
// them through the provider's keySets, which keeps them and refuses
// non-public addresses.
func (c *fositeClient) GetJSONWebKeysURI() string { return c.view.Settings.JWKSURI }

// GetJSONWebKeys are the client's registered public keys (for
// private_key_jwt), nil when it registered none (or a jwks_uri), or when
// the set fails parseKeySet's checks (it then verifies nothing). The set
// is parsed once per version of the client (inlineKeySets).
func (c *fositeClient) GetJSONWebKeys() *jose.JSONWebKeySet {
	if len(c.view.Settings.JWKS) == 0 {
		return nil
	}
	if c.inline == nil {
		set, _ := parseKeySet(c.view.Settings.JWKS)
		return set
	}
	return c.inline.of(c.view)
}

// inlineKeySetsKept bounds the parsed inline key sets kept: one per
// client that authenticates with one.
const inlineKeySetsKept = 1024

// inlineKeySets keeps clients' inline key sets parsed, so that the
// assertion of each request does not parse its client's set again (up
// to 64 KiB of JSON, and the keys made of it). An entry is the set of
// one client of one tenant as of one version of the client, and is used
// only for a view of that version with the same JSON (compared by its
// SHA-256; the JSON is not kept); a newer version replaces it. At most inlineKeySetsKept are kept, any one forgotten to
// make room. A set that fails parseKeySet is kept as nil. The sets are
// shared: fosite only reads them.
type inlineKeySets struct {
	mu   sync.Mutex
	sets map[inlineKeySetID]inlineKeySet
	// parses counts the sets parsed (for tests).
	parses atomic.Int64
}

type inlineKeySetID struct{ tenant, clientID string }

type inlineKeySet struct {
	version int64
	sum     [sha256.Size]byte // of the set's JSON
	keys    *jose.JSONWebKeySet
}

// of is v's inline key set, parsed (nil if it fails parseKeySet).
func (k *inlineKeySets) of(v projections.ClientView) *jose.JSONWebKeySet {
	id := inlineKeySetID{v.Tenant, v.ClientID}
	sum := sha256.Sum256(v.Settings.JWKS)
	k.mu.Lock()
	s, ok := k.sets[id]
	k.mu.Unlock()
	if ok && s.version == v.Version && s.sum == sum {
		return s.keys
	}
	keys, err := parseKeySet(v.Settings.JWKS)
	k.parses.Add(1)
	if err != nil {
		keys = nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if cur, ok := k.sets[id]; ok && cur.version > v.Version {
		return keys // a view older than the one kept: do not go back
	}
	if k.sets == nil {
		k.sets = map[inlineKeySetID]inlineKeySet{}
	}
	if _, ok := k.sets[id]; !ok && len(k.sets) >= inlineKeySetsKept {
		for other := range k.sets { // forget one, any
			delete(k.sets, other)
			break
		}
	}
	k.sets[id] = inlineKeySet{version: v.Version, sum: sum, keys: keys}
	return keys
}

// GetTokenEndpointAuthSigningAlgorithm is the algorithm of the request's
// client assertion when it is an asymmetric one; fosite then verifies it
// with the client's registered key of that kind, by kid.
func (c *fositeClient) GetTokenEndpointAuthSigningAlgorithm() string { return c.assertionAlg }

func (c *fositeClient) GetRequestObjectSigningAlgorithm() string { return "" }

func (c *fositeClient) GetTokenEndpointAuthMethod() string {
	return string(c.view.Settings.TokenEndpointAuthMethod)
}

func (c *fositeClient) GetRequestURIs() []string { return nil }

// GetResponseModes are the response modes fosite answers in: all three;
// fosite itself refuses tokens in a query.
func (c *fositeClient) GetResponseModes() []fosite.ResponseModeType {
	return []fosite.ResponseModeType{fosite.ResponseModeDefault, fosite.ResponseModeQuery, fosite.ResponseModeFragment, fosite.ResponseModeFormPost}
}

// GetEffectiveLifespan is the client's own lifetime for access tokens, ID
// tokens, authorization codes and refresh tokens.
func (c *fositeClient) GetEffectiveLifespan(_ fosite.GrantType, tt fosite.TokenType, fallback time.Duration) time.Duration {
	return lifespan(c.view.Settings, tt, fallback)
}

// lifespan is how long a token of type tt of a client with settings s
// lives: the client's own lifetime, or fallback when it has none.
func lifespan(s client.Settings, tt fosite.TokenType, fallback time.Duration) time.Duration {
	seconds := 0
	switch tt {
	case fosite.AccessToken:
		seconds = s.AccessTokenLifetime
	case fosite.IDToken:
		seconds = s.IDTokenLifetime
	case fosite.AuthorizeCode:
		seconds = s.AuthorizationCodeLifetime
	case fosite.RefreshToken:
		// Each refresh token lives the sliding lifetime when the client
		// slides; the family never outlives the absolute one (family.Ends).
		seconds = s.RefreshTokenAbsoluteLifetime
		if s.RefreshTokenExpiration == client.RefreshSliding {
			seconds = s.RefreshTokenSlidingLifetime
		}
	}
	if seconds <= 0 {
		return fallback
	}
	return time.Duration(seconds) * time.Second
}
