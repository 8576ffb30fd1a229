package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/domain/aggregates"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// AuditLog is what the audit API reads of the tenants' audit logs;
// *auditlog.Log implements it. Its methods fail with an error matching
// [auditlog.ErrNotFound] for what the log does not hold.
type AuditLog interface {
	Latest(ctx context.Context, tenant string) (auditlog.SignedCheckpoint, error)
	Checkpoints(ctx context.Context, tenant string, after int64, limit int) ([]auditlog.SignedCheckpoint, error)
	Entries(ctx context.Context, tenant string, f auditlog.Filter, after int64, limit int) ([]auditlog.Entry, error)
	ProveInclusion(ctx context.Context, tenant string, index, size int64) (tlog.Hash, tlog.RecordProof, error)
	ProveConsistency(ctx context.Context, tenant string, from, to int64) (tlog.TreeProof, error)
	Export(ctx context.Context, tenant string, size int64, w io.Writer) error
}

// WithAuditLog serves the audit log's routes of the audit API over l:
// checkpoints, events, proofs and the export. Without it those routes
// answer 404.
func WithAuditLog(l AuditLog) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithAuditLog: nil log", ErrInvalidOption)
		}
		o.auditLog = l
		return nil
	}
}

// The query parameters of the audit log's routes.
var (
	auditLimitParam = intParam("limit", 1, projections.MaxPage)
	// sizeAfterParam is the cursor of the checkpoints: the size of the
	// last one seen.
	sizeAfterParam = int64Param("after", 0)
	// indexAfterParam is the cursor of the events: the leaf index of the
	// last one seen.
	indexAfterParam = int64Param("after", 0)
	clientParam     = textParam("client", 256)
	aggregateParam  = enumParam("aggregate", aggregates.Types...)
	eventTypeParam  = textParam("type", 128)
	actorParam      = textParam("actor", 512)
	sinceParam      = timeParam("since")
	untilParam      = timeParam("until")
	indexParam      = int64Param("index", 0)
	eventParam      = textParam("event", 128)
	sizeParam       = int64Param("size", 1)
	fromParam       = int64Param("from", 1)
	toParam         = int64Param("to", 1)
)

// int64Param takes a decimal integer of at least lo.
func int64Param(name string, lo int64) queryParam {
	return queryParam{name: name, valid: func(v string) bool {
		n, err := strconv.ParseInt(v, 10, 64)
		return err == nil && n >= lo && v == strconv.FormatInt(n, 10)
	}, code: "out_of_range", rule: fmt.Sprintf("an integer of at least %d", lo)}
}

// timeParam takes an RFC 3339 time with a time zone.
func timeParam(name string) queryParam {
	return queryParam{name: name, valid: func(v string) bool {
		_, err := time.Parse(time.RFC3339Nano, v)
		return err == nil
	}, code: "invalid_value", rule: `an RFC 3339 time with a time zone ("2030-01-02T03:04:05Z")`}
}

// queryInt64 reads an integer parameter that [acceptQuery] checked; def
// when it is absent.
func queryInt64(c *fiber.Ctx, name string, def int64) int64 {
	if n, err := strconv.ParseInt(c.Query(name), 10, 64); err == nil {
		return n
	}
	return def
}

// queryTime reads a time parameter that [acceptQuery] checked; the zero
// time when it is absent.
func queryTime(c *fiber.Ctx, name string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, c.Query(name))
	return t
}

// auditLogRoutes registers the audit log's routes on g, the audit API's
// group (/t/:tenant/audit). Each route authenticates its caller itself
// (tenantAudit), whatever the group does.
func (s *Server) auditLogRoutes(g fiber.Router) {
	audit := s.authenticate(tenantAudit)
	g.Get("/checkpoint", audit, noQuery, s.auditCheckpoint)
	g.Get("/checkpoints", audit, acceptQuery(sizeAfterParam, auditLimitParam), s.auditCheckpoints)
	g.Get("/events", audit, acceptQuery(clientParam, aggregateParam, eventTypeParam, actorParam, sinceParam, untilParam, indexAfterParam, auditLimitParam), s.auditEvents)
	g.Get("/proof/inclusion", audit, acceptQuery(indexParam, eventParam, sizeParam), s.auditInclusion)
	g.Get("/proof/consistency", audit, acceptQuery(fromParam, toParam), s.auditConsistency)
	g.Get("/export", audit, acceptQuery(sizeParam), s.auditExport)
}

// auditTenant is the {tenant} of an audit log route, once the node is
// known to keep audit logs and the tenant to exist (the root token
// reaches every slug; an unknown one is 404, not an empty log).
func (s *Server) auditTenant(c *fiber.Ctx) (string, error) {
	if s.auditLog == nil {
		return "", notFound()
	}
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return "", err
	}
	if _, err := s.admin.ReadModel.Tenant(c.UserContext(), slug); err != nil {
		return "", fmt.Errorf("audit log: %w", err)
	}
	return slug, nil
}

// latest is the tenant's latest signed checkpoint: 404 when it has none
// yet.
func (s *Server) latest(c *fiber.Ctx, slug string) (auditlog.SignedCheckpoint, error) {
	cp, err := s.auditLog.Latest(c.UserContext(), slug)
	if errors.Is(err, auditlog.ErrNotFound) {
		return cp, &Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound,
			Detail: "The tenant's audit log has no signed checkpoint yet."}
	}
	if err != nil {
		return cp, fmt.Errorf("latest checkpoint: %w", err)
	}
	return cp, nil
}

// auditCheckpoint answers the latest signed checkpoint, the note as it
// was signed and kept.
func (s *Server) auditCheckpoint(c *fiber.Ctx) error {
	slug, err := s.auditTenant(c)
	if err != nil {
		return err
	}
	cp, err := s.latest(c, slug)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(http.StatusOK).Send(cp.Note)
}

// checkpointJSON is one signed checkpoint in the list of them.
type checkpointJSON struct {
	Size     int64     `json:"size"`
	Root     tlog.Hash `json:"root"`
	Note     string    `json:"note"`
	SignedAt time.Time `json:"signed_at"`
}

// auditCheckpoints answers the tenant's signed checkpoints, smallest
// first, after the size of the last one seen.
func (s *Server) auditCheckpoints(c *fiber.Ctx) error {
	slug, err := s.auditTenant(c)
	if err != nil {
		return err
	}
	limit := queryInt(c, "limit", defaultPage)
	page, err := s.auditLog.Checkpoints(c.UserContext(), slug, queryInt64(c, "after", 0), min(limit+1, projections.MaxPage))
	if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
		return fmt.Errorf("list checkpoints: %w", err)
	}
	var next *int64
	if len(page) > limit || len(page) == projections.MaxPage {
		page = page[:limit]
		size := page[limit-1].Size
		next = &size
	}
	out := struct {
		Checkpoints []checkpointJSON `json:"checkpoints"`
		Next        *int64           `json:"next"`
	}{Checkpoints: make([]checkpointJSON, 0, len(page)), Next: next}
	for _, cp := range page {
		out.Checkpoints = append(out.Checkpoints, checkpointJSON{Size: cp.Size, Root: cp.Root, Note: string(cp.Note), SignedAt: cp.SignedAt})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}

// auditEventJSON is one leaf of a tenant's audit log: the event as an
// auditor reads it, with every field its leaf hash commits to, and, for a
// client's event, what it changed.
type auditEventJSON struct {
	Index         int64           `json:"index"`
	Position      string          `json:"position"`
	ID            string          `json:"id"`
	Aggregate     string          `json:"aggregate"`
	StreamID      string          `json:"stream_id"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	Schema        int             `json:"schema"`
	Actor         string          `json:"actor"`
	OccurredAt    time.Time       `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Reason        string          `json:"reason"`
	CorrelationID string          `json:"correlation_id"`
	CausationID   string          `json:"causation_id"`
	TraceParent   string          `json:"traceparent"`
	Source        string          `json:"source"`
	UserAgent     string          `json:"user_agent"`
	Data          json.RawMessage `json:"data"`
	DataDigest    tlog.Hash       `json:"data_digest"`
	// Changes are the members of the client the event changed; absent
	// for events of other aggregates.
	Changes []fieldChangeJSON `json:"changes,omitempty"`
}

// fieldChangeJSON is one member of a client that an event changed: its
// value before and after (null where it was absent). A member that holds
// secret material shows "changed" as its after, and no before.
type fieldChangeJSON struct {
	Field  string          `json:"field"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after"`
}

// secretChanged is what a change of a secret member shows.
var secretChanged = json.RawMessage(`"changed"`)

func newFieldChangesJSON(changes []tenants.FieldChange) []fieldChangeJSON {
	out := make([]fieldChangeJSON, 0, len(changes))
	for _, ch := range changes {
		if ch.Secret {
			out = append(out, fieldChangeJSON{Field: ch.Field, After: secretChanged})
			continue
		}
		out = append(out, fieldChangeJSON{Field: ch.Field, Before: orNull(ch.Before), After: orNull(ch.After)})
	}
	return out
}

func orNull(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("null")
	}
	return raw
}

// showClient is a client as the admin API's GET shows it: what diffs
// compare.
func showClient(v projections.ClientView) any { return newClientJSON(v, nil) }

// auditEvents answers a page of the tenant's audit log, filtered, in leaf
// order, after the leaf index of the last one seen.
func (s *Server) auditEvents(c *fiber.Ctx) error {
	slug, err := s.auditTenant(c)
	if err != nil {
		return err
	}
	f := auditlog.Filter{
		StreamType: queryText(c, "aggregate"), Type: queryText(c, "type"), Actor: queryText(c, "actor"),
		Since: queryTime(c, "since"), Until: queryTime(c, "until"),
	}
	if id := queryText(c, "client"); id != "" {
		if f.StreamType != "" && f.StreamType != aggregates.Client {
			return invalidParameter("aggregate", "invalid_value", "aggregate must be %s, or left out, with client", aggregates.Client)
		}
		f.StreamType, f.StreamID = aggregates.Client, id
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return invalidParameter("until", "out_of_range", "until must be after since")
	}
	limit := queryInt(c, "limit", defaultPage)
	after := queryInt64(c, "after", -1)
	var page []auditlog.Entry
	// The filter reads the zero time as no bound, and nothing was
	// recorded before it.
	if c.Query("until") == "" || !f.Until.IsZero() {
		page, err = s.auditLog.Entries(c.UserContext(), slug, f, after, min(limit+1, projections.MaxPage))
		if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
			return fmt.Errorf("list audit events: %w", err)
		}
	}
	var next *int64
	if len(page) > limit || len(page) == projections.MaxPage {
		page = page[:limit]
		index := page[limit-1].Index
		next = &index
	}
	// One fold of each client's stream for the whole page.
	var refs []tenants.ChangeRef
	for _, e := range page {
		if e.Stream.Type == aggregates.Client {
			refs = append(refs, tenants.ChangeRef{ClientID: e.Stream.ID, Version: e.Version, EventID: e.ID})
		}
	}
	changes, err := s.admin.Clients.ClientChanges(c.UserContext(), slug, refs, showClient)
	if err != nil {
		return fmt.Errorf("list audit events: %w", err)
	}
	out := struct {
		Events []auditEventJSON `json:"events"`
		Next   *int64           `json:"next"`
	}{Events: make([]auditEventJSON, 0, len(page)), Next: next}
	for _, e := range page {
		ev := auditEventJSON{
			Index: e.Index, Position: e.Position.String(), ID: e.ID, Aggregate: e.Stream.Type, StreamID: e.Stream.ID,
			Version: e.Version, Type: e.Type, Schema: e.Schema, Actor: e.Meta.Actor,
			OccurredAt: e.Meta.OccurredAt, RecordedAt: e.RecordedAt, Reason: e.Meta.Reason,
			CorrelationID: e.Meta.CorrelationID, CausationID: e.Meta.CausationID, TraceParent: e.Meta.TraceParent,
			Source: e.Meta.Source, UserAgent: e.Meta.UserAgent, Data: e.Data, DataDigest: e.DataDigest,
		}
		if e.Stream.Type == aggregates.Client {
			ev.Changes = []fieldChangeJSON{}
			if ch, ok := changes[e.ID]; ok {
				ev.Changes = newFieldChangesJSON(ch)
			}
		}
		out.Events = append(out.Events, ev)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}

// proofSize is the tree size a proof is asked against: the size
// parameter, which may not exceed the latest signed checkpoint's (a
// proof is checked against a signed root), or that checkpoint's.
func (s *Server) proofSize(c *fiber.Ctx, slug, param string, def bool) (int64, auditlog.SignedCheckpoint, error) {
	cp, err := s.latest(c, slug)
	if err != nil {
		return 0, cp, err
	}
	n := queryInt64(c, param, 0)
	if n == 0 {
		if !def {
			return 0, cp, invalidParameter(param, "required", "%s is required", param)
		}
		return cp.Size, cp, nil
	}
	if n > cp.Size {
		return 0, cp, invalidParameter(param, "out_of_range", "%s must be at most %d, the size of the latest signed checkpoint", param, cp.Size)
	}
	return n, cp, nil
}

// hashesJSON writes hashes as a list of base64 strings, [] when empty.
func hashesJSON(hs []tlog.Hash) []tlog.Hash {
	if hs == nil {
		return []tlog.Hash{}
	}
	return hs
}

// auditInclusion answers the proof that a leaf, given by its index or its
// event's id, is in the tree of a size, by default the latest signed
// checkpoint's.
func (s *Server) auditInclusion(c *fiber.Ctx) error {
	slug, err := s.auditTenant(c)
	if err != nil {
		return err
	}
	hasIndex, event := c.Query("index") != "", queryText(c, "event")
	switch {
	case hasIndex && event != "":
		return invalidParameter("event", "invalid_value", "give index or event, not both")
	case !hasIndex && event == "":
		return invalidParameter("index", "required", "index (a leaf index) or event (an event id) is required")
	}
	size, _, err := s.proofSize(c, slug, "size", true)
	if err != nil {
		return err
	}
	index := queryInt64(c, "index", 0)
	if event != "" {
		if index, err = s.leafOf(c.UserContext(), slug, event, size); err != nil {
			return err
		}
	} else if index >= size {
		return invalidParameter("index", "out_of_range", "index must be below size (%d)", size)
	}
	leaf, proof, err := s.auditLog.ProveInclusion(c.UserContext(), slug, index, size)
	if err != nil {
		return auditError("prove inclusion", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, struct {
		Index    int64       `json:"index"`
		Size     int64       `json:"size"`
		LeafHash tlog.Hash   `json:"leaf_hash"`
		Proof    []tlog.Hash `json:"proof"`
	}{index, size, leaf, hashesJSON(proof)})
}

// leafOf finds the leaf index of the event with id among the first size
// leaves of the tenant's log: 404 when none is.
func (s *Server) leafOf(ctx context.Context, slug, id string, size int64) (int64, error) {
	page, err := s.auditLog.Entries(ctx, slug, auditlog.Filter{EventID: id}, -1, 1)
	if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
		return 0, fmt.Errorf("find event %s: %w", id, err)
	}
	if len(page) == 1 && page[0].Index < size {
		return page[0].Index, nil
	}
	return 0, &Problem{Type: ProblemNotFound, Title: "Not found", Status: http.StatusNotFound,
		Detail: "No event with this id is in the tenant's audit log at that size."}
}

// auditConsistency answers the proof that the tree of size from is a
// prefix of the tree of size to.
func (s *Server) auditConsistency(c *fiber.Ctx) error {
	slug, err := s.auditTenant(c)
	if err != nil {
		return err
	}
	if c.Query("from") == "" {
		return invalidParameter("from", "required", "from is required")
	}
	to, _, err := s.proofSize(c, slug, "to", false)
	if err != nil {
		return err
	}
	from := queryInt64(c, "from", 0)
	if from > to {
		return invalidParameter("from", "out_of_range", "from must be at most to (%d)", to)
	}
	proof, err := s.auditLog.ProveConsistency(c.UserContext(), slug, from, to)
	if err != nil {
		return auditError("prove consistency", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, struct {
		From  int64       `json:"from"`
		To    int64       `json:"to"`
		Proof []tlog.Hash `json:"proof"`
	}{from, to, hashesJSON(proof)})
}

// auditExport streams the export of the tenant's log up to a signed
// checkpoint: the size of one, or the latest.
func (s *Server) auditExport(c *fiber.Ctx) error {
	slug, err := s.auditTenant(c)
	if err != nil {
		return err
	}
	cp, err := s.latest(c, slug)
	if err != nil {
		return err
	}
	size := cp.Size
	if n := queryInt64(c, "size", 0); n != 0 && n != size {
		page, err := s.auditLog.Checkpoints(c.UserContext(), slug, n-1, 1)
		if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
			return fmt.Errorf("export: %w", err)
		}
		if len(page) == 0 || page[0].Size != n {
			return invalidParameter("size", "invalid_value", "size must be the size of a signed checkpoint (see checkpoints)")
		}
		size = n
	}
	c.Set(fiber.HeaderContentType, "application/x-ndjson")
	if c.Method() == fiber.MethodHead {
		return c.SendStatus(http.StatusOK)
	}
	// Each export to a slow reader holds buffers for as long as it
	// takes: a node sends maxExports at once and refuses more.
	select {
	case s.exports <- struct{}{}:
	default:
		c.Set(fiber.HeaderRetryAfter, "10")
		return &Problem{Type: ProblemTooManyRequests, Title: "Too many requests", Status: http.StatusTooManyRequests,
			Detail: fmt.Sprintf("This node is sending %d audit exports already; try again later.", maxExports)}
	}
	ctx := context.WithoutCancel(c.UserContext())
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s-audit-%d.jsonl"`, slug, size))
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Status(http.StatusOK)
	// An export may take longer to send than the server's write timeout,
	// which bounds a whole answer: each write that makes progress gets
	// that long again.
	conn := c.Context().Conn()
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer func() { <-s.exports }()
		out := &progressWriter{w: w, conn: conn, timeout: s.cfg.WriteTimeout}
		err := s.auditLog.Export(ctx, slug, size, out)
		if err == nil {
			if err = w.Flush(); err != nil {
				out.failed = true
			}
		}
		switch {
		case err != nil && out.failed:
			// The reader went away: the export ends short, which its
			// verification would report.
			s.log.Info("audit export not taken to its end: the client stopped reading", "tenant", slug, "size", size)
		case err != nil:
			s.log.Error("audit export failed", "tenant", slug, "size", size, "error", err)
		}
	})
	return nil
}

// progressWriter extends the connection's write deadline by timeout
// before each write.
type progressWriter struct {
	w       io.Writer
	conn    net.Conn
	timeout time.Duration
	failed  bool // a write to the connection failed
}

func (p *progressWriter) Write(b []byte) (int, error) {
	if p.conn != nil && p.timeout > 0 {
		_ = p.conn.SetWriteDeadline(time.Now().Add(p.timeout))
	}
	n, err := p.w.Write(b)
	if err != nil {
		p.failed = true
	}
	return n, err
}

// maxExports is how many audit exports a node sends at once.
const maxExports = 4

// auditError maps what the audit log refuses: what it does not hold is
// not found, a request it cannot answer a bad one.
func auditError(action string, err error) error {
	switch {
	case errors.Is(err, auditlog.ErrNotFound):
		return notFound()
	case errors.Is(err, auditlog.ErrInvalid):
		return &Problem{Type: ProblemBadRequest, Title: "Bad request", Status: http.StatusBadRequest, Detail: "The audit log cannot answer this request as asked."}
	}
	return fmt.Errorf("%s: %w", action, err)
}
