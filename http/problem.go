package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// Problem types: the stable "type" of each problem the API answers with.
// Clients match on these, never on titles or details.
const (
	ProblemBadRequest       = "https://clavis.dev/problems/bad-request"
	ProblemNotFound         = "https://clavis.dev/problems/not-found"
	ProblemMethodNotAllowed = "https://clavis.dev/problems/method-not-allowed"
	ProblemRequestTimeout   = "https://clavis.dev/problems/request-timeout"
	ProblemPayloadTooLarge  = "https://clavis.dev/problems/payload-too-large"
	ProblemHeadersTooLarge  = "https://clavis.dev/problems/headers-too-large"
	ProblemNotReady         = "https://clavis.dev/problems/not-ready"
	ProblemInternal         = "https://clavis.dev/problems/internal"
)

// ContentTypeProblem is the media type of every error body (RFC 9457).
const ContentTypeProblem = "application/problem+json"

// Problem is an RFC 9457 problem details object. Handlers return one as
// their error; the app's error handler writes it with its Status and the
// problem+json content type. Detail must never hold a secret: it goes to
// the caller as is.
type Problem struct {
	Type   string `json:"type"`             // a Problem* URI, or "about:blank"
	Title  string `json:"title"`            // short and the same for every occurrence of Type
	Status int    `json:"status"`           // the HTTP status code
	Detail string `json:"detail,omitempty"` // this occurrence, for a human
}

// Error returns the title and detail, so a Problem can travel as an error.
func (p *Problem) Error() string {
	if p.Detail == "" {
		return p.Title
	}
	return p.Title + ": " + p.Detail
}

// fiberProblems maps the errors fiber and fasthttp raise on their own (no
// route, wrong method, oversized body, slow client) to problem types.
var fiberProblems = map[int]struct{ typ, title string }{
	fiber.StatusBadRequest:                  {ProblemBadRequest, "Bad request"},
	fiber.StatusNotFound:                    {ProblemNotFound, "Not found"},
	fiber.StatusMethodNotAllowed:            {ProblemMethodNotAllowed, "Method not allowed"},
	fiber.StatusRequestTimeout:              {ProblemRequestTimeout, "Request timeout"},
	fiber.StatusRequestEntityTooLarge:       {ProblemPayloadTooLarge, "Payload too large"},
	fiber.StatusRequestHeaderFieldsTooLarge: {ProblemHeadersTooLarge, "Request header fields too large"},
}

// errorHandler is the one error mapper: whatever a handler, a middleware,
// the router or fasthttp fails with, the caller gets problem+json. Errors
// that are not already a [Problem] or a fiber status are unexpected: they
// are logged here, once, and the caller learns nothing of their text.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		p, unexpected := toProblem(c, err)
		if unexpected {
			log.LogAttrs(c.UserContext(), slog.LevelError, "request failed",
				slog.String("request_id", requestID(c)),
				slog.String("method", c.Method()),
				slog.String("path", c.Path()),
				slog.Any("error", err))
		}
		if requestID(c) == "" {
			// fasthttp failed the request before any middleware ran (a
			// body over the limit, a timeout): it still gets an id.
			c.Set(HeaderRequestID, newRequestID())
		}
		c.Status(p.Status)
		return c.JSON(p, ContentTypeProblem)
	}
}

// toProblem maps err to the problem the caller sees, and reports whether
// err was unexpected (neither a Problem nor a status fiber raised).
func toProblem(c *fiber.Ctx, err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, false
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		if known, ok := fiberProblems[fe.Code]; ok {
			detail := ""
			switch fe.Code {
			case fiber.StatusNotFound:
				detail = fmt.Sprintf("There is no resource at %s.", c.Path())
			case fiber.StatusMethodNotAllowed:
				detail = fmt.Sprintf("%s is not allowed on %s.", c.Method(), c.Path())
			}
			return &Problem{Type: known.typ, Title: known.title, Status: fe.Code, Detail: detail}, false
		}
		if title := http.StatusText(fe.Code); title != "" && fe.Code >= 400 {
			// A status fiber raised that we have no type for: RFC 9457
			// says "about:blank" with the status's own phrase.
			return &Problem{Type: "about:blank", Title: title, Status: fe.Code}, false
		}
	}
	return &Problem{Type: ProblemInternal, Title: "Internal server error", Status: http.StatusInternalServerError}, true
}
