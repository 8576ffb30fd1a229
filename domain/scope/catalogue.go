package scope

import (
	"maps"
	"slices"
	"strings"
)

// Kind tells the three kinds of scopes in a [Catalogue] apart.
type Kind uint8

// The kinds of scope. KindUnknown is what [Catalogue.Kind] answers for a
// scope the catalogue does not hold.
const (
	KindUnknown Kind = iota
	// KindIdentity: an OpenID Connect identity scope, about the user.
	KindIdentity
	// KindPlatform: a scope of Clavis's own admin API.
	KindPlatform
	// KindAPI: a scope a resource-server client defines, "{code}:{suffix}".
	KindAPI
)

// String returns "identity", "platform", "api" or "unknown".
func (k Kind) String() string {
	switch k {
	case KindIdentity:
		return "identity"
	case KindPlatform:
		return "platform"
	case KindAPI:
		return "api"
	}
	return "unknown"
}

// Resource is what one resource-server client contributes to its tenant's
// catalogue: its Code (for example "urn:acme/orders") and the Scopes
// suffixes it defines (for example "read"), which become the API scopes
// "urn:acme/orders:read".
type Resource struct {
	Code   string
	Scopes []string
}

// Catalogue is the immutable set of scopes that the clients of one tenant
// may be assigned. Build it with [NewCatalogue]; the zero value holds the
// identity and platform scopes only. A Catalogue is safe for concurrent use
// because nothing changes it after construction: [Catalogue.With] returns a
// new one.
type Catalogue struct {
	api map[string]struct{} // API scopes; never written after construction
}

// NewCatalogue returns the catalogue of a tenant whose resource-server
// clients are resources. It holds the identity and platform scopes plus
// "{code}:{suffix}" for every suffix of every resource.
//
// NewCatalogue never fails. It skips a resource with an empty code and a
// suffix that is empty, contains a colon, or does not make a valid scope
// token ([ValidToken]) together with its code: the catalogue is built from
// stored registrations, which were validated when they were written, and a
// skipped scope simply stays unknown. Suffixes that collide with an identity
// or platform scope keep the built-in meaning.
func NewCatalogue(resources ...Resource) Catalogue {
	return Catalogue{}.With(resources...)
}

// With returns a new catalogue holding c's scopes plus those of resources,
// under the rules of [NewCatalogue]. c is unchanged.
func (c Catalogue) With(resources ...Resource) Catalogue {
	api := maps.Clone(c.api)
	for _, r := range resources {
		if r.Code == "" {
			continue
		}
		for _, suffix := range r.Scopes {
			s := Join(r.Code, suffix)
			if suffix == "" || strings.ContainsRune(suffix, ':') || !ValidToken(s) || IsIdentity(s) || IsPlatform(s) {
				continue
			}
			if api == nil {
				api = make(map[string]struct{})
			}
			api[s] = struct{}{}
		}
	}
	return Catalogue{api: api}
}

// Has reports whether the catalogue holds scope s.
func (c Catalogue) Has(s string) bool { return c.Kind(s) != KindUnknown }

// Kind returns what kind of scope s is in this catalogue, or KindUnknown
// when the catalogue does not hold it.
func (c Catalogue) Kind(s string) Kind {
	switch {
	case IsIdentity(s):
		return KindIdentity
	case IsPlatform(s):
		return KindPlatform
	}
	if _, ok := c.api[s]; ok {
		return KindAPI
	}
	return KindUnknown
}

// IsIdentity reports whether s is an identity scope, which is the same in
// every catalogue; it exists so that callers holding a catalogue need not
// reach for the package function.
func (c Catalogue) IsIdentity(s string) bool { return IsIdentity(s) }

// IsAPI reports whether s is an API scope of this catalogue.
func (c Catalogue) IsAPI(s string) bool { return c.Kind(s) == KindAPI }

// Len is the number of scopes in the catalogue, built-ins included.
func (c Catalogue) Len() int { return len(identityScopes) + len(platformScopes) + len(c.api) }

// List returns every scope of the catalogue, sorted, in a fresh slice.
func (c Catalogue) List() []string {
	out := make([]string, 0, c.Len())
	out = append(out, identityScopes...)
	out = append(out, platformScopes...)
	for s := range c.api {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
