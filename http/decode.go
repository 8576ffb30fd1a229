package httpapi

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/http/jsonbody"
)

// Media types of request bodies.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// body returns a copy of the request body after checking its media type
// against allowed; an empty body is refused. Bodies over the server's
// limit never get here: fasthttp answers 413.
func body(c *fiber.Ctx, allowed ...string) ([]byte, error) {
	raw, err := optionalBody(c, allowed...)
	if err == nil && raw == nil {
		return nil, &jsonbody.Error{Err: fmt.Errorf("the request needs a JSON body")}
	}
	return raw, err
}

// optionalBody is [body] for a request that may have none: an empty body
// is nil.
func optionalBody(c *fiber.Ctx, allowed ...string) ([]byte, error) {
	raw := bytes.TrimSpace(c.Body())
	if len(raw) == 0 {
		return nil, nil
	}
	ct := c.Get(fiber.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(allowed, strings.ToLower(mt)) {
		return nil, &Problem{
			Type: ProblemUnsupportedMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("The body must be %s.", strings.Join(allowed, " or ")),
		}
	}
	if err := domain.CheckJSONText(raw); err != nil {
		return nil, &jsonbody.Error{Err: err}
	}
	return bytes.Clone(raw), nil
}

// registrationBodyError answers a body that [body] refused as not JSON
// text at RFC 7591 registration and RFC 7592 update: invalid_client_metadata
// (RFC 7591 §3.2.2), as any body that is not client metadata there.
// Other errors (415) stay problems.
func registrationBodyError(c *fiber.Ctx, err error) error {
	var je *jsonbody.Error
	if errors.As(err, &je) {
		return oauthError(c, http.StatusBadRequest, "invalid_client_metadata", je.Error()+".")
	}
	return err
}

// decode reads a JSON body into v, strictly: unknown members, trailing
// data and values of the wrong type are refused (400), and so is an empty
// body.
func decode(c *fiber.Ctx, v any) error {
	raw, err := body(c, mediaJSON)
	if err != nil {
		return err
	}
	return jsonbody.Decode(raw, v)
}

// decodeOptional is [decode] for a body that may be left out: an empty
// one leaves v as it is.
func decodeOptional(c *fiber.Ctx, v any) error {
	raw, err := optionalBody(c, mediaJSON)
	if err != nil || raw == nil {
		return err
	}
	return jsonbody.Decode(raw, v)
}

// ifMatch reads an If-Match header for a resource whose ETag is its
// version in quotes. It returns 0 when there is no header or it is "*"
// (any version), and a problem (412) for a value that can match no
// version: a weak tag, a list, a tag that is not a version.
func ifMatch(c *fiber.Ctx) (int64, error) {
	h := strings.TrimSpace(c.Get(fiber.HeaderIfMatch))
	switch h {
	case "", "*":
		return 0, nil
	}
	if unq, err := strconv.Unquote(h); err == nil && strings.HasPrefix(h, `"`) {
		if v, err := strconv.ParseInt(unq, 10, 64); err == nil && v > 0 && strconv.FormatInt(v, 10) == unq {
			return v, nil
		}
	}
	return 0, preconditionFailed()
}

func preconditionFailed() *Problem {
	return &Problem{
		Type: ProblemPreconditionFailed, Title: "Precondition failed", Status: http.StatusPreconditionFailed,
		Detail: "If-Match does not match the client's current ETag; read it again and retry.",
	}
}

// etag is the entity tag of a resource at version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// maxQueryValue bounds the value of any query parameter, in bytes.
const maxQueryValue = 512

// A queryParam is a query parameter a route takes, and what its value
// may be. An empty value is the same as no parameter. Routes declare
// theirs with [acceptQuery]; handlers read them with c.Query and the
// readers below, which may trust what acceptQuery let through.
type queryParam struct {
	name string
	// valid reports whether a value, already known to be UTF-8 text
	// without control characters of at most maxQueryValue bytes, is one
	// this parameter takes; nil takes any.
	valid func(string) bool
	// code and rule are the problem's when valid refuses: the field
	// error's code and what the value must be.
	code, rule string
	// repeats is true for a parameter that may be given more than once,
	// each value checked on its own.
	repeats bool
	// maxLen bounds the value, in bytes, when it is not maxQueryValue.
	maxLen int
}

// textParam takes text of at most maxRunes characters.
func textParam(name string, maxRunes int) queryParam {
	return queryParam{name: name, valid: func(v string) bool { return utf8.RuneCountInString(v) <= maxRunes },
		code: "too_long", rule: fmt.Sprintf("UTF-8 text of at most %d characters", maxRunes)}
}

// intParam takes an integer from lo to hi.
func intParam(name string, lo, hi int) queryParam {
	return queryParam{name: name, valid: func(v string) bool {
		n, err := strconv.Atoi(v)
		return err == nil && lo <= n && n <= hi
	}, code: "out_of_range", rule: fmt.Sprintf("an integer from %d to %d", lo, hi)}
}

// boolParam takes true or false.
func boolParam(name string) queryParam {
	return queryParam{name: name, valid: func(v string) bool {
		_, err := strconv.ParseBool(v)
		return err == nil
	}, code: "invalid_value", rule: "true or false"}
}

// enumParam takes one of values.
func enumParam(name string, values ...string) queryParam {
	return queryParam{name: name, valid: func(v string) bool { return slices.Contains(values, v) },
		code: "invalid_value", rule: "one of " + strings.Join(values, ", ")}
}

// maxUnknownListed bounds how many unknown parameters a problem names.
const maxUnknownListed = 10

// acceptQuery is the middleware of a route that takes params, and no
// other, in its query string: the one place where admin and platform
// query strings are checked. It refuses (400) a parameter the route does
// not take (unknown-parameter, naming each, instead of ignoring it), and
// a value given twice, that is not UTF-8 text, holds a control character
// (NUL included), is longer than maxQueryValue bytes, or that its kind
// refuses (invalid-parameter, naming it). OAuth endpoints do not use it:
// RFC 6749 §3.1 has them ignore parameters they do not know.
func acceptQuery(params ...queryParam) fiber.Handler {
	if len(params) > 64 {
		panic("acceptQuery: more than 64 parameters")
	}
	return func(c *fiber.Ctx) error {
		args := c.Context().QueryArgs()
		if args.Len() == 0 {
			return c.Next()
		}
		var (
			unknown []string
			bad     *Problem
			seen    uint64
		)
		args.VisitAll(func(k, v []byte) {
			i := slices.IndexFunc(params, func(p queryParam) bool { return p.name == string(k) })
			if i < 0 {
				if len(unknown) < maxUnknownListed {
					unknown = append(unknown, shownName(k))
				}
				return
			}
			if bad != nil {
				return
			}
			p := params[i]
			switch {
			case seen&(1<<i) != 0 && !p.repeats:
				bad = invalidParameter(p.name, "repeated", "%s is given more than once", p.name)
			case len(v) > cmp.Or(p.maxLen, maxQueryValue):
				bad = invalidParameter(p.name, "too_long", "%s must be at most %d bytes", p.name, cmp.Or(p.maxLen, maxQueryValue))
			case !plainText(v):
				bad = invalidParameter(p.name, "invalid_value", "%s must be UTF-8 text without control characters", p.name)
			case len(v) > 0 && p.valid != nil && !p.valid(string(v)):
				bad = invalidParameter(p.name, p.code, "%s must be %s", p.name, p.rule)
			}
			seen |= 1 << i
		})
		if len(unknown) > 0 {
			return unknownParameters(unknown, params)
		}
		if bad != nil {
			return bad
		}
		return c.Next()
	}
}

// plainText reports whether b is UTF-8 without control characters.
func plainText(b []byte) bool {
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n <= 1 || unicode.IsControl(r) {
			return false
		}
		b = b[n:]
	}
	return true
}

// shownName is a parameter's name as a problem may quote it: valid UTF-8,
// cut short.
func shownName(k []byte) string {
	const max = 64
	if len(k) > max {
		k = k[:max]
	}
	return strings.ToValidUTF8(string(k), "\uFFFD")
}

// unknownParameters is the problem of parameters a route does not take.
func unknownParameters(names []string, params []queryParam) *Problem {
	takes := "none"
	if len(params) > 0 {
		list := make([]string, len(params))
		for i, p := range params {
			list[i] = p.name
		}
		takes = strings.Join(list, ", ")
	}
	p := &Problem{Type: ProblemUnknownParameter, Title: "Unknown parameter", Status: http.StatusBadRequest, Field: names[0]}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
		p.Errors = append(p.Errors, &domain.FieldError{Field: n, Code: "unknown", Message: "this request takes no parameter " + quoted[i]})
	}
	p.Detail = fmt.Sprintf("%s: not a parameter of this request, which takes %s.", strings.Join(quoted, ", "), takes)
	return p
}

// queryInt reads an integer parameter that [acceptQuery] checked; def
// when it is absent.
func queryInt(c *fiber.Ctx, name string, def int) int {
	if n, err := strconv.Atoi(c.Query(name)); err == nil {
		return n
	}
	return def
}

// queryBool reads a true/false parameter that [acceptQuery] checked;
// absent is nil.
func queryBool(c *fiber.Ctx, name string) *bool {
	if b, err := strconv.ParseBool(c.Query(name)); err == nil {
		return &b
	}
	return nil
}

// queryText reads a text parameter, as a string of its own (fasthttp
// reuses the request's buffers once the handler returns).
func queryText(c *fiber.Ctx, name string) string { return strings.Clone(c.Query(name)) }

// patchString is a string member of a JSON merge patch (RFC 7396), which
// tells an absent member, which changes nothing, from a present one; a
// present null is the empty string.
type patchString struct {
	set bool
	s   string
}

// UnmarshalJSON records that the member is present, and its value.
func (p *patchString) UnmarshalJSON(data []byte) error {
	p.set = true
	if string(data) == "null" {
		p.s = ""
		return nil
	}
	return json.Unmarshal(data, &p.s)
}

// value is the member's new value, or nil when it is absent.
func (p patchString) value() *string {
	if !p.set {
		return nil
	}
	return &p.s
}
