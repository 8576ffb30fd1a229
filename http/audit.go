package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// The audit API: what an auditor reads of one tenant, under
// /t/{tenant}/audit. Every route is read-only and needs a tenant token
// with clavis:audit, or one with clavis:admin, or the root token
// (tenantAudit); clavis:clients:read and :write do not open it, and
// clavis:audit opens nothing else. A route declares its query
// parameters with acceptQuery, as the admin routes do.

// atParam is the instant of a past state: an RFC 3339 time or a store
// position (see [tenants.ParseInstant]).
var atParam = queryParam{
	name: "at",
	valid: func(v string) bool {
		_, err := tenants.ParseInstant(v)
		return err == nil
	},
	code: "invalid_value",
	rule: `an RFC 3339 time with a time zone ("2030-01-02T03:04:05Z") or a store position ("commit.seq")`,
}

// fromInstantParam and toInstantParam are the two instants a client is
// compared at.
var fromInstantParam, toInstantParam = func() (queryParam, queryParam) {
	from, to := atParam, atParam
	from.name, to.name = "from", "to"
	return from, to
}()

// auditRoutes registers the tenant audit API.
func (s *Server) auditRoutes() {
	t := s.app.Group("/t/:tenant/audit")
	audit := s.authenticate(tenantAudit)

	// Clients as they were at an instant.
	t.Get("/clients", audit, acceptQuery(atParam, afterParam, limitParam), s.clientsAt)
	t.Get("/clients/:client_id", audit, acceptQuery(atParam), s.clientAt)
	t.Get("/clients/:client_id/changes", audit, acceptQuery(fromInstantParam, toInstantParam), s.clientChangesBetween)

	// The log itself: checkpoints, events, proofs, export.
	s.auditLogRoutes(t)
}

// instant is the request's at parameter, which acceptQuery checked;
// without one, the time of the request.
func instant(c *fiber.Ctx) tenants.Instant {
	if v := c.Query("at"); v != "" {
		if at, err := tenants.ParseInstant(v); err == nil {
			return at
		}
	}
	return tenants.AtTime(time.Now().Truncate(time.Microsecond))
}

// pastClientJSON is a client as it was at an instant: what the admin
// API shows of a client, marked when it had been deleted by then.
type pastClientJSON struct {
	clientJSON
	// Deleted is true for a client deleted at or before the instant;
	// the rest is the client as it was when deleted, at DeletedAt.
	Deleted   bool       `json:"deleted,omitempty"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
}

// newPastClientJSON shows v as every read does, and its deletion.
func newPastClientJSON(v projections.ClientView) pastClientJSON {
	out := pastClientJSON{clientJSON: newClientJSON(v, nil)}
	if v.Deleted {
		at := v.UpdatedAt
		out.Deleted, out.DeletedAt = true, &at
	}
	return out
}

// clientAtJSON is the answer for one client at an instant: the client,
// and the instant asked for, as [tenants.Instant.String] writes it.
type clientAtJSON struct {
	pastClientJSON
	At string `json:"at"`
}

// clientAt answers GET /t/{tenant}/audit/clients/{client_id}?at= and the
// admin GET of a client with at: the client as it was then, folded from
// its events, without an ETag (it is not the client's current version).
func (s *Server) clientAt(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	at := instant(c)
	v, err := s.admin.Clients.At(c.UserContext(), slug, param(c, "client_id"), at)
	if err != nil {
		return fmt.Errorf("get client: %w", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, clientAtJSON{pastClientJSON: newPastClientJSON(v), At: at.String()})
}

// clientChangesBetween answers GET
// /t/{tenant}/audit/clients/{id}/changes?from=&to=: the members of the
// client that differ between the two instants, as the events listing
// shows one event's changes. Both instants are required.
func (s *Server) clientChangesBetween(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	var instants [2]tenants.Instant
	for i, name := range []string{"from", "to"} {
		v := c.Query(name)
		if v == "" {
			return invalidParameter(name, "required", "%s is required: %s", name, atParam.rule)
		}
		if instants[i], err = tenants.ParseInstant(v); err != nil {
			return invalidParameter(name, "invalid_value", "%s must be %s", name, atParam.rule)
		}
	}
	changes, err := s.admin.Clients.ChangesBetween(c.UserContext(), slug, param(c, "client_id"), instants[0], instants[1], showClient)
	if err != nil {
		return fmt.Errorf("client changes: %w", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, struct {
		From    string            `json:"from"`
		To      string            `json:"to"`
		Changes []fieldChangeJSON `json:"changes"`
	}{instants[0].String(), instants[1].String(), newFieldChangesJSON(changes)})
}

// clientsAt answers GET /t/{tenant}/audit/clients?at=&after=&limit=:
// one page of the tenant's clients as they were then, by client_id.
func (s *Server) clientsAt(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	at := instant(c)
	page, next, err := s.admin.Clients.AllAt(c.UserContext(), slug, at, queryText(c, "after"), queryInt(c, "limit", defaultPage))
	if err != nil {
		return fmt.Errorf("list clients: %w", err)
	}
	out := struct {
		At         string           `json:"at"`
		Clients    []pastClientJSON `json:"clients"`
		NextCursor *string          `json:"next_cursor"`
	}{At: at.String(), Clients: make([]pastClientJSON, 0, len(page))}
	if next != "" {
		out.NextCursor = &next
	}
	for _, v := range page {
		out.Clients = append(out.Clients, newPastClientJSON(v))
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, out)
}
