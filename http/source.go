package httpapi

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/tenants"
)

// Who, why and from where: what every admin write records beside its
// actor (see docs/admin-api.md).

// ReasonHeader is the request header with which a write says why it is
// made. It becomes the reason of the events the write causes.
const ReasonHeader = "X-Clavis-Reason"

// MaxReasonBytes is the most bytes a reason header may hold, once
// trimmed of surrounding space.
const MaxReasonBytes = 1000

// forwardedFor is the header a trusted proxy names the client in.
const forwardedFor = fiber.HeaderXForwardedFor

// ParseTrustedProxies reads a comma-separated list of IP addresses and
// CIDR prefixes (spaces around items are ignored; an empty list trusts
// no one), for [WithTrustedProxies].
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil || p.Addr().Zone() != "" {
				return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", item)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address or CIDR prefix", item)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// WithTrustedProxies names the proxies whose X-Forwarded-For header the
// server believes. The source address recorded with a write is the
// peer's; when the peer is a trusted proxy, it is the right-most address
// of X-Forwarded-For that is not itself a trusted proxy (a client can
// write anything to the left of what its proxies append). The default
// trusts no one: the header is ignored.
func WithTrustedProxies(proxies []netip.Prefix) Option {
	return func(o *options) error {
		for _, p := range proxies {
			if !p.IsValid() || p.Addr().Zone() != "" {
				return fmt.Errorf("%w: WithTrustedProxies: %v is not a prefix", ErrInvalidOption, p)
			}
		}
		o.proxies = append([]netip.Prefix(nil), proxies...)
		return nil
	}
}

// trusted reports whether a is one of the trusted proxies.
func (s *Server) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// source is the network address of the client that sent c, as the
// server decides it (see [WithTrustedProxies]). It walks X-Forwarded-For
// from the right while the hop it came from is trusted, and stops at an
// entry that is no address: what lies left of it cannot be believed.
func (s *Server) source(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return ""
	}
	client := peer.Unmap()
	if len(s.proxies) == 0 || !s.trusted(client) {
		return client.String()
	}
	var hops []string
	for _, v := range c.Request().Header.PeekAll(forwardedFor) {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	for i := len(hops) - 1; i >= 0 && s.trusted(client); i-- {
		a, ok := forwardedAddr(hops[i])
		if !ok {
			break
		}
		client = a
	}
	return client.String()
}

// forwardedAddr reads one X-Forwarded-For entry: an IP address, which
// some proxies write with a port ("203.0.113.7:4711", "[2001:db8::1]:443").
func forwardedAddr(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// reason reads the X-Clavis-Reason header of c: "" when there is none; a
// problem when it is given twice, is not UTF-8 text without control
// characters, or is longer than [MaxReasonBytes] once trimmed.
func reason(c *fiber.Ctx) (string, *Problem) {
	values := c.Request().Header.PeekAll(ReasonHeader)
	switch {
	case len(values) == 0:
		return "", nil
	case len(values) > 1:
		return "", invalidParameter(ReasonHeader, "repeated", "%s is given more than once", ReasonHeader)
	}
	r := strings.TrimSpace(string(values[0]))
	if code, rule := checkReason(r); code != "" {
		return "", invalidParameter(ReasonHeader, code, "%s must be %s", ReasonHeader, rule)
	}
	return r, nil
}

// checkReason says what is wrong with a trimmed reason, header's or
// body's: the code of the rule it breaks and the rule ("" when it is
// fine). Control characters (a newline too) and bidirectional controls
// would let a reason forge or reorder the lines an auditor reads.
func checkReason(r string) (code, rule string) {
	switch {
	case !utf8.ValidString(r) || strings.ContainsFunc(r, unicode.IsControl):
		return "invalid_value", "UTF-8 text without control characters"
	case domain.HasBidiControl(r):
		return "invalid_value", "text without bidirectional control characters (U+202A-U+202E, U+2066-U+2069), which change how it displays"
	case len(r) > MaxReasonBytes:
		return "too_long", fmt.Sprintf("at most %d bytes", MaxReasonBytes)
	}
	return "", ""
}

// bodyReason reconciles the reason a write's body gives with the
// header's: either may be given, or both when they say the same (after
// trimming); two different reasons are refused. It returns the reason,
// which becomes both the body's and the events'.
//
// The body's reason follows the header's rules, as it becomes the events'
// reason: breaking them is a 422 naming "reason".
func bodyReason(r *tenants.Request, body string) (string, error) {
	body = strings.TrimSpace(body)
	if code, rule := checkReason(body); body != "" && code != "" {
		msg := "reason must be " + rule
		return "", &Problem{Type: ProblemValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
			Detail: "1 field(s) are invalid; see errors.", Errors: []*domain.FieldError{{Field: "reason", Code: code, Message: msg}}}
	}
	switch {
	case body == "":
		return r.Reason, nil
	case r.Reason == "":
		r.Reason = body
		return body, nil
	case body != r.Reason:
		return "", invalidParameter(ReasonHeader, "conflict", "%s and the body's reason differ; give one, or the same in both", ReasonHeader)
	}
	return body, nil
}
