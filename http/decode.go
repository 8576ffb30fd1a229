package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/tenants"
)

// Media types of request bodies.
const (
	mediaJSON       = "application/json"
	mediaMergePatch = "application/merge-patch+json"
)

// body returns a copy of the request body after checking its media type
// against allowed. An empty body is nil, and refused unless optional.
// Bodies over the server's limit never get here: fasthttp answers 413.
func body(c *fiber.Ctx, optional bool, allowed ...string) ([]byte, error) {
	raw := bytes.TrimSpace(c.Body())
	if len(raw) == 0 {
		if optional {
			return nil, nil
		}
		return nil, &tenants.JSONError{Err: fmt.Errorf("the request needs a JSON body")}
	}
	ct := c.Get(fiber.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(allowed, strings.ToLower(mt)) {
		return nil, &Problem{
			Type: ProblemUnsupportedMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("The body must be %s.", strings.Join(allowed, " or ")),
		}
	}
	return bytes.Clone(raw), nil
}

// decode reads a JSON body into v, strictly: unknown members, trailing
// data and values of the wrong type are refused (400). An optional empty
// body leaves v as it is.
func decode(c *fiber.Ctx, v any, optional bool) error {
	raw, err := body(c, optional, mediaJSON)
	if err != nil || raw == nil {
		return err
	}
	return tenants.DecodeJSON(raw, v)
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

// queryLimit reads the limit parameter: 1..max, def when absent.
func queryLimit(c *fiber.Ctx, def, max int) (int, error) {
	raw := c.Query("limit")
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, invalidParameter("limit", "out_of_range", "limit must be an integer from 1 to %d", max)
	}
	return n, nil
}

// queryBool reads a true/false query parameter; absent is nil.
func queryBool(c *fiber.Ctx, name string) (*bool, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return nil, invalidParameter(name, "invalid_value", "%s must be true or false", name)
	}
	return &b, nil
}

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
