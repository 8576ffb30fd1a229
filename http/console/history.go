package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/aggregates"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/domain/webhook"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// historyRoutes registers a client's history, the client as it was at an
// instant, and the tenant's audit log.
//
// A client's history and its past states are reads of the client, as the
// admin API's GET /clients/{id}/history and GET /clients/{id}?at= are:
// they need clavis:clients:read. The audit log needs clavis:audit, as
// the audit API does.
func (c *Console) historyRoutes(r fiber.Router) {
	r.Get("/clients/:id/history", c.clientHistory)
	r.Get("/clients/:id/at", c.clientAt)
	r.Get("/audit", c.auditLog)
	r.Get("/audit/checkpoint", c.auditCheckpoint)
}

// eventWords are the event types in plain words.
var eventWords = map[string]string{
	client.EventTypeRegistered:    "created",
	client.EventTypeUpdated:       "settings changed",
	client.EventTypeSecretAdded:   "secret added",
	client.EventTypeSecretRevoked: "secret revoked",
	client.EventTypeSecretRotated: "secret rotated",
	client.EventTypeActivated:     "activated",
	client.EventTypeDeactivated:   "deactivated",
	client.EventTypeDeleted:       "deleted",

	tenant.EventTypeCreated:           "tenant created",
	tenant.EventTypeRenamed:           "tenant renamed",
	tenant.EventTypeSuspended:         "tenant suspended",
	tenant.EventTypeResumed:           "tenant resumed",
	tenant.EventTypeLoginURLSet:       "login application URL set",
	tenant.EventTypeSigningKeyAdded:   "signing key added",
	tenant.EventTypeSigningKeyRetired: "signing key retired",
	tenant.EventTypeAuditKeyAdded:     "audit key added",

	webhook.EventTypeCreated:       "webhook created",
	webhook.EventTypeUpdated:       "webhook changed",
	webhook.EventTypeSecretRotated: "webhook secret rotated",
	webhook.EventTypeDeactivated:   "webhook deactivated",
	webhook.EventTypeActivated:     "webhook activated",
	webhook.EventTypeReplayed:      "webhook deliveries replayed",
	webhook.EventTypeDeleted:       "webhook deleted",
}

// eventTypes are the event types the audit log's filter offers, in the
// order of their aggregates.
var eventTypes = []string{
	tenant.EventTypeCreated, tenant.EventTypeRenamed, tenant.EventTypeSuspended, tenant.EventTypeResumed,
	tenant.EventTypeLoginURLSet, tenant.EventTypeSigningKeyAdded, tenant.EventTypeSigningKeyRetired, tenant.EventTypeAuditKeyAdded,
	client.EventTypeRegistered, client.EventTypeUpdated, client.EventTypeSecretAdded, client.EventTypeSecretRevoked,
	client.EventTypeSecretRotated, client.EventTypeActivated, client.EventTypeDeactivated, client.EventTypeDeleted,
	webhook.EventTypeCreated, webhook.EventTypeUpdated, webhook.EventTypeSecretRotated, webhook.EventTypeDeactivated,
	webhook.EventTypeActivated, webhook.EventTypeReplayed, webhook.EventTypeDeleted,
}

// words is event type t in plain words, or t itself for a type this
// version does not name.
func words(t string) string {
	if w, ok := eventWords[t]; ok {
		return w
	}
	return t
}

// ---- a client's history

// historyPageSize is how many events a page of a client's history shows.
const historyPageSize = 50

// change is one member of a client that an event changed, as the
// history shows it.
type change struct {
	Field string
	// Secret says the member holds secret material: only that it
	// changed is shown.
	Secret bool
	// List says the member is a list: Added and Removed are its items
	// that the event added and removed (both empty when it only
	// reordered them, Before and After then say how).
	List           bool
	Added, Removed []string
	// Before and After are the member's values as text; "" where it was
	// absent or empty.
	Before, After string
}

// historyEvent is one event of a client's history.
type historyEvent struct {
	Type, What string
	Version    int64
	Time       time.Time
	Actor      string
	Reason     string
	Source     string
	UserAgent  string
	// Position is the event's store position: the client as it was right
	// after it is at it.
	Position string
	Changes  []change
}

// historyData is what the history page shows.
type historyData struct {
	ClientID string
	// Name is the client's latest name ("" when it has none).
	Name string
	// Deleted says the client is deleted.
	Deleted bool
	Events  []historyEvent
	// Older is the version the next, older, page shows the events
	// before (0 on the oldest page).
	Older int64
	// Newest says this is the first page.
	Newest bool
}

// clientHistory shows a client's history, newest first: who changed
// what, when, why and from where, each change with what it changed,
// redacted as the admin API redacts a client.
func (c *Console) clientHistory(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "A client's history needs clavis:clients:read.")
	}
	if err := onlyQuery(ctx, "before"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	before := int64(-1)
	if v := ctx.Query("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 || v != strconv.FormatInt(n, 10) {
			return c.badRequest(ctx, "before is the version of an event: a whole number of at least 1.")
		}
		before = n
	}
	id := strings.Clone(ctx.Params("id"))
	entries, err := c.cfg.Clients.History(ctx.UserContext(), s.Tenant, id)
	if errors.Is(err, domain.ErrNotFound) {
		return c.notFound(ctx)
	}
	if err != nil {
		return err
	}
	out := historyData{ClientID: id, Newest: before < 0}
	if n := len(entries); n > 0 {
		out.Deleted = entries[n-1].Type == client.EventTypeDeleted
	}
	// The page: the newest events below before.
	var page []tenants.HistoryEntry
	for i := len(entries) - 1; i >= 0 && len(page) <= historyPageSize; i-- {
		if before < 0 || entries[i].Version < before {
			page = append(page, entries[i])
		}
	}
	if len(page) > historyPageSize {
		page = page[:historyPageSize]
		out.Older = page[historyPageSize-1].Version
	}
	refs := make([]tenants.ChangeRef, 0, len(page))
	for _, e := range page {
		refs = append(refs, tenants.ChangeRef{ClientID: id, Version: e.Version, EventID: e.EventID})
	}
	changes, err := c.cfg.Clients.ClientChanges(ctx.UserContext(), s.Tenant, refs, c.cfg.ShowClient)
	if err != nil {
		return err
	}
	out.Name = c.clientName(ctx, s.Tenant, id)
	for _, e := range page {
		out.Events = append(out.Events, historyEvent{
			Type: e.Type, What: words(e.Type), Version: e.Version, Time: e.RecordedAt,
			Actor: e.Actor, Reason: e.Reason, Source: e.Source, UserAgent: e.UserAgent,
			Position: e.Position.String(), Changes: showChanges(changes[e.EventID]),
		})
	}
	title := "History of " + displayName(out.Name, id)
	return c.render(ctx, http.StatusOK, "client_history", view{Title: title, Nav: "clients", Data: out})
}

// clientName is the client's name: the read model's, or, for a client
// it no longer holds (deleted), the one it had when it was deleted.
func (c *Console) clientName(ctx *fiber.Ctx, slug, id string) string {
	if v, err := c.cfg.ReadModel.Client(ctx.UserContext(), slug, id); err == nil {
		return v.Settings.ClientName
	}
	if v, err := c.cfg.Clients.At(ctx.UserContext(), slug, id, tenants.AtTime(c.now())); err == nil {
		return v.Settings.ClientName
	}
	return ""
}

// displayName is a client's name, or its id when it has none.
func displayName(name, id string) string {
	if name != "" {
		return name
	}
	return id
}

// showChanges turns an event's changes into what the page shows: lists
// as the items added and removed, other values before and after.
func showChanges(in []tenants.FieldChange) []change {
	out := make([]change, 0, len(in))
	for _, ch := range in {
		if ch.Secret {
			out = append(out, change{Field: ch.Field, Secret: true})
			continue
		}
		var before, after []json.RawMessage
		beforeList, afterList := asList(ch.Before, &before), asList(ch.After, &after)
		if beforeList && afterList {
			added, removed := listDiff(before, after)
			c := change{Field: ch.Field, List: true, Added: added, Removed: removed}
			if len(added) == 0 && len(removed) == 0 { // reordered
				c.Before, c.After = valueText(ch.Before), valueText(ch.After)
			}
			out = append(out, c)
			continue
		}
		out = append(out, change{Field: ch.Field, Before: valueText(ch.Before), After: valueText(ch.After)})
	}
	return out
}

// asList reports whether raw is a JSON list, or absent or null (an empty
// list), and decodes its items into items.
func asList(raw json.RawMessage, items *[]json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	return raw[0] == '[' && json.Unmarshal(raw, items) == nil
}

// listDiff is the items of after not in before, and of before not in
// after, as text, each as often as it is added or removed.
func listDiff(before, after []json.RawMessage) (added, removed []string) {
	count := map[string]int{}
	for _, item := range before {
		count[compact(item)]++
	}
	for _, item := range after {
		k := compact(item)
		if count[k] > 0 {
			count[k]--
			continue
		}
		added = append(added, valueText(item))
	}
	for _, item := range before {
		k := compact(item)
		if count[k] > 0 {
			count[k]--
			removed = append(removed, valueText(item))
		}
	}
	return added, removed
}

// compact is raw without insignificant space, with its objects' keys in
// order: equal values compact alike.
func compact(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// valueText is a JSON value as the page shows it: a string as itself,
// absent, null, false and empty values as "", anything else as compact
// JSON.
func valueText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	switch string(raw) {
	case "", "null", `""`, "[]", "{}":
		return ""
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return compact(raw)
}

// ---- a client as it was

// member is one member of a client as the page shows it: a list as its
// items, anything else as text.
type member struct {
	Name  string
	List  bool
	Items []string
	Value string
}

// atData is what the page of a client as it was shows.
type atData struct {
	ClientID string
	// Asked says an instant was given; At is it in words, Local the
	// value of the date and time input, Position that of the position
	// input.
	Asked           bool
	At              string
	Local, Position string
	// Missing says the client did not exist yet then; Created is when it
	// was created, and CreatedAt its position.
	Missing    bool
	Created    time.Time
	CreatedPos string
	// Deleted says the client had been deleted by then (at DeletedAt):
	// Members are as it was when it was deleted.
	Deleted   bool
	DeletedAt time.Time
	Name      string
	Version   int64
	Active    bool
	Members   []member
}

// localLayout is the value of a datetime-local input, to the second.
const localLayout = "2006-01-02T15:04:05"

// atRule says what the at parameter takes.
const atRule = `at is an RFC 3339 time with a time zone ("2030-01-02T03:04:05Z"), a date and time in UTC ("2030-01-02T03:04"), or a store position ("commit.seq", as the history shows it).`

// parseAt reads the at parameter: what [tenants.ParseInstant] reads, or
// the value of a datetime-local input, in UTC. byTime says it is a time.
func parseAt(s string) (at tenants.Instant, t time.Time, byTime bool, err error) {
	if at, err := tenants.ParseInstant(s); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return at, t.UTC(), true, nil
		}
		return at, time.Time{}, false, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", localLayout} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return tenants.AtTime(t), t, true, nil
		}
	}
	return tenants.Instant{}, time.Time{}, false, errors.New(atRule)
}

// clientAt shows a client as it was at an instant (a time or a store
// position), folded from its events, as the admin API's GET of a client
// with at shows it.
func (c *Console) clientAt(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "A client's past states need clavis:clients:read.")
	}
	if err := onlyQuery(ctx, "at"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	id := strings.Clone(ctx.Params("id"))
	out := atData{ClientID: id}
	raw := strings.TrimSpace(ctx.Query("at"))
	if raw == "" {
		// The form alone, for a client that exists or existed.
		if _, err := c.cfg.Clients.History(ctx.UserContext(), s.Tenant, id); err != nil {
			if errors.Is(err, domain.ErrNotFound) {
				return c.notFound(ctx)
			}
			return err
		}
		return c.render(ctx, http.StatusOK, "client_at", view{Title: "A client as it was", Nav: "clients", Data: out})
	}
	at, t, byTime, err := parseAt(raw)
	if err != nil {
		return c.badRequest(ctx, err.Error())
	}
	out.Asked = true
	if byTime {
		out.At, out.Local = t.Format("2006-01-02 15:04:05.999999999 UTC"), t.Format(localLayout)
	} else {
		out.At, out.Position = "store position "+at.String(), at.String()
	}
	v, err := c.cfg.Clients.At(ctx.UserContext(), s.Tenant, id, at)
	if errors.Is(err, domain.ErrNotFound) {
		// Not yet, or never.
		entries, herr := c.cfg.Clients.History(ctx.UserContext(), s.Tenant, id)
		if errors.Is(herr, domain.ErrNotFound) {
			return c.notFound(ctx)
		}
		if herr != nil {
			return herr
		}
		out.Missing = true
		out.Created, out.CreatedPos = entries[0].RecordedAt, entries[0].Position.String()
		return c.render(ctx, http.StatusOK, "client_at", view{Title: "Not created yet", Nav: "clients", Data: out})
	}
	if err != nil {
		return err
	}
	out.Name, out.Version, out.Active = v.Settings.ClientName, v.Version, v.Active
	if v.Deleted {
		out.Deleted, out.DeletedAt = true, v.UpdatedAt
	}
	if out.Members, err = showMembers(c.cfg.ShowClient(v)); err != nil {
		return err
	}
	return c.render(ctx, http.StatusOK, "client_at", view{Title: displayName(out.Name, id) + " as it was", Nav: "clients", Data: out})
}

// showMembers is the members of v's JSON object in their order, without
// those that tell nothing (empty values).
func showMembers(v any) ([]member, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("console: encode a client: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := d.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("console: a client does not show as a JSON object")
	}
	var out []member
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("console: decode a client: %w", err)
		}
		name, _ := tok.(string)
		var value json.RawMessage
		if err := d.Decode(&value); err != nil {
			return nil, fmt.Errorf("console: decode a client: %w", err)
		}
		var items []json.RawMessage
		if t := bytes.TrimSpace(value); len(t) > 0 && t[0] == '[' && json.Unmarshal(t, &items) == nil {
			if len(items) == 0 {
				continue
			}
			m := member{Name: name, List: true}
			for _, item := range items {
				m.Items = append(m.Items, valueText(item))
			}
			out = append(out, m)
			continue
		}
		if text := valueText(value); text != "" {
			out = append(out, member{Name: name, Value: text})
		}
	}
	return out, nil
}

// ---- the audit log

// auditPageSize is how many entries a page of the audit log shows.
const auditPageSize = 25

// The longest filters the audit log takes, as the audit API's.
const (
	maxClientFilter = 256
	maxTypeFilter   = 128
	maxActorFilter  = 512
)

// auditRow is one entry of the audit log as the page shows it.
type auditRow struct {
	Index     int64
	Time      time.Time
	Actor     string
	Type      string
	What      string
	Reason    string
	Source    string
	Aggregate string
	StreamID  string
	// Changed are the members of the client the event changed (secret
	// ones by name only).
	Changed []string
}

// IsClient says the entry is a client's event.
func (r auditRow) IsClient() bool { return r.Aggregate == aggregates.Client }

// checkpointView is the tenant's latest signed checkpoint.
type checkpointView struct {
	Size     int64
	SignedAt time.Time
	Note     string
}

// auditData is what the audit log page shows.
type auditData struct {
	// Served is false when this node serves no audit log.
	Served bool
	// The filters as given (Since and Until as datetime-local values).
	Client, Aggregate, Type, Actor, Since, Until string
	Aggregates, Types                            []string
	Entries                                      []auditRow
	// Next is the path and query of the next page ("" on the last).
	Next string
	// Filtered says a filter or a cursor is in use.
	Filtered bool
	// Checkpoint is the latest signed checkpoint; nil when none is
	// signed yet.
	Checkpoint *checkpointView
	// APICheckpoint is the audit API's path of the checkpoint.
	APICheckpoint string
}

// parseFilterTime reads since or until: an RFC 3339 time or the value of
// a datetime-local input, in UTC.
func parseFilterTime(name, s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", localLayout} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf(`%s is an RFC 3339 time with a time zone ("2030-01-02T03:04:05Z") or a date and time in UTC ("2030-01-02T03:04").`, name)
}

// auditLog shows a page of the tenant's audit log, filtered as the audit
// API's events are (client, aggregate, event type, actor, time range),
// in the log's order after the leaf index of the last one seen, with
// what each client event changed, redacted as the API redacts it.
func (c *Console) auditLog(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanAudit() {
		return c.forbidden(ctx, s, "The audit log needs clavis:audit.")
	}
	if err := onlyQuery(ctx, "client", "aggregate", "type", "actor", "since", "until", "after"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	q := func(name string) string { return strings.TrimSpace(ctx.Query(name)) }
	out := auditData{Served: c.cfg.AuditLog != nil, Client: q("client"), Aggregate: q("aggregate"), Type: q("type"), Actor: q("actor"),
		Aggregates: aggregates.Types, Types: eventTypes, APICheckpoint: "/t/" + s.Tenant + "/audit/checkpoint"}
	if !out.Served {
		return c.render(ctx, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Data: out})
	}
	f := auditlog.Filter{StreamType: out.Aggregate, Type: out.Type, Actor: out.Actor}
	switch {
	case utf8.RuneCountInString(out.Client) > maxClientFilter:
		return c.badRequest(ctx, fmt.Sprintf("client is a client_id of at most %d characters.", maxClientFilter))
	case utf8.RuneCountInString(out.Type) > maxTypeFilter:
		return c.badRequest(ctx, fmt.Sprintf("type is an event type of at most %d characters.", maxTypeFilter))
	case utf8.RuneCountInString(out.Actor) > maxActorFilter:
		return c.badRequest(ctx, fmt.Sprintf("actor is of at most %d characters.", maxActorFilter))
	case out.Aggregate != "" && !slices.Contains(aggregates.Types, out.Aggregate):
		return c.badRequest(ctx, "aggregate is one of "+strings.Join(aggregates.Types, ", ")+".")
	}
	if out.Client != "" {
		if f.StreamType != "" && f.StreamType != aggregates.Client {
			return c.badRequest(ctx, "aggregate is client, or left out, with a client.")
		}
		f.StreamType, f.StreamID = aggregates.Client, out.Client
	}
	var untilZero bool
	for _, p := range []struct {
		name string
		t    *time.Time
		show *string
	}{{"since", &f.Since, &out.Since}, {"until", &f.Until, &out.Until}} {
		v := q(p.name)
		if v == "" {
			continue
		}
		t, err := parseFilterTime(p.name, v)
		if err != nil {
			return c.badRequest(ctx, err.Error())
		}
		*p.t, *p.show = t, t.UTC().Format(localLayout)
		untilZero = untilZero || p.name == "until" && t.IsZero()
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return c.badRequest(ctx, "until is after since.")
	}
	after := int64(-1)
	if v := q("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || v != strconv.FormatInt(n, 10) {
			return c.badRequest(ctx, "after is the index of an entry: a whole number of at least 0.")
		}
		after = n
	}
	out.Filtered = f != (auditlog.Filter{}) || after >= 0
	var page []auditlog.Entry
	// The filter reads the zero time as no bound; nothing was recorded
	// before it.
	if !untilZero {
		var err error
		page, err = c.cfg.AuditLog.Entries(ctx.UserContext(), s.Tenant, f, after, auditPageSize+1)
		if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
			return fmt.Errorf("console: audit log: %w", err)
		}
	}
	if len(page) > auditPageSize {
		page = page[:auditPageSize]
		args := fiber.AcquireArgs()
		defer fiber.ReleaseArgs(args)
		ctx.Request().URI().QueryArgs().CopyTo(args)
		args.Set("after", strconv.FormatInt(page[auditPageSize-1].Index, 10))
		out.Next = tenantPath(s.Tenant) + "audit?" + string(args.QueryString())
	}
	// One fold of each client's stream for the whole page, as the API's.
	var refs []tenants.ChangeRef
	for _, e := range page {
		// A registration sets every field: the page lists no fields for
		// it, so its stream is not folded for nothing.
		if e.Stream.Type == aggregates.Client && e.Type != client.EventTypeRegistered {
			refs = append(refs, tenants.ChangeRef{ClientID: e.Stream.ID, Version: e.Version, EventID: e.ID})
		}
	}
	changes, err := c.cfg.Clients.ClientChanges(ctx.UserContext(), s.Tenant, refs, c.cfg.ShowClient)
	if err != nil {
		return fmt.Errorf("console: audit log: %w", err)
	}
	for _, e := range page {
		row := auditRow{Index: e.Index, Time: e.RecordedAt, Actor: e.Meta.Actor, Type: e.Type, What: words(e.Type),
			Reason: e.Meta.Reason, Source: e.Meta.Source, Aggregate: e.Stream.Type, StreamID: e.Stream.ID}
		for _, ch := range changes[e.ID] {
			row.Changed = append(row.Changed, ch.Field)
		}
		out.Entries = append(out.Entries, row)
	}
	cp, err := c.cfg.AuditLog.Latest(ctx.UserContext(), s.Tenant)
	switch {
	case err == nil:
		out.Checkpoint = &checkpointView{Size: cp.Size, SignedAt: cp.SignedAt, Note: string(cp.Note)}
	case !errors.Is(err, auditlog.ErrNotFound):
		return fmt.Errorf("console: latest checkpoint: %w", err)
	}
	return c.render(ctx, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Data: out})
}

// auditCheckpoint answers the tenant's latest signed checkpoint, the note
// as it was signed, as text to verify (the audit API's GET
// /t/{tenant}/audit/checkpoint answers the same bytes).
func (c *Console) auditCheckpoint(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanAudit() {
		return c.forbidden(ctx, s, "The audit log needs clavis:audit.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if c.cfg.AuditLog == nil {
		return c.notFound(ctx)
	}
	cp, err := c.cfg.AuditLog.Latest(ctx.UserContext(), s.Tenant)
	if errors.Is(err, auditlog.ErrNotFound) {
		return c.notFound(ctx)
	}
	if err != nil {
		return fmt.Errorf("console: latest checkpoint: %w", err)
	}
	setHeaders(ctx)
	ctx.Set(fiber.HeaderContentType, "text/plain; charset=utf-8")
	ctx.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`inline; filename="%s-checkpoint-%d.txt"`, s.Tenant, cp.Size))
	return ctx.Status(http.StatusOK).Send(cp.Note)
}
