package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"
)

// introspection is an RFC 7662 answer. An inactive token shows nothing
// but active.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	ID        string   `json:"jti,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	// Permissions are those of the token still held: "{scope}:{permission}".
	Permissions []string `json:"permissions,omitempty"`
}

// ServeIntrospect is tenant slug's introspection endpoint (RFC 7662): a
// confidential or m2m client of the tenant, authenticated as at the token
// endpoint, asks whether a token is active. A token is active when
// [Provider.VerifyAccessToken] accepts it and the tenant issued it; any
// other token, a token of another tenant included, is {"active": false}.
// Public clients may not introspect (invalid_client). For a tenant that
// does not exist it writes nothing and returns [ErrUnknownTenant].
func (p *Provider) ServeIntrospect(w http.ResponseWriter, r *http.Request, slug string) error {
	ctx, c, ar, err := p.clientRequest(w, r, slug)
	if c == nil {
		return err
	}
	if c.IsPublic() {
		p.writeError(ctx, w, r, ar, fosite.ErrInvalidClient.WithHint("Public clients may not introspect tokens."))
		return nil
	}
	token := r.PostForm.Get("token")
	if token == "" {
		p.writeError(ctx, w, r, ar, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
		return nil
	}
	answer := introspection{}
	at, err := p.VerifyAccessToken(ctx, token)
	switch {
	case errors.Is(err, ErrInvalidToken):
	case err != nil:
		p.writeError(ctx, w, r, ar, fosite.ErrServerError.WithWrap(err))
		return nil
	case at.Tenant == slug:
		answer = introspection{Active: true, Scope: strings.Join(at.Scopes, " "), ClientID: at.ClientID,
			Subject: at.Subject, Issuer: at.Issuer, Audience: at.Audience, Expiry: at.Expiry.Unix(),
			IssuedAt: at.IssuedAt.Unix(), ID: at.ID, TokenType: "Bearer", Permissions: at.Permissions}
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(w).Encode(answer)
}

// clientRequest starts an endpoint that a client of tenant slug calls
// with a POSTed form (introspection, revocation): it reads the tenant and
// authenticates the client as the token endpoint does. When it returns
// no client it has answered the request already (an RFC 6749 error), or
// returns [ErrUnknownTenant] having written nothing.
func (p *Provider) clientRequest(w http.ResponseWriter, r *http.Request, slug string) (context.Context, fosite.Client, fosite.AccessRequester, error) {
	ar := fosite.NewAccessRequest(nil)
	ctx, ok, err := p.begin(w, r, slug, ar)
	if !ok {
		return nil, nil, ar, err
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		p.writeError(ctx, w, r, ar, fosite.ErrInvalidRequest.WithHint("This endpoint takes a POSTed form."))
		return nil, nil, ar, nil
	}
	if ctx, ok = p.credentialsGiven(ctx, w, r, ar, r.PostForm.Get); !ok {
		return nil, nil, ar, nil
	}
	c, err := p.fosite.AuthenticateClient(ctx, r, r.PostForm)
	if err != nil {
		p.writeError(ctx, w, r, ar, authError(r, err))
		return nil, nil, ar, nil
	}
	return ctx, c, ar, nil
}
