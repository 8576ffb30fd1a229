package tenants

import (
	"context"
	"fmt"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
)

// ConsoleClientCode is the code of a tenant's console client: the
// first-party public client through which people sign in to the tenant's
// console (authorization code with PKCE). Its code is in the platform's
// namespace ([client.PlatformCodePrefix]), so no one else registers it.
const ConsoleClientCode = client.PlatformCodePrefix + "console"

// ConsoleScopes are the platform scopes the console asks for when a
// person signs in; the tenant's login application grants those the person
// may hold, and the console does what they allow and nothing more.
var ConsoleScopes = []string{scope.Admin, scope.ClientsRead, scope.ClientsWrite, scope.Audit}

// ConsoleClientSettings are the settings of a tenant's console client,
// whose console signs people in at callbackURL and sends them to homeURL
// after they sign out: public, authorization code and PKCE (S256) only,
// openid by default and the [ConsoleScopes] optional, consent required, so
// that the login application decides at consent which of them a person
// gets. Its access tokens are the console's sessions: they last an hour.
func ConsoleClientSettings(callbackURL, homeURL string) client.Settings {
	s := client.DefaultSettings(client.TypePublic)
	s.ClientName = "Clavis console"
	s.Description = "The tenant's console; created by the platform the first time someone opens it."
	s.Code = ConsoleClientCode
	s.GrantTypes = []string{client.GrantAuthorizationCode}
	s.RedirectURIs = []string{callbackURL}
	s.PostLogoutRedirectURIs = []string{homeURL}
	s.DefaultScopes = []string{scope.OpenID}
	s.OptionalScopes = append([]string(nil), ConsoleScopes...)
	s.ConsentRequired = true
	s.AllowRememberConsent = false
	s.AccessTokenLifetime = 3600
	return s
}

// RegisterConsole registers tenant slug's console client with
// [ConsoleClientSettings], as the platform. When the tenant has one
// already the error matches [eventstore.ErrClaimTaken] (its code is
// claimed): the caller reads the one there is.
func (c *Clients) RegisterConsole(ctx context.Context, req Request, slug, callbackURL, homeURL string) (ClientResult, error) {
	res, err := register(ctx, c.store, c.cfg, req, slug, ConsoleClientSettings(callbackURL, homeURL), scope.NewCatalogue(), client.RegisterPlatform, nil)
	if err != nil {
		return ClientResult{}, fmt.Errorf("register console client: %w", err)
	}
	return res, nil
}
