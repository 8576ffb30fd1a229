package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// session is what fosite carries from the authorization endpoint to the
// tokens: the ID token's claims and the expiries (OpenID Connect's
// session) and the access token's claims and header (fosite's JWT
// access token strategy reads those through GetJWTClaims and
// GetJWTHeader).
type session struct {
	openid.DefaultSession
	Access       *jwt.JWTClaims `json:"access"`
	AccessHeader *jwt.Headers   `json:"access_header"`
	// UserClaims are what the login application said of the user, for
	// the ID token and userinfo; nil in client_credentials.
	UserClaims map[string]any `json:"user_claims,omitempty"`
}

var (
	_ openid.Session = (*session)(nil)
)

func newSession() *session {
	return &session{
		DefaultSession: openid.DefaultSession{
			Claims:  &jwt.IDTokenClaims{Extra: map[string]any{}},
			Headers: &jwt.Headers{Extra: map[string]any{}},
		},
		Access:       &jwt.JWTClaims{Extra: map[string]any{}},
		AccessHeader: &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}},
	}
}

// GetJWTClaims are the access token's claims.
func (s *session) GetJWTClaims() jwt.JWTClaimsContainer { return s.Access }

// GetJWTHeader is the access token's header.
func (s *session) GetJWTHeader() *jwt.Headers { return s.AccessHeader }

// Clone copies the session deeply, through its record's encoding (CBOR,
// which keeps what JSON would: see recordCBOR); fosite clones it on the
// authorization code and refresh paths only.
func (s *session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	raw, err := recordEnc.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("oauth: clone session: %v", err)) // all fields are JSON values
	}
	c := new(session)
	if err := recordDec.Unmarshal(raw, c); err != nil {
		panic(fmt.Sprintf("oauth: clone session: %v", err))
	}
	return c
}

// renew readies a stored session for a new access token: a new jti, and
// the times fosite fills in when they are zero.
func (s *session) renew(jti string) {
	s.Access.JTI = jti
	s.Access.IssuedAt = time.Time{}
	s.Access.NotBefore = time.Time{}
	s.Claims.IssuedAt = time.Time{}
	s.Claims.AccessTokenHash = ""
	s.Claims.CodeHash = ""
}

// storedRequest is a fosite request as the grant store keeps it: the
// client by its id, the session encoded apart (in CBOR, or, written
// before records were, in JSON), so that it is decoded only into the
// session fosite passes.
type storedRequest struct {
	_                 struct{}        `cbor:",toarray"`
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScope    []string        `json:"scope"`
	GrantedScope      []string        `json:"granted_scope"`
	RequestedAudience []string        `json:"audience,omitempty"`
	GrantedAudience   []string        `json:"granted_audience,omitempty"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
}

func storeRequest(r fosite.Requester) (storedRequest, error) {
	sess, err := recordEnc.Marshal(r.GetSession())
	if err != nil {
		return storedRequest{}, err
	}
	return storedRequest{
		ID: r.GetID(), RequestedAt: r.GetRequestedAt(), ClientID: r.GetClient().GetID(),
		RequestedScope: r.GetRequestedScopes(), GrantedScope: r.GetGrantedScopes(),
		RequestedAudience: r.GetRequestedAudience(), GrantedAudience: r.GetGrantedAudience(),
		Form: r.GetRequestForm(), Session: sess,
	}, nil
}

// load rebuilds the request, decoding the session into into (fosite
// passes the session of the request at hand) and reading the client
// afresh: a client deactivated since is not found, and the request
// fails.
func (sr storedRequest) load(ctx context.Context, s *storage, into fosite.Session) (*fosite.Request, error) {
	c, err := s.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, err
	}
	if into == nil {
		into = newSession()
	}
	if len(sr.Session) > 0 { // a used refresh token (legacy) keeps none
		if err := decodeSession(sr.Session, into); err != nil {
			return nil, fmt.Errorf("oauth: stored session: %w", err)
		}
	}
	// Copies of what the request may change (fosite grants scopes and
	// audiences by appending): a code's record is read once a request,
	// for the code and each of its parts.
	return &fosite.Request{
		ID: sr.ID, RequestedAt: sr.RequestedAt, Client: c,
		RequestedScope: slices.Clone(sr.RequestedScope), GrantedScope: slices.Clone(sr.GrantedScope),
		RequestedAudience: slices.Clone(sr.RequestedAudience), GrantedAudience: slices.Clone(sr.GrantedAudience),
		Form: cloneForm(sr.Form), Session: into,
	}, nil
}

// cloneForm is a copy of f, nil for nil.
func cloneForm(f url.Values) url.Values {
	if f == nil {
		return nil
	}
	c := make(url.Values, len(f))
	for k, v := range f {
		c[k] = slices.Clone(v)
	}
	return c
}

// decodeSession decodes a stored session into into: CBOR, or JSON (an
// object, '{') when written before records were CBOR.
func decodeSession(raw []byte, into any) error {
	if raw[0] == recordJSON {
		return json.Unmarshal(raw, into)
	}
	return recordDec.Unmarshal(raw, into)
}
