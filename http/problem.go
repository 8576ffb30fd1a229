package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/http/oauth"
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
	// ProblemTooManyRequests: the node serves as many of these requests
	// at once as it will; Retry-After says when to try again.
	ProblemTooManyRequests = "https://clavis.dev/problems/too-many-requests"
	ProblemInternal        = "https://clavis.dev/problems/internal"
	// ProblemUnavailable: the database cannot be reached (it is
	// restarting, say); Retry-After says when to try again (503). A write
	// answered so may have been applied: see docs/admin-api.md.
	ProblemUnavailable = "https://clavis.dev/problems/unavailable"

	// The admin API's problems.

	// ProblemMalformedJSON: the body is not JSON of the expected shape (400).
	ProblemMalformedJSON = "https://clavis.dev/problems/malformed-json"
	// ProblemUnknownField: the body has a member the API does not know, or
	// one that is read-only; Field names it (400).
	ProblemUnknownField = "https://clavis.dev/problems/unknown-field"
	// ProblemInvalidParameter: a query parameter or header is invalid:
	// given twice, not UTF-8 text, holding a control character, too long
	// or not of its kind; Errors names it (400).
	ProblemInvalidParameter = "https://clavis.dev/problems/invalid-parameter"
	// ProblemUnknownParameter: the query string has a parameter the
	// request does not take; Field names the first, Errors each (400).
	ProblemUnknownParameter = "https://clavis.dev/problems/unknown-parameter"
	// ProblemUnsupportedMediaType: a body that is not JSON (415).
	ProblemUnsupportedMediaType = "https://clavis.dev/problems/unsupported-media-type"
	// ProblemValidation: the input breaks the rules; Errors lists every
	// field (422).
	ProblemValidation = "https://clavis.dev/problems/validation"
	// ProblemUnauthorized: no bearer token, or one that is not valid here
	// (401, with WWW-Authenticate: Bearer).
	ProblemUnauthorized = "https://clavis.dev/problems/unauthorized"
	// ProblemForbidden: a valid token that may not do this (403).
	ProblemForbidden = "https://clavis.dev/problems/forbidden"
	// ProblemTenantSuspended: the tenant is suspended and refuses
	// changes (403).
	ProblemTenantSuspended = "https://clavis.dev/problems/tenant-suspended"
	// ProblemConflict: the resource changed since the version the caller
	// gave in the body, or concurrently (409).
	ProblemConflict = "https://clavis.dev/problems/conflict"
	// ProblemPreconditionFailed: If-Match does not match the resource's
	// current ETag (412).
	ProblemPreconditionFailed = "https://clavis.dev/problems/precondition-failed"
	// ProblemClaimTaken: a unique value is taken; Field names it (409).
	ProblemClaimTaken = "https://clavis.dev/problems/claim-taken"
	// ProblemAlreadyExists: the resource to create exists (409).
	ProblemAlreadyExists = "https://clavis.dev/problems/already-exists"
	// ProblemSecretNotFound: the client holds no such secret (404).
	ProblemSecretNotFound = "https://clavis.dev/problems/secret-not-found"
	// ProblemLastSecret: the last usable secret of a client that needs one
	// cannot be revoked; rotate it (409).
	ProblemLastSecret = "https://clavis.dev/problems/last-secret"
	// ProblemWebhookLimit: the tenant has the most webhook endpoints it
	// may have (409); delete one first.
	ProblemWebhookLimit = "https://clavis.dev/problems/webhook-limit"
	// ProblemTenantIncomplete: the tenant was created but its admin client
	// was not (500, or 503 when the database could not be reached);
	// register one through the tenant admin API.
	ProblemTenantIncomplete = "https://clavis.dev/problems/tenant-incomplete"
	// ProblemImportIncomplete: an import stopped after applying part of
	// the package; Report lists what was applied (the status is the
	// failure's).
	ProblemImportIncomplete = "https://clavis.dev/problems/import-incomplete"
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

	// Extension members (RFC 9457 §3.2).

	// Field names the member or parameter at fault (unknown-field,
	// unknown-parameter, invalid-parameter, claim-taken, already-exists).
	Field string `json:"field,omitempty"`
	// Errors lists every invalid field (validation, invalid-parameter).
	Errors []*domain.FieldError `json:"errors,omitempty"`
	// Report is what an import applied before it stopped
	// (import-incomplete); it holds the secrets of the clients it created,
	// shown this once.
	Report any `json:"report,omitempty"`
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
			level := slog.LevelError
			if p.Type == ProblemUnavailable {
				// The database restarting is no bug: a warning (each
				// request's) says when the outage began and ended.
				level = slog.LevelWarn
			}
			log.LogAttrs(c.UserContext(), level, "request failed",
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
		if p.Status == http.StatusServiceUnavailable {
			// Every 503 is a passing state (the database restarting, a
			// node not ready yet): say when to try again.
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(oauth.RetryAfter))
		}
		c.Status(p.Status)
		return c.JSON(p, ContentTypeProblem)
	}
}

// toProblem maps err to the problem the caller sees, and reports whether
// err was unexpected (neither a Problem, a status fiber raised, nor an
// error of the domain or the services that [adminProblem] knows).
func toProblem(c *fiber.Ctx, err error) (*Problem, bool) {
	var p *Problem
	if errors.As(err, &p) {
		return p, false
	}
	if p := adminProblem(err); p != nil {
		return p, p.Status >= http.StatusInternalServerError
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

// notFound is the problem of a resource that does not exist: the same
// answer for every kind, so that nothing tells what exists elsewhere.
func notFound() *Problem {
	return &Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound, Detail: "There is no such resource."}
}
