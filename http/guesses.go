package httpapi

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/http/guess"
)

// WithGuesses slows down the guessing of credentials with g (package
// guess): the bearer tokens of the admin API (the root token above all)
// by source address, the registration access tokens by client and
// source. The same limiter serves the console's operator sign-in, and
// should be the OAuth provider's (oauth.WithGuesses), so that every
// credential failing from one address counts against it. The source is
// the one the server decides (see [WithTrustedProxies]), for these and
// for the OAuth endpoints alike. The default is a limiter of the
// server's own with [guess.DefaultLimits].
func WithGuesses(g *guess.Limiter) Option {
	return func(o *options) error {
		if g == nil {
			return fmt.Errorf("%w: WithGuesses: nil limiter", ErrInvalidOption)
		}
		o.guesses = g
		return nil
	}
}

// tooManyGuesses answers, at the admin API, a request whose credential
// the guess limiter refused to check for wait.
func tooManyGuesses(c *fiber.Ctx, wait time.Duration) error {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(guess.RetryAfter(wait)))
	return &Problem{Type: ProblemTooManyRequests, Title: "Too many requests", Status: http.StatusTooManyRequests,
		Detail: "Too many failed authentications from this address; try again in " + guess.InWords(wait) + "."}
}

// oauthTooManyGuesses answers, at the registration endpoint, a request
// whose registration access token the guess limiter refused to check for
// wait, as the OAuth endpoints answer a refused client authentication:
// 429 temporarily_unavailable with Retry-After.
func oauthTooManyGuesses(c *fiber.Ctx, wait time.Duration) error {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(guess.RetryAfter(wait)))
	return oauthError(c, http.StatusTooManyRequests, "temporarily_unavailable",
		"Too many failed authentications; retry in "+guess.InWords(wait)+".")
}

// remoteAddr is c's source (see [Server.source]) with the peer's port,
// as a net/http request's RemoteAddr.
func (s *Server) remoteAddr(c *fiber.Ctx) string {
	port := "0"
	if a, ok := c.Context().RemoteAddr().(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	return net.JoinHostPort(s.source(c), port)
}
