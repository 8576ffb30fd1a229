// Package scope holds the per-tenant scope catalogue: the set of OAuth 2.0
// scope values a client of one tenant may be given.
//
// A tenant's catalogue has three kinds of scopes:
//
//   - identity scopes, the fixed OpenID Connect ones ([OpenID], [Profile],
//     [Email], [Address], [Phone], [OfflineAccess]);
//   - platform scopes, which Clavis issues for its own admin API
//     ([Admin], [Audit], [ClientsRead], [ClientsWrite], [EventsRead], [Login]);
//   - API scopes, "{code}:{suffix}", one for every scope suffix that a
//     resource-server client of the tenant defines under its code, for
//     example "urn:acme/orders:read".
//
// The identity and platform scopes are in every catalogue, including the
// zero [Catalogue], so that they never depend on what the tenant registered.
// The package is pure: it imports only the standard library.
package scope

import "strings"

// The OpenID Connect identity scopes (OpenID Connect Core 1.0 §5.4 and
// §11). They are in every catalogue.
const (
	// OpenID marks an OpenID Connect request; without it there is no ID token.
	OpenID = "openid"
	// Profile asks for the default profile claims (name, picture, …).
	Profile = "profile"
	// Email asks for the email and email_verified claims.
	Email = "email"
	// Address asks for the address claim.
	Address = "address"
	// Phone asks for the phone_number and phone_number_verified claims.
	Phone = "phone"
	// OfflineAccess asks for a refresh token usable without the user present.
	OfflineAccess = "offline_access"
)

// The platform scopes guard Clavis's own admin API. Clavis issues them
// itself, so they are in every tenant's catalogue and no client code can
// define them.
const (
	// Admin grants every admin operation on the tenant.
	Admin = "clavis:admin"
	// Audit grants reading the tenant's audit API, read-only, and
	// nothing else: what an auditor's client needs. Only [Admin] holds
	// it besides itself; the clients scopes do not.
	Audit = "clavis:audit"
	// ClientsRead grants reading client registrations.
	ClientsRead = "clavis:clients:read"
	// ClientsWrite grants creating, changing and deleting client registrations.
	ClientsWrite = "clavis:clients:write"
	// EventsRead grants reading the tenant's downstream events (the
	// events API and its live stream), read-only, and nothing else: what
	// a downstream service needs. Only [Admin] holds it besides itself.
	EventsRead = "clavis:events:read"
	// Login grants reading and answering the tenant's login and consent
	// requests: what the tenant's login application needs, and nothing
	// else.
	Login = "clavis:login"
)

// MaxTokenLength caps the length of one scope token. RFC 6749 sets no limit;
// the cap keeps stored registrations and token sizes bounded.
const MaxTokenLength = 200

var (
	identityScopes = []string{Address, Email, OfflineAccess, OpenID, Phone, Profile}
	platformScopes = []string{Admin, Audit, ClientsRead, ClientsWrite, EventsRead, Login}
)

// IdentityScopes returns the OpenID Connect identity scopes, sorted. The
// slice is a fresh copy.
func IdentityScopes() []string { return append([]string(nil), identityScopes...) }

// PlatformScopes returns the platform scopes, sorted. The slice is a fresh
// copy.
func PlatformScopes() []string { return append([]string(nil), platformScopes...) }

// IsIdentity reports whether s is one of the OpenID Connect identity scopes.
func IsIdentity(s string) bool {
	switch s {
	case OpenID, Profile, Email, Address, Phone, OfflineAccess:
		return true
	}
	return false
}

// IsPlatform reports whether s is one of the platform scopes.
func IsPlatform(s string) bool {
	switch s {
	case Admin, Audit, ClientsRead, ClientsWrite, EventsRead, Login:
		return true
	}
	return false
}

// Holds reports whether a token with the scopes held holds the platform
// authority of platform scope s: it holds s itself, or [Admin], which
// holds every platform scope, or [ClientsWrite], which holds
// [ClientsRead] and [Login] (it opens every route they open). Nothing
// but [Admin] holds [Audit] or [EventsRead]: reading the clients is not
// auditing them, nor following their events.
// It is false for a scope that is not a platform scope.
func Holds(held []string, s string) bool {
	if !IsPlatform(s) {
		return false
	}
	for _, h := range held {
		switch {
		case h == s, h == Admin:
			return true
		case h == ClientsWrite && (s == ClientsRead || s == Login):
			return true
		}
	}
	return false
}

// ValidToken reports whether s is a scope token as RFC 6749 §3.3 defines it,
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), that is printable ASCII
// without space, double quote and backslash, and at most [MaxTokenLength]
// bytes long.
func ValidToken(s string) bool {
	if s == "" || len(s) > MaxTokenLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Join returns the API scope a resource server with the given code defines
// for suffix: "{code}:{suffix}".
func Join(code, suffix string) string { return code + ":" + suffix }

// Split splits an API scope at its last colon into the resource server's
// code and the scope suffix. Suffixes never contain a colon, while codes
// ("urn:acme/orders") do, hence the last one. ok is false when s has no
// colon or either part would be empty.
func Split(s string) (code, suffix string, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// Permission names permission perm as granted by scope s, as access
// tokens and introspection carry it: "{scope}:{permission}". An API
// scope starts with its resource server's code, so the permission is
// prefixed by that code too ("urn:acme/orders:write:delete"), and a
// resource server tells which scope granted which permission.
func Permission(s, perm string) string { return s + ":" + perm }

// SplitPermission splits a [Permission] at its last colon into the scope
// that granted it and the permission. ok is false when p has no colon or
// either part would be empty.
func SplitPermission(p string) (s, perm string, ok bool) { return Split(p) }
