package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/eventtype"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
)

// The events API: a tenant's public CloudEvents for downstream services,
// under /t/{tenant}/events. Pages come from the event store itself, in
// store order, so a cursor (a store position) stays valid forever and
// any node answers it; the node's wake hub only says when to read again.
// Every route needs a tenant token with clavis:events:read, or one with
// clavis:admin, or the root token (tenantEvents).

// Defaults of [Events].
const (
	DefaultHeartbeat           = 15 * time.Second
	DefaultRecheck             = 15 * time.Second
	DefaultMaxStreamAge        = 30 * time.Minute
	DefaultMaxReadersPerTenant = 200
	DefaultMaxReaders          = 2000
)

// The limits of the events API's parameters.
const (
	defaultEventsPage = 100
	maxEventsPage     = 1000
	maxEventsWait     = 60 // seconds
	// maxEventsScan bounds how many events one page request reads from
	// the store when a type filter leaves most of them out: the page is
	// then shorter (even empty), and its next cursor is past them.
	maxEventsScan = eventstore.MaxRead
	// streamPage is how many events a stream reads from the store at a
	// time: what one stream holds in memory, whatever its backlog.
	streamPage = 100
	// streamRetry is the reconnection delay a stream suggests to its
	// EventSource (the retry: field), in milliseconds.
	streamRetry = 2000
	// readersRetryAfter is the Retry-After of a 429, in seconds.
	readersRetryAfter = 5
	// encodedCacheSize is how many encoded CloudEvents a node keeps, so
	// that the streams of a tenant encode each new event once.
	encodedCacheSize = 4096
	// encodeShare is the fewest events a page encodes per processor.
	encodeShare = 50
	// maxAccessTokenParam bounds a token in the query string, in bytes.
	maxAccessTokenParam = 4096
)

// TenantWaker tells when a tenant has new events; *wake.Hub is one.
type TenantWaker interface {
	// Next returns a channel closed at the tenant's next event observed
	// after the call.
	Next(tenant string) <-chan struct{}
}

// Events is what the events API needs. Give it to [New] with
// [WithEvents].
type Events struct {
	// Wake says when a tenant has new events: the long polls and the
	// streams wait on it, then read the store. Required.
	Wake TenantWaker
	// Heartbeat is how often an idle stream sends a comment, so that
	// proxies keep it open (default [DefaultHeartbeat]).
	Heartbeat time.Duration
	// Recheck bounds how long a stream goes without deciding again
	// whether the token it was opened with may still read the tenant's
	// events, as the route decided when it opened (default
	// [DefaultRecheck]). A stream decides again at every heartbeat,
	// every Recheck when that is shorter, and before sending events
	// once Recheck has passed since the last decision; it ends when the
	// token is refused, and at the token's expiry.
	Recheck time.Duration
	// MaxStreamAge ends a stream after that long (default
	// [DefaultMaxStreamAge]): its client reconnects with Last-Event-ID
	// and the token it holds then.
	MaxStreamAge time.Duration
	// MaxReadersPerTenant bounds the streams and waiting long polls of
	// one tenant on this node (default [DefaultMaxReadersPerTenant]);
	// MaxReaders those of every tenant (default [DefaultMaxReaders]).
	// Beyond them a request is answered 429 with Retry-After.
	MaxReadersPerTenant int
	MaxReaders          int
	// Now is the clock a stream judges its token's expiry by (default
	// time.Now).
	Now func() time.Time
}

// WithEvents serves the events API (/t/{tenant}/events and its stream)
// over e; it needs [WithAdmin]. Without it those routes answer 404.
func WithEvents(e Events) Option {
	return func(o *options) error {
		if e.Wake == nil {
			return fmt.Errorf("%w: WithEvents: nil Wake", ErrInvalidOption)
		}
		if e.Heartbeat < 0 || e.Recheck < 0 || e.MaxStreamAge < 0 || e.MaxReadersPerTenant < 0 || e.MaxReaders < 0 {
			return fmt.Errorf("%w: WithEvents: negative heartbeat, age or limit", ErrInvalidOption)
		}
		e.Heartbeat = orDefault(e.Heartbeat, DefaultHeartbeat)
		e.Recheck = orDefault(e.Recheck, DefaultRecheck)
		e.MaxStreamAge = orDefault(e.MaxStreamAge, DefaultMaxStreamAge)
		e.MaxReadersPerTenant = orDefault(e.MaxReadersPerTenant, DefaultMaxReadersPerTenant)
		e.MaxReaders = orDefault(e.MaxReaders, DefaultMaxReaders)
		if e.Now == nil {
			e.Now = time.Now
		}
		o.events = &e
		return nil
	}
}

// The events API's query parameters.
var (
	eventsLimitParam = intParam("limit", 1, maxEventsPage)
	eventsWaitParam  = intParam("wait", 0, maxEventsWait)
	cursorParam      = queryParam{name: "after", valid: validCursor, code: "invalid_value",
		rule: `a cursor: the "next" of a page or the id of a streamed event ("commit.seq")`}
	eventTypesParam = queryParam{name: "type", repeats: true, valid: func(v string) bool {
		_, err := eventtype.Parse([]string{v})
		return err == nil
	}, code: "invalid_value", rule: `an event type pattern: "*", "{aggregate}.*" or "{aggregate}.{event}", optionally prefixed "dev.clavis."`}
	// accessTokenParam carries the bearer token of a stream, for
	// browsers' EventSource, which cannot send headers (RFC 6750 §2.3).
	accessTokenParam = queryParam{name: "access_token", maxLen: maxAccessTokenParam}
)

func validCursor(v string) bool {
	_, err := eventstore.ParsePosition(v)
	return err == nil
}

// eventsRoutes registers the events API.
func (s *Server) eventsRoutes() {
	get := s.cors("GET", tenantOrigins, "Authorization, Last-Event-ID")
	s.app.Get("/t/:tenant/events", get, s.authenticate(tenantEvents), acceptQuery(cursorParam, eventTypesParam, eventsLimitParam, eventsWaitParam), s.listEvents)
	s.app.Options("/t/:tenant/events", get)
	s.app.Get("/t/:tenant/events/stream", get, s.authenticateOrQuery(tenantEvents), acceptQuery(cursorParam, eventTypesParam, accessTokenParam), s.streamEvents)
	s.app.Options("/t/:tenant/events/stream", get)
}

// eventsTenant is the {tenant} of an events route, once it is known to
// exist (the root token reaches every slug; an unknown one is 404, not
// an empty feed).
func (s *Server) eventsTenant(c *fiber.Ctx) (string, error) {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return "", err
	}
	if _, err := s.admin.ReadModel.Tenant(c.UserContext(), slug); err != nil {
		return "", fmt.Errorf("events: %w", err)
	}
	return slug, nil
}

// typeFilter is the request's type patterns, which acceptQuery checked
// one by one.
func typeFilter(c *fiber.Ctx) (eventtype.Filter, error) {
	var patterns []string
	for _, v := range c.Context().QueryArgs().PeekMulti("type") {
		if len(v) > 0 {
			patterns = append(patterns, string(v)) // a copy: fasthttp reuses its buffers
		}
	}
	f, err := eventtype.Parse(patterns)
	if err != nil {
		return f, invalidParameter("type", "invalid_value", "type: %s", strings.TrimPrefix(err.Error(), eventtype.ErrInvalid.Error()+": "))
	}
	return f, nil
}

// cursorQuery is the request's after parameter, which acceptQuery
// checked; the zero Position (the beginning) without one.
func cursorQuery(c *fiber.Ctx) (eventstore.Position, bool) {
	p, err := eventstore.ParsePosition(c.Query("after"))
	return p, err == nil
}

// listEvents answers GET /t/{tenant}/events: one page of the tenant's
// public CloudEvents after the cursor, waiting up to wait seconds for one
// when there is none yet.
func (s *Server) listEvents(c *fiber.Ctx) error {
	slug, err := s.eventsTenant(c)
	if err != nil {
		return err
	}
	f, err := typeFilter(c)
	if err != nil {
		return err
	}
	after, _ := cursorQuery(c)
	limit := queryInt(c, "limit", defaultEventsPage)
	wait := time.Duration(queryInt(c, "wait", 0)) * time.Second
	ctx := c.UserContext()
	var (
		deadline <-chan time.Time
		holding  bool
	)
	defer func() {
		if holding {
			s.readers.release(slug)
		}
	}()
	for {
		// Take the wake-up channel before reading: an event committed
		// while we read closes it, so none is missed.
		var woken <-chan struct{}
		if wait > 0 {
			woken = s.events.Wake.Next(slug)
		}
		page, next, end, err := s.eventsPage(ctx, slug, after, f, limit)
		if err != nil {
			return err
		}
		if len(page) == limit && !end {
			s.readAhead(slug, next, f, limit)
		}
		if len(page) > 0 || !end || wait <= 0 {
			return sendEventsPage(c, page, next)
		}
		after = next
		if deadline == nil {
			if !s.readers.acquire(slug) {
				return tooManyReaders(c)
			}
			holding = true
			t := time.NewTimer(wait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-woken:
		case <-deadline:
			return sendEventsPage(c, nil, after)
		case <-s.stopping:
			return sendEventsPage(c, nil, after)
		}
	}
}

// sendEventsPage writes a page, {"events":[<CloudEvent>,…],"next":
// "<cursor>"}, from the encoded events as they are: encoding/json would
// scan every byte of them again.
func sendEventsPage(c *fiber.Ctx, page []json.RawMessage, next eventstore.Position) error {
	n := 64
	for _, e := range page {
		n += len(e) + 1
	}
	buf := make([]byte, 0, n)
	buf = append(buf, `{"events":[`...)
	for i, e := range page {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, e...)
	}
	buf = append(buf, `],"next":"`...)
	buf = append(buf, next.String()...) // digits and a dot
	buf = append(buf, `"}`...)
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Status(http.StatusOK)
	return c.Send(buf)
}

// eventsPage reads up to limit events of tenant after the position after
// that f matches, as CloudEvents, reading at most maxEventsScan events.
// next is the position of the last event read (after itself when none
// was), end whether it read to the end of what the store holds.
func (s *Server) eventsPage(ctx context.Context, tenant string, after eventstore.Position, f eventtype.Filter, limit int) (page []json.RawMessage, next eventstore.Position, end bool, err error) {
	matched, next, end, err := s.matchingEvents(ctx, tenant, after, f, limit)
	if err != nil {
		return nil, after, false, err
	}
	if page, err = s.encodeAll(matched); err != nil {
		return nil, after, false, err
	}
	return page, next, end, nil
}

// matchingEvents reads the events of an [Server.eventsPage].
func (s *Server) matchingEvents(ctx context.Context, tenant string, after eventstore.Position, f eventtype.Filter, limit int) (matched []eventstore.Event, next eventstore.Position, end bool, err error) {
	next = after
	chunk := limit
	if !f.All() {
		chunk = maxEventsPage
	}
	for scanned := 0; scanned < maxEventsScan; {
		n := min(chunk, maxEventsScan-scanned)
		events, err := s.store.ReadTenant(ctx, tenant, next, n)
		if err != nil {
			return nil, after, false, fmt.Errorf("read events: %w", err)
		}
		for _, e := range events {
			next = e.Position
			if !f.Match(e.Type) {
				continue
			}
			matched = append(matched, e)
			if len(matched) == limit {
				return matched, next, false, nil
			}
		}
		scanned += len(events)
		if len(events) < n {
			return matched, next, true, nil
		}
	}
	return matched, next, false, nil
}

// readAhead encodes the page after next into the encoded events' cache
// while the client reads this one, so that a client paging through a
// backlog finds it ready: it costs a read of the store when the client
// stops there. At most one read-ahead per processor runs at a time;
// beyond, it is skipped.
func (s *Server) readAhead(tenant string, next eventstore.Position, f eventtype.Filter, limit int) {
	select {
	case s.readingAhead <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-s.readingAhead }()
		// On one processor: the client is decoding on another.
		matched, _, _, err := s.matchingEvents(context.Background(), tenant, next, f, limit)
		for i := 0; err == nil && i < len(matched); i++ {
			_, err = s.encoded.get(matched[i])
		}
	}()
}

// encodeAll encodes events as CloudEvents, on every processor for a
// long page: encoding costs more than reading.
func (s *Server) encodeAll(events []eventstore.Event) ([]json.RawMessage, error) {
	out := make([]json.RawMessage, len(events))
	workers := min(runtime.GOMAXPROCS(0), len(events)/encodeShare)
	if workers <= 1 {
		for i, e := range events {
			b, err := s.encoded.get(e)
			if err != nil {
				return nil, err
			}
			out[i] = b
		}
		return out, nil
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(events); i += workers {
				b, err := s.encoded.get(events[i])
				if err != nil {
					errs[w] = err
					return
				}
				out[i] = b
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// streamEvents answers GET /t/{tenant}/events/stream: Server-Sent Events,
// each a CloudEvent whose id is its cursor, from Last-Event-ID, else
// after, else the current end of the store, until the client goes, the
// server stops, the stream reaches its maximum age, or its token expires
// or is refused (checked again every Events.Recheck).
func (s *Server) streamEvents(c *fiber.Ctx) error {
	slug, err := s.eventsTenant(c)
	if err != nil {
		return err
	}
	f, err := typeFilter(c)
	if err != nil {
		return err
	}
	after, given := cursorQuery(c)
	if id := c.Get("Last-Event-ID"); id != "" {
		if after, err = eventstore.ParsePosition(strings.TrimSpace(id)); err != nil {
			return &Problem{Type: ProblemBadRequest, Title: "Bad request", Status: http.StatusBadRequest,
				Detail: "Last-Event-ID must be the id of a streamed event (\"commit.seq\")."}
		}
		given = true
	}
	ctx := context.WithoutCancel(c.UserContext())
	if !given {
		if after, err = s.store.Head(ctx); err != nil {
			return fmt.Errorf("read head: %w", err)
		}
	}
	if !s.readers.acquire(slug) {
		return tooManyReaders(c)
	}
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Accel-Buffering", "no") // proxies that buffer answers pass this one on at once
	c.Status(http.StatusOK)
	st := &eventStream{s: s, tenant: slug, filter: f, after: after, sent: after,
		token: streamToken(c), expiry: principal(c).Expiry, checked: s.events.Now()}
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer s.readers.release(slug)
		out := &progressWriter{w: w, conn: conn, timeout: s.cfg.WriteTimeout}
		err := st.run(ctx, out, w)
		if errors.Is(err, errStreamRefused) {
			s.log.Debug("event stream ended: its token no longer reads the tenant's events", "tenant", slug, "error", err)
			return
		}
		if err != nil && !out.failed {
			s.log.Warn("event stream ended on an error", "tenant", slug, "position", st.after.String(), "error", err)
		}
	})
	return nil
}

// streamToken is the token a stream was admitted with: from the
// Authorization header, else from access_token (authenticateOrQuery
// took one of them), copied out of the request's buffers.
func streamToken(c *fiber.Ctx) string {
	if token, ok := bearer(c.Get(fiber.HeaderAuthorization)); ok {
		return strings.Clone(token)
	}
	return string(c.Context().QueryArgs().Peek("access_token"))
}

// errStreamRefused is why a stream ends when its token no longer reads
// the tenant's events.
var errStreamRefused = errors.New("event stream: token refused")

// eventStream is one stream's state: its cursor, filter and credential.
type eventStream struct {
	s      *Server
	tenant string
	filter eventtype.Filter
	// after is the position of the last event read; sent the last id
	// the client was sent.
	after, sent eventstore.Position
	// token is the credential the stream was admitted with, expiry when
	// it expires (zero for never), checked when it was last admitted.
	token   string
	expiry  time.Time
	checked time.Time
}

// recheck decides again, when forced or once Events.Recheck has passed
// since the last decision, whether the stream's token may read the
// tenant's events, as the route's middleware did when it opened; it
// costs what the middleware costs, once per interval, not per event
// (the token's signature is not verified again). It returns
// errStreamRefused, after telling the client why in a comment, when the
// token is refused, expired or the decision fails (a stream fails
// closed: its client reconnects and is answered as any new request).
func (st *eventStream) recheck(ctx context.Context, out io.Writer, force bool) error {
	now := st.s.events.Now()
	if !force && now.Sub(st.checked) < st.s.events.Recheck {
		return nil
	}
	if !st.expiry.IsZero() && !now.Before(st.expiry) {
		out.Write([]byte(": token expired\n\n"))
		return fmt.Errorf("%w: expired", errStreamRefused)
	}
	if _, err := st.s.decide(ctx, tenantEvents, st.tenant, st.token); err != nil {
		out.Write([]byte(": token no longer accepted\n\n"))
		return fmt.Errorf("%w: %w", errStreamRefused, err)
	}
	st.checked = now
	return nil
}

// run sends the stream until the client goes (a write fails) or the
// server stops. It holds one page of events at a time.
func (st *eventStream) run(ctx context.Context, out *progressWriter, w *bufio.Writer) error {
	// The opening block names the stream's start as its id, without an
	// event: a client that loses the connection before the first event
	// resumes from there, not from a later "now".
	fmt.Fprintf(out, "retry: %d\nid: %s\n: clavis events of %s\n\n", streamRetry, st.after, st.tenant)
	if err := w.Flush(); err != nil {
		return err
	}
	heartbeat := time.NewTicker(st.s.events.Heartbeat)
	defer heartbeat.Stop()
	// Between heartbeats only when they are further apart than Recheck.
	var recheck <-chan time.Time
	if st.s.events.Recheck < st.s.events.Heartbeat {
		t := time.NewTicker(st.s.events.Recheck)
		defer t.Stop()
		recheck = t.C
	}
	// The stream ends at its maximum age, or at its token's expiry when
	// that comes first (then after telling the client why).
	maxAge, expires := st.s.events.MaxStreamAge, false
	if left := st.expiry.Sub(st.s.events.Now()); !st.expiry.IsZero() && left < maxAge {
		maxAge, expires = max(left, 0), true
	}
	age := time.NewTimer(maxAge)
	defer age.Stop()
	ended := func() error {
		if !expires {
			return nil
		}
		out.Write([]byte(": token expired\n\n"))
		return errors.Join(fmt.Errorf("%w: expired", errStreamRefused), w.Flush())
	}
	// A stream behind reads the store itself, a page at a time; once it
	// has caught up it follows the tenant's tail, which one reader keeps
	// for all of the tenant's streams on this node.
	var tl *tail
	defer func() {
		if tl != nil {
			st.s.tails.leave(tl)
		}
	}()
	caughtUp := false
	for {
		var (
			events []eventstore.Event
			woken  <-chan struct{}
			err    error
		)
		if caughtUp && tl == nil {
			tl = st.s.tails.join(st.tenant, st.after)
		}
		ok := false
		if caughtUp {
			// ok is false when the tail does not reach back to this
			// stream's cursor (it started, or has moved on, after it):
			// then the stream reads the store, and waits on the
			// tenant's wake-ups, until it is within the tail.
			events, woken, ok = tl.after(st.after, streamPage)
		}
		if !ok {
			woken = st.s.events.Wake.Next(st.tenant)
			if events, err = st.s.store.ReadTenant(ctx, st.tenant, st.after, streamPage); err != nil {
				return fmt.Errorf("read events: %w", err)
			}
		}
		if len(events) > 0 {
			// Nothing more is sent once the interval has passed without
			// the token being admitted again.
			if err := st.recheck(ctx, out, false); err != nil {
				return errors.Join(err, w.Flush())
			}
		}
		for _, e := range events {
			st.after = e.Position
			if !st.filter.Match(e.Type) {
				continue
			}
			b, err := st.s.encoded.get(e)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "id: %s\nevent: %s%s\ndata: ", e.Position, message.TypePrefix, e.Type)
			out.Write(b)
			if _, err := out.Write([]byte("\n\n")); err != nil {
				return err
			}
			st.sent = e.Position
		}
		if len(events) > 0 {
			if err := w.Flush(); err != nil {
				return err
			}
		}
		caughtUp = len(events) < streamPage
		if !caughtUp {
			select {
			case <-st.s.stopping:
				return nil
			case <-age.C:
				return ended()
			default:
				continue
			}
		}
		for waiting := true; waiting; {
			select {
			case <-woken:
				waiting = false
			case <-recheck:
				if err := st.recheck(ctx, out, true); err != nil {
					return errors.Join(err, w.Flush())
				}
			case <-heartbeat.C:
				if err := st.recheck(ctx, out, true); err != nil {
					return errors.Join(err, w.Flush())
				}
				if st.sent != st.after {
					// An id alone moves the client's Last-Event-ID past the
					// events the filter left out, without an event.
					fmt.Fprintf(out, "id: %s\n\n", st.after)
					st.sent = st.after
				} else {
					out.Write([]byte(": heartbeat\n\n"))
				}
				if err := w.Flush(); err != nil {
					return err
				}
			case <-age.C:
				return ended()
			case <-st.s.stopping:
				return nil
			}
		}
	}
}

// tooManyReaders is the answer beyond the readers' limits.
func tooManyReaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(readersRetryAfter))
	return &Problem{Type: ProblemTooManyRequests, Title: "Too many requests", Status: http.StatusTooManyRequests,
		Detail: "This node has as many event streams and waiting long polls open as it serves, for this tenant or in all; try again later."}
}

// readerLimits counts the streams and waiting long polls, per tenant and
// in all.
type readerLimits struct {
	mu                  sync.Mutex
	perTenant           map[string]int
	total               int
	maxTenant, maxTotal int
}

func newReaderLimits(e *Events) *readerLimits {
	if e == nil {
		return nil
	}
	return &readerLimits{perTenant: map[string]int{}, maxTenant: e.MaxReadersPerTenant, maxTotal: e.MaxReaders}
}

// acquire takes a reader's place for tenant, or reports that there is
// none left.
func (l *readerLimits) acquire(tenant string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.maxTotal || l.perTenant[tenant] >= l.maxTenant {
		return false
	}
	l.total++
	l.perTenant[tenant]++
	return true
}

// release gives back a place acquire took.
func (l *readerLimits) release(tenant string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perTenant[tenant]--; l.perTenant[tenant] <= 0 {
		delete(l.perTenant, tenant)
	}
}

// encodedEvents keeps the CloudEvent JSON of the latest events read, by
// event id (unique in the store), so that the streams and pages of a
// tenant encode each event once. It holds at most size events.
type encodedEvents struct {
	mu   sync.Mutex
	m    map[string]json.RawMessage
	ring []string
	next int
}

func newEncodedEvents(size int) *encodedEvents {
	return &encodedEvents{m: make(map[string]json.RawMessage, size), ring: make([]string, size)}
}

// get returns e's public CloudEvent as JSON on one line.
func (c *encodedEvents) get(e eventstore.Event) (json.RawMessage, error) {
	if len(c.ring) > 0 {
		c.mu.Lock()
		b, ok := c.m[e.ID]
		c.mu.Unlock()
		if ok {
			return b, nil
		}
	}
	ce, err := message.PublicEvent(e)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	// The event's own MarshalJSON, not json.Marshal, which would scan
	// its output again to compact it.
	b, err := ce.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("events: encode event %s: %w", e.ID, err)
	}
	if bytes.ContainsAny(b, "\r\n") {
		// A stream sends each event on one line.
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return nil, fmt.Errorf("events: encode event %s: %w", e.ID, err)
		}
		b = buf.Bytes()
	}
	if len(c.ring) > 0 {
		c.mu.Lock()
		if _, ok := c.m[e.ID]; !ok {
			if old := c.ring[c.next]; old != "" {
				delete(c.m, old)
			}
			c.ring[c.next] = e.ID
			c.next = (c.next + 1) % len(c.ring)
			c.m[e.ID] = b
		}
		c.mu.Unlock()
	}
	return b, nil
}

// tailKeep is how many of a tenant's latest events its tail keeps.
const tailKeep = 1024

// tails are the tails of the tenants that have caught-up streams on this
// node: a tenant's streams wake together at each of its events, and one
// reader, not each stream, reads the store for them.
type tails struct {
	s  *Server
	mu sync.Mutex
	m  map[string]*tail
}

// tail is one tenant's latest events, read from the store by one
// goroutine while streams follow it. events are exactly the tenant's
// events after base, in order: a stream whose cursor is at or after base
// takes what follows its cursor without reading the store.
type tail struct {
	tenant string
	users  int           // streams following it; guarded by tails.mu
	quit   chan struct{} // closed when the last stream leaves

	mu     sync.Mutex
	base   eventstore.Position
	events []eventstore.Event
	grown  chan struct{} // closed when events grow, then replaced
}

// join returns the tenant's tail, starting one at from (a position the
// caller has read up to) when the tenant has none.
func (t *tails) join(tenant string, from eventstore.Position) *tail {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tl, ok := t.m[tenant]; ok {
		tl.users++
		return tl
	}
	tl := &tail{tenant: tenant, users: 1, quit: make(chan struct{}), base: from, grown: make(chan struct{})}
	t.m[tenant] = tl
	go t.follow(tl)
	return tl
}

// leave says a stream no longer follows tl; the last one stops it.
func (t *tails) leave(tl *tail) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tl.users--; tl.users == 0 {
		close(tl.quit)
		delete(t.m, tl.tenant)
	}
}

// follow keeps tl until its last stream leaves or the server stops:
// it reads the store after each of the tenant's wake-ups.
func (t *tails) follow(tl *tail) {
	ctx := context.Background()
	cursor := tl.base
	for {
		woken := t.s.events.Wake.Next(tl.tenant)
		var retry <-chan time.Time
		events, err := t.s.store.ReadTenant(ctx, tl.tenant, cursor, streamPage)
		if err != nil {
			t.s.log.Warn("event stream tail: read failed; retrying", "tenant", tl.tenant, "position", cursor.String(), "error", err)
			retry = time.After(time.Second)
		} else if len(events) > 0 {
			cursor = events[len(events)-1].Position
			tl.add(events)
			if len(events) == streamPage {
				continue
			}
		}
		select {
		case <-woken:
		case <-retry:
		case <-tl.quit:
			return
		case <-t.s.stopping:
			return
		}
	}
}

// add appends events and wakes the streams, forgetting the oldest
// beyond tailKeep.
func (tl *tail) add(events []eventstore.Event) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.events = append(tl.events, events...)
	if n := len(tl.events) - tailKeep; n > 0 {
		tl.base = tl.events[n-1].Position
		tl.events = slices.Clone(tl.events[n:])
	}
	close(tl.grown)
	tl.grown = make(chan struct{})
}

// after returns up to limit of the tenant's events after the position,
// and a channel closed when more come; ok is false when the tail does
// not reach back to the position.
func (tl *tail) after(p eventstore.Position, limit int) (events []eventstore.Event, grown <-chan struct{}, ok bool) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	if p.Less(tl.base) {
		return nil, nil, false
	}
	i, _ := slices.BinarySearchFunc(tl.events, p, func(e eventstore.Event, p eventstore.Position) int {
		switch {
		case e.Position.Less(p):
			return -1
		case p.Less(e.Position):
			return 1
		}
		return 0
	})
	for i < len(tl.events) && !p.Less(tl.events[i].Position) {
		i++
	}
	rest := tl.events[i:]
	return rest[:min(limit, len(rest)):min(limit, len(rest))], tl.grown, true
}
