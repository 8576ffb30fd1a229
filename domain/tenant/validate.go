package tenant

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clavisiam/clavis/domain"
)

// Limits on tenant input.
const (
	// MaxSlugLength is the longest slug: one DNS label.
	MaxSlugLength = 63
	// MaxNameLength is the longest display name, in characters (runes).
	MaxNameLength = 200
	// MaxReasonLength is the longest suspension reason, in characters.
	MaxReasonLength = 500
	// MaxLoginURLLength is the longest login application URL, in
	// characters: short enough that the URL with a challenge appended
	// stays within what browsers and proxies accept.
	MaxLoginURLLength = 2000
)

// dnsLabel reports whether s is a lowercase DNS label (RFC 1123 §2.1):
// letters, digits and inner hyphens, at most 63 characters. Slugs become a
// path segment and possibly a host name label, so both must accept them
// verbatim. (A loop, not a regular expression: every request to a tenant
// checks its slug, and the expression took 1% of a code flow's CPU.)
func dnsLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// reservedSlugs are path segments the platform serves itself next to the
// per-tenant routes; a tenant with such a slug would shadow them.
var reservedSlugs = []string{
	"admin", "api", "assets", "clavis", "debug", "healthz", "metrics",
	"oauth2", "openapi.json", "readyz", "static", "www",
}

// ReservedSlugs returns the words that can never be tenant slugs, sorted,
// in a fresh slice.
func ReservedSlugs() []string { return slices.Clone(reservedSlugs) }

// IsReserved reports whether slug is one of [ReservedSlugs].
func IsReserved(slug string) bool {
	_, found := slices.BinarySearch(reservedSlugs, slug)
	return found
}

// ValidSlug reports whether s could be a tenant slug: a lowercase DNS label
// of 1 to 63 characters that is not reserved. The HTTP layer uses it to
// reject a path segment before loading anything.
func ValidSlug(s string) bool { return dnsLabel(s) && !IsReserved(s) }

// checkSlug records what is wrong with slug. Slugs are identifiers, so they
// are taken verbatim: "Acme" or " acme" is refused rather than silently
// changed into another tenant's name.
func checkSlug(p *domain.Problems, slug string) {
	switch {
	case slug == "":
		p.Add("slug", "required", "slug is required")
	case len(slug) > MaxSlugLength:
		p.Add("slug", "too_long", "slug must be at most %d characters", MaxSlugLength)
	case !dnsLabel(slug):
		p.Add("slug", "invalid_value", "slug must be a lowercase DNS label: letters a-z, digits and inner hyphens")
	case IsReserved(slug):
		p.Add("slug", "reserved", "slug %q is reserved by the platform", slug)
	}
}

// normalizeName trims the white space around a display name.
func normalizeName(name string) string { return strings.TrimSpace(name) }

// checkName records what is wrong with an already trimmed display name.
func checkName(p *domain.Problems, name string) {
	switch {
	case name == "":
		p.Add("name", "required", "name is required")
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		p.Add("name", "invalid_value", "name must be UTF-8 text without control characters")
	case domain.HasBidiControl(name):
		p.Add("name", "invalid_value", "name must not hold bidirectional control characters (U+202A-U+202E, U+2066-U+2069), which change how it displays")
	case utf8.RuneCountInString(name) > MaxNameLength:
		p.Add("name", "too_long", "name must be at most %d characters", MaxNameLength)
	}
}

// checkReason records what is wrong with a trimmed suspension reason. Line
// breaks are allowed; other control characters are not.
func checkReason(p *domain.Problems, reason string) {
	switch {
	case !utf8.ValidString(reason) || strings.ContainsFunc(reason, func(r rune) bool {
		return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t'
	}):
		p.Add("reason", "invalid_value", "reason must be UTF-8 text without control characters")
	case utf8.RuneCountInString(reason) > MaxReasonLength:
		p.Add("reason", "too_long", "reason must be at most %d characters", MaxReasonLength)
	}
}

// checkLoginURL records what is wrong with a trimmed login application
// URL ("" clears the setting and is fine). Browsers are redirected to it
// with a challenge, so it must be an absolute https URL with a host, or
// plain http on a loopback host for development; user information could
// disguise the host and a fragment would swallow the challenge, so both
// are refused, as are spaces, control characters, non-ASCII and
// backslashes, which browsers and servers may read differently.
func checkLoginURL(p *domain.Problems, raw string) {
	if raw == "" {
		return
	}
	if code, msg := loginURLProblem(raw); code != "" {
		p.Add("login_url", code, "login_url %s", msg)
	}
}

// loginURLProblem returns the problem code and message of a non-empty
// login URL, or two empty strings when it is acceptable.
func loginURLProblem(raw string) (code, msg string) {
	switch {
	case len(raw) > MaxLoginURLLength:
		return "too_long", "must be at most " + strconv.Itoa(MaxLoginURLLength) + " characters"
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r >= 0x7f || r == '\\' }):
		return "invalid_uri", "must be ASCII without spaces, control characters or backslashes; percent-encode them"
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "invalid_uri", "is not a valid URL"
	case u.Scheme == "":
		return "invalid_uri", "must be an absolute URL with a scheme"
	case u.User != nil:
		return "invalid_uri", "must not contain user information"
	case strings.ContainsRune(raw, '#'):
		return "invalid_uri", "must not contain a fragment"
	case u.Scheme != "https" && u.Scheme != "http":
		return "not_allowed", "must be an https URL"
	case u.Opaque != "" || u.Hostname() == "":
		return "invalid_uri", "must have a host"
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		return "not_allowed", "must be https; plain http is only allowed on localhost, 127.0.0.1 or [::1]"
	}
	return "", ""
}

// loopbackHost reports whether host (without brackets) is one of the
// loopback names plain http is allowed on.
func loopbackHost(host string) bool {
	return strings.EqualFold(host, "localhost") || host == "127.0.0.1" || host == "::1"
}
