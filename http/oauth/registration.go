package oauth

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"time"
)

// ErrRegistrationToken is a registration access token (RFC 7592) that is
// not the one of the client it is used for.
var ErrRegistrationToken = errors.New("oauth: invalid registration access token")

// registrationPurpose marks a registration access token's claims: it
// carries no exp, so no endpoint takes it for an access token.
const registrationPurpose = "registration"

type registrationClaims struct {
	Purpose  string `json:"purpose"`
	ClientID string `json:"client_id"`
	Iat      int64  `json:"iat"`
}

// RegistrationToken issues the registration access token (RFC 7592) of
// client clientID of tenant slug: opaque, encrypted like a reference
// token, and good for as long as the client exists.
func (p *Provider) RegistrationToken(slug, clientID string) (string, error) {
	raw, err := json.Marshal(registrationClaims{Purpose: registrationPurpose, ClientID: clientID, Iat: p.now().Unix()})
	if err != nil {
		return "", err
	}
	return p.keys.SealRegistration(slug, raw)
}

// VerifyRegistrationToken checks that token is a registration access
// token of client clientID of tenant slug.
func (p *Provider) VerifyRegistrationToken(slug, clientID, token string) error {
	raw, err := p.keys.OpenRegistration(slug, token)
	if err != nil {
		return ErrRegistrationToken
	}
	var c registrationClaims
	if json.Unmarshal(raw, &c) != nil || c.Purpose != registrationPurpose ||
		subtle.ConstantTimeCompare([]byte(c.ClientID), []byte(clientID)) != 1 || time.Unix(c.Iat, 0).After(p.now().Add(clockSkew)) {
		return ErrRegistrationToken
	}
	return nil
}
