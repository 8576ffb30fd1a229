package client

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// uriKind selects the rules a URI field follows.
type uriKind int

const (
	// redirectURI: redirect_uris and post_logout_redirect_uris. https, http
	// on a loopback host, or a reverse-domain private-use scheme; no fragment.
	redirectURI uriKind = iota
	// logoutURI: frontchannel_logout_uri and backchannel_logout_uri, which
	// the server or a browser iframe calls: https or loopback http only.
	logoutURI
	// infoURI: logo_uri, policy_uri, tos_uri, client_uri, links shown to
	// users: http or https on any host; a fragment is fine.
	infoURI
	// httpsURI: jwks_uri, fetched by the server: https only.
	httpsURI
)

// checkURI returns the problem code and message for raw as a URI of the
// given kind, or two empty strings when it is acceptable. fapi restricts
// redirect URIs to https. Codes: "required" (empty), "too_long",
// "invalid_uri" (malformed: unparseable, relative, whitespace or non-ASCII,
// user information, a forbidden fragment, no host), "not_allowed"
// (well-formed but refused by policy: a wildcard, a scheme that is not
// allowed here, plain http on a public host).
func checkURI(raw string, kind uriKind, fapi bool) (code, msg string) {
	switch {
	case raw == "":
		return "required", "must not be empty"
	case len(raw) > MaxURILength:
		return "too_long", "must be at most " + strconv.Itoa(MaxURILength) + " characters"
	case !plainASCII(raw):
		return "invalid_uri", "must be ASCII without spaces, control characters or backslashes; percent-encode them"
	case strings.ContainsRune(raw, '*'):
		return "not_allowed", "must not contain a wildcard '*': URIs are matched exactly"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "invalid_uri", "is not a valid URI"
	}
	switch {
	case u.Scheme == "":
		return "invalid_uri", "must be an absolute URI with a scheme"
	case u.User != nil:
		return "invalid_uri", "must not contain user information"
	case kind != infoURI && strings.ContainsRune(raw, '#'):
		return "invalid_uri", "must not contain a fragment"
	}
	web := u.Scheme == "http" || u.Scheme == "https"
	if web && (u.Opaque != "" || u.Hostname() == "") {
		return "invalid_uri", "must have a host"
	}
	switch kind {
	case infoURI:
		if !web {
			return "not_allowed", "must be an http or https URL"
		}
	case httpsURI:
		if u.Scheme != "https" {
			return "not_allowed", "must be an https URL"
		}
	case logoutURI, redirectURI:
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && fapi:
			return "not_allowed", "must be https: FAPI 2.0 forbids plain http"
		case u.Scheme == "http" && !isLoopback(u.Hostname()):
			return "not_allowed", "must be https; plain http is only allowed on a loopback host (localhost, 127.0.0.0/8, [::1])"
		case u.Scheme == "http":
		case kind == logoutURI:
			return "not_allowed", "must be an https URL (or http on a loopback host)"
		case fapi:
			return "not_allowed", "must be https: FAPI 2.0 forbids private-use URI schemes"
		case !strings.ContainsRune(u.Scheme, '.'):
			return "not_allowed", "a private-use URI scheme must be a reverse domain name such as com.example.app (RFC 8252 §7.1)"
		case u.Opaque == "" && u.Host == "" && u.Path == "":
			return "invalid_uri", "must have a path after the scheme"
		}
	}
	return "", ""
}

// isLoopback reports whether host (without brackets) names the loopback
// interface: "localhost", 127.0.0.0/8 or ::1. IPv6 zones are refused.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.IsLoopback()
}

// plainASCII reports whether s is printable ASCII without space and
// backslash. Browsers treat a backslash like a slash, so allowing it would
// let a URI mean different things to the server and the user agent.
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// normalizeURI trims raw and lowercases its scheme and host, which are
// case-insensitive (RFC 3986 §6.2.2.1); path, query and fragment are kept
// byte for byte because redirect URIs are compared exactly. Anything that
// does not look like "scheme:…" is only trimmed.
func normalizeURI(raw string) string {
	s := strings.TrimSpace(raw)
	i := strings.IndexByte(s, ':')
	if i <= 0 || !validScheme(s[:i]) {
		return s
	}
	scheme, rest := strings.ToLower(s[:i]), s[i+1:]
	if !strings.HasPrefix(rest, "//") {
		return scheme + ":" + rest
	}
	auth := rest[2:]
	end := strings.IndexAny(auth, "/?#")
	if end < 0 {
		end = len(auth)
	}
	host := auth[:end]
	at := strings.LastIndexByte(host, '@') + 1
	return scheme + "://" + host[:at] + strings.ToLower(host[at:]) + auth[end:]
}

// validScheme reports whether s is an RFC 3986 scheme:
// ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return s != ""
}

// parseOrigin turns raw into a web origin in normal form,
// scheme://host[:port] with a lowercase scheme and host and without the
// scheme's default port, or returns a problem code and message. A bare
// trailing "/" is accepted and dropped; any other path, a query, a fragment,
// user information, a wildcard and schemes other than http and https are
// refused, because a browser's Origin header never has them.
func parseOrigin(raw string) (origin, code, msg string) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "", "required", "must not be empty"
	case len(s) > MaxURILength:
		return "", "too_long", "must be at most " + strconv.Itoa(MaxURILength) + " characters"
	case strings.ContainsRune(s, '*'):
		return "", "not_allowed", "must not contain a wildcard '*': list every origin"
	case !plainASCII(s):
		return "", "invalid_uri", "must be ASCII without spaces or control characters"
	case strings.ContainsAny(s, "?#"):
		return "", "invalid_uri", "must be scheme://host[:port] without query or fragment"
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", "invalid_uri", "is not a valid origin"
	case u.Scheme == "":
		return "", "invalid_uri", "must be scheme://host[:port]"
	case u.Scheme != "http" && u.Scheme != "https":
		return "", "not_allowed", "must use http or https"
	case u.Opaque != "" || u.Hostname() == "":
		return "", "invalid_uri", "must have a host"
	case u.User != nil:
		return "", "invalid_uri", "must not contain user information"
	case u.Path != "" && u.Path != "/" || u.RawPath != "":
		return "", "invalid_uri", "must be scheme://host[:port] without a path"
	}
	host := strings.ToLower(u.Hostname())
	if strings.ContainsRune(host, '%') {
		return "", "invalid_uri", "must not have an IPv6 zone or percent-encoded host"
	}
	if strings.ContainsRune(host, ':') {
		host = "[" + host + "]"
	}
	origin = u.Scheme + "://" + host
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", "invalid_uri", "has an invalid port"
		}
		if !(u.Scheme == "http" && n == 80 || u.Scheme == "https" && n == 443) {
			origin += ":" + strconv.Itoa(n)
		}
	}
	return origin, "", ""
}
