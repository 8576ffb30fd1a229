package oauth

import (
	"encoding/json"
	"slices"
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
// private_key_jwt), nil when it registered none (or a jwks_uri).
func (c *fositeClient) GetJSONWebKeys() *jose.JSONWebKeySet {
	if len(c.view.Settings.JWKS) == 0 {
		return nil
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(c.view.Settings.JWKS, &set); err != nil {
		return nil // validated on registration; an unreadable set verifies nothing
	}
	return &set
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
