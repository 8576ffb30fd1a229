package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	fiberrecover "github.com/gofiber/fiber/v2/middleware/recover"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/http/console"
	"github.com/clavisiam/clavis/http/guess"
	"github.com/clavisiam/clavis/http/oauth"
)

// Defaults for the zero fields of [Config].
const (
	DefaultBodyLimit    = 1 << 20 // 1 MiB
	DefaultReadTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultIdleTimeout  = 60 * time.Second
	DefaultReadyTimeout = 2 * time.Second
)

// Config holds the app's knobs. A zero field takes its default; a
// negative one is an error.
type Config struct {
	// BodyLimit is the largest request body accepted, in bytes; a larger
	// one answers 413 (default [DefaultBodyLimit]).
	BodyLimit int
	// ReadTimeout bounds reading a whole request, headers and body
	// (default [DefaultReadTimeout]).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response (default [DefaultWriteTimeout]).
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request (default [DefaultIdleTimeout]).
	IdleTimeout time.Duration
	// ReadyTimeout bounds the store check behind GET /readyz
	// (default [DefaultReadyTimeout]).
	ReadyTimeout time.Duration
}

// withDefaults validates c and fills its zero fields.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	if c.BodyLimit < 0 {
		errs = append(errs, fmt.Errorf("body limit %d is negative", c.BodyLimit))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read timeout", c.ReadTimeout}, {"write timeout", c.WriteTimeout}, {"idle timeout", c.IdleTimeout}, {"ready timeout", c.ReadyTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s is negative", d.name, d.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("httpapi: invalid config: %w", err)
	}
	c.BodyLimit = orDefault(c.BodyLimit, DefaultBodyLimit)
	c.ReadTimeout = orDefault(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = orDefault(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.ReadyTimeout = orDefault(c.ReadyTimeout, DefaultReadyTimeout)
	return c, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// refuseCompressed answers 415 to a request with a compressed body:
// fiber inflates bodies without a bound, so a request of a kilobyte could
// make the node allocate gigabytes. No API here takes compressed bodies.
func refuseCompressed(c *fiber.Ctx) error {
	if len(c.Request().Header.ContentEncoding()) > 0 {
		return &Problem{Type: ProblemUnsupportedMediaType, Title: "Unsupported media type", Status: http.StatusUnsupportedMediaType,
			Detail: "Request bodies may not be compressed (Content-Encoding)."}
	}
	return c.Next()
}

// Server is the Clavis HTTP app over one event store. Create it with
// [New]; run it with [Server.Serve] and stop it with [Server.Shutdown].
// Its methods are safe for concurrent use.
type Server struct {
	app   *fiber.App
	store eventstore.Store
	log   *slog.Logger
	cfg   Config
	admin *Admin          // nil without WithAdmin
	oauth *oauth.Provider // nil without WithOAuth
	// origins decides cross-origin requests; nil without WithCORS.
	origins Origins
	ready   []ReadyCheck
	// auditLog is read by the audit API; nil without WithAuditLog.
	auditLog AuditLog
	// webhooks serves the webhook management routes; nil without
	// WithWebhooks.
	webhooks *Webhooks
	// proxies are the trusted proxies (see WithTrustedProxies).
	proxies []netip.Prefix
	// guesses slows down the guessing of credentials (see WithGuesses).
	guesses *guess.Limiter
	// exports holds a token for each audit export being sent.
	exports chan struct{}
	// events serves the events API; nil without WithEvents. readers
	// bounds its streams and long polls, encoded and tails share their
	// work.
	events  *Events
	readers *readerLimits
	encoded *encodedEvents
	tails   *tails
	// readingAhead holds a token per page being read ahead.
	readingAhead chan struct{}
	// stopping is closed when Shutdown begins: streams and long polls
	// end at once instead of holding the shutdown up.
	stopping chan struct{}

	mu        sync.Mutex
	listeners []*onceCloseListener
	stopped   bool
}

// Option configures [New].
type Option func(*options) error

// ErrInvalidOption is wrapped by every error an [Option] returns.
var ErrInvalidOption = errors.New("httpapi: invalid option")

// options is what the options set; New hands it to the Server.
type options struct {
	admin    *Admin
	oauth    *oauth.Provider
	origins  Origins
	ready    []ReadyCheck
	proxies  []netip.Prefix
	auditLog AuditLog
	webhooks *Webhooks
	events   *Events
	console  *console.Config
	guesses  *guess.Limiter
}

// New builds the app: the fiber configuration, the middleware and every
// route, reading from store and logging to log (a nil log logs nothing).
// It does not listen.
// Without options it serves the health routes and /openapi.json;
// [WithAdmin] adds the platform and tenant admin APIs.
func New(cfg Config, store eventstore.Store, log *slog.Logger, opts ...Option) (*Server, error) {
	if store == nil {
		return nil, errors.New("httpapi: nil store")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.guesses == nil {
		if o.guesses, err = guess.New(); err != nil {
			return nil, err
		}
	}
	s := &Server{store: store, log: log, cfg: cfg, admin: o.admin, oauth: o.oauth, origins: o.origins, ready: o.ready, proxies: o.proxies, guesses: o.guesses, auditLog: o.auditLog, webhooks: o.webhooks,
		exports: make(chan struct{}, maxExports), events: o.events, readers: newReaderLimits(o.events),
		encoded: newEncodedEvents(encodedCacheSize), stopping: make(chan struct{}), readingAhead: make(chan struct{}, runtime.GOMAXPROCS(0))}
	s.tails = &tails{s: s, m: map[string]*tail{}}
	if s.events != nil && s.admin == nil {
		return nil, errors.New("httpapi: WithEvents needs WithAdmin")
	}
	if s.oauth != nil && s.admin == nil {
		return nil, errors.New("httpapi: WithOAuth needs WithAdmin")
	}
	if s.webhooks != nil && s.admin == nil {
		return nil, errors.New("httpapi: WithWebhooks needs WithAdmin")
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "clavis",
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		DisableStartupMessage: true,
		// Paths are matched as browsers match cookie paths: exactly.
		// Otherwise /T/acme/oauth2/logout reaches the logout endpoint
		// without the login cookie scoped to /t/acme/.
		CaseSensitive: true,
		// The OAuth endpoints parse their forms themselves (fosite), so
		// that a malformed multipart body is an RFC 6749 invalid_request;
		// fasthttp's pre-parsing would answer it before any handler.
		DisablePreParseMultipartForm: true,
		ErrorHandler:                 errorHandler(log),
	})
	// A handler that panics answers 500 and is logged; the node, and
	// every other request, carry on.
	s.app.Use(fiberrecover.New(fiberrecover.Config{EnableStackTrace: true, StackTraceHandler: logPanic(log)}),
		withRequestID, telemetry(), accessLog(log), refuseCompressed)
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/openapi.json", serveOpenAPI)
	if s.admin != nil {
		s.adminRoutes()
		s.auditRoutes()
		s.keyRoutes()
		s.auditKeyRoutes()
		if s.webhooks != nil {
			s.webhookRoutes()
		}
		if s.events != nil {
			s.eventsRoutes()
		}
		if s.oauth != nil {
			s.oauthRoutes()
		}
		if o.console != nil {
			if err := s.consoleRoutes(*o.console); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// logPanic logs a handler's panic at error level, with its route and
// stack (never the request's body or headers).
func logPanic(log *slog.Logger) func(c *fiber.Ctx, e any) {
	return func(c *fiber.Ctx, e any) {
		log.Error("handler panicked", "route", c.Route().Path, "panic", fmt.Sprint(e), "stack", string(debug.Stack()))
	}
}

// Serve accepts connections on ln and serves them until [Server.Shutdown]
// is called; then it returns nil. It returns at once, closing ln, if the
// server was already shut down. Any other error comes from accepting
// connections.
func (s *Server) Serve(ln net.Listener) error {
	l := &onceCloseListener{Listener: ln}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
	if err := s.app.Listener(l); err != nil {
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Shutdown stops accepting connections, ends the events API's streams
// and long polls (a long poll answers its empty page), closes idle
// connections and waits for requests in flight to finish, or for ctx to end (then it returns the
// context's error and leaves the remaining connections to the process's
// exit). After Shutdown, Serve returns.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.stopped {
		close(s.stopping)
	}
	s.stopped = true
	listeners := s.listeners
	s.mu.Unlock()
	// Closing the listeners here, not only in fiber, stops a Serve that
	// has not yet handed its listener to fasthttp, which would otherwise
	// miss the shutdown and serve on.
	for _, l := range listeners {
		_ = l.Close()
	}
	if err := s.app.ShutdownWithContext(ctx); err != nil {
		return fmt.Errorf("shut down http server: %w", err)
	}
	return nil
}

// onceCloseListener lets both Shutdown and fasthttp close the listener:
// fasthttp gives up on a shutdown when its Close fails.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}
