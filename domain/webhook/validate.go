package webhook

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/eventtype"
)

// Limits of an endpoint's fields, in characters.
const (
	MaxURLLength         = 2000
	MaxDescriptionLength = 500
	MaxReasonLength      = 1000
	maxCursorLength      = 41
	maxSecretIDLength    = 64
)

// Normalize returns s as an endpoint keeps it, or the problems with it in
// one *[domain.ValidationError]: the URL and description trimmed; the
// types in canonical form, sorted, ["*"] when none are given.
//
// The URL must be an absolute https URL with a host, or plain http on
// localhost, 127.0.0.1 or [::1] (for development), without user
// information or a fragment, with a port from 1 to 65535 if any, ASCII
// without spaces, control characters or backslashes, at most
// [MaxURLLength] characters. Whether its address may be called is the
// deliverer's decision, made on the address it dials.
func Normalize(s Settings) (Settings, error) {
	var p domain.Problems
	s = normalize(&p, s)
	return s, p.Err()
}

func normalize(p *domain.Problems, s Settings) Settings {
	s.URL = strings.TrimSpace(s.URL)
	s.Description = strings.TrimSpace(s.Description)
	checkURL(p, s.URL)
	checkText(p, "description", s.Description, MaxDescriptionLength, false)
	f, err := eventtype.Parse(s.Types)
	if err != nil {
		p.Add("types", "invalid_value", "%s", err.Error())
	} else {
		s.Types = f.Patterns()
	}
	return s
}

func checkURL(p *domain.Problems, raw string) {
	problem := func(code, msg string) { p.Add("url", code, "url %s", msg) }
	if raw == "" {
		problem("required", "is required")
		return
	}
	switch {
	case len(raw) > MaxURLLength:
		problem("too_long", "must be at most 2000 characters")
		return
	case strings.ContainsFunc(raw, func(r rune) bool { return r <= 0x20 || r >= 0x7f || r == '\\' }):
		problem("invalid_uri", "must be ASCII without spaces, control characters or backslashes; percent-encode them")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		problem("invalid_uri", "is not a valid URL")
	case u.Scheme == "":
		problem("invalid_uri", "must be an absolute URL with a scheme")
	case u.User != nil:
		problem("invalid_uri", "must not contain user information")
	case strings.ContainsRune(raw, '#'):
		problem("invalid_uri", "must not contain a fragment")
	case u.Scheme != "https" && u.Scheme != "http":
		problem("not_allowed", "must be an https URL")
	case u.Opaque != "" || u.Hostname() == "":
		problem("invalid_uri", "must have a host")
	case !validPort(u.Port()):
		problem("invalid_uri", "must have a port from 1 to 65535, or none")
	case u.Scheme == "http" && !loopbackHost(u.Hostname()):
		problem("not_allowed", "must be https; plain http is only allowed on localhost, 127.0.0.1 or [::1]")
	}
}

// validPort reports whether port, as [url.URL.Port] gives it, can be
// dialled: none (the scheme's default) or a number from 1 to 65535.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n >= 1 && n <= 65535
}

func loopbackHost(host string) bool {
	return strings.EqualFold(host, "localhost") || host == "127.0.0.1" || host == "::1"
}

// checkText records what is wrong with a trimmed free text: it must be
// UTF-8 without control or bidirectional control characters, at most max
// characters, and present unless optional.
func checkText(p *domain.Problems, field, s string, max int, optional bool) {
	switch {
	case s == "" && !optional:
		// Free text is optional everywhere today; kept for symmetry.
	case !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
		p.Add(field, "invalid_value", "%s must be UTF-8 text without control characters", field)
	case domain.HasBidiControl(s):
		p.Add(field, "invalid_value", "%s must not hold bidirectional control characters (U+202A-U+202E, U+2066-U+2069), which change how it displays", field)
	case utf8.RuneCountInString(s) > max:
		p.Add(field, "too_long", "%s must be at most %d characters", field, max)
	}
}

// checkCursor records what is wrong with an events API cursor: "" or a
// store position, two decimal numbers joined by a dot.
func checkCursor(p *domain.Problems, c string) {
	if c == "" {
		return
	}
	commit, seq, ok := strings.Cut(c, ".")
	if !ok || len(c) > maxCursorLength || !digits(commit) || !digits(seq) {
		p.Add("from", "invalid_value", "from must be an events API cursor (two numbers joined by a dot) or empty")
	}
}

func digits(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func checkSecret(p *domain.Problems, s NewSecret) {
	if s.ID == "" || len(s.ID) > maxSecretIDLength || s.Sealed == "" {
		p.Add("secret", "required", "a secret needs an id of at most %d bytes and its sealed value", maxSecretIDLength)
	}
}
