package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// HeaderRequestID carries the id that ties a request to its log lines.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds an incoming request id that is echoed back.
const maxRequestIDLen = 128

type requestIDKey struct{}

// withRequestID gives each request an id: the caller's X-Request-Id when it
// is safe to echo into headers and logs, else a fresh random one. The id
// is sent back in the response's X-Request-Id.
func withRequestID(c *fiber.Ctx) error {
	id := c.Get(HeaderRequestID)
	if validRequestID(id) {
		id = strings.Clone(id) // fasthttp reuses the request's buffers
	} else {
		id = newRequestID()
	}
	c.Locals(requestIDKey{}, id)
	c.Set(HeaderRequestID, id)
	return c.Next()
}

// requestID returns the request's id, or "" before withRequestID ran (an
// error fasthttp raised before routing).
func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(requestIDKey{}).(string)
	return id
}

// validRequestID reports whether id is 1 to 128 characters of
// [A-Za-z0-9._-]: nothing that could split a header or forge a log line.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := range len(id) {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// accessLog logs one line per request at debug level. It hands a failed
// request to the app's error handler itself, so that the line has the
// status the caller got; the route is the matched pattern ("" when no
// route matched, which it tells by the current route still being its
// own: so it must come last among the middleware, in the same Use). It never logs the query string or headers, which can
// carry credentials.
func accessLog(log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		start := time.Now()
		self := c.Route() // the middleware's own route, matching every path
		if err := c.Next(); err != nil {
			if herr := c.App().ErrorHandler(c, err); herr != nil {
				return herr
			}
		}
		if !log.Enabled(c.UserContext(), slog.LevelDebug) {
			return nil
		}
		route := matchedRoute(c, self)
		log.LogAttrs(c.UserContext(), slog.LevelDebug, "request",
			slog.String("request_id", requestID(c)),
			slog.String("method", c.Method()),
			slog.String("route", route),
			slog.String("path", c.Path()),
			slog.Int("status", c.Response().StatusCode()),
			slog.Duration("duration", time.Since(start)))
		return nil
	}
}

// matchedRoute is the route pattern that handled c, or "" when none
// matched: a middleware passes its own route as self, which is still the
// current one when no route matched.
func matchedRoute(c *fiber.Ctx, self *fiber.Route) string {
	if r := c.Route(); r != self {
		return r.Path
	}
	return ""
}
