package console

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/projections"
)

// clientRoutes registers the clients' pages.
func (c *Console) clientRoutes(r fiber.Router) {
	r.Get("/", func(ctx *fiber.Ctx) error {
		return ctx.Redirect(tenantPath(ctx.Params("tenant"))+"clients", fiber.StatusSeeOther)
	})
	r.Get("/clients", c.listClients)
}

// clientsPageSize is how many clients a page of the list shows.
const clientsPageSize = 50

// clientList is what the clients page shows.
type clientList struct {
	Clients []projections.ClientView
	// Search, Type and Active are the filters as given.
	Search, Type, Active string
	// Next is the query of the next page ("" on the last).
	Next string
	// Types are the client types to filter by.
	Types []client.Type
}

// listClients shows a page of the tenant's clients, filtered.
func (c *Console) listClients(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "Seeing the clients needs clavis:clients:read.")
	}
	if err := onlyQuery(ctx, "q", "type", "active", "after"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	in := clientList{Search: strings.TrimSpace(ctx.Query("q")), Type: ctx.Query("type"), Active: ctx.Query("active"),
		Types: []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M}}
	f := projections.ClientFilter{Search: in.Search, After: ctx.Query("after"), Limit: clientsPageSize, Type: client.Type(in.Type)}
	switch in.Active {
	case "":
	case "true", "false":
		active := in.Active == "true"
		f.Active = &active
	default:
		return c.badRequest(ctx, "active is true or false.")
	}
	if in.Type != "" && !contains([]string{string(client.TypePublic), string(client.TypeConfidential), string(client.TypeM2M)}, in.Type) {
		return c.badRequest(ctx, "type is public, confidential or m2m.")
	}
	list, next, err := c.cfg.ReadModel.Clients(ctx.UserContext(), s.Tenant, f)
	if err != nil {
		return err
	}
	in.Clients = list
	if next != "" {
		q := ctx.Request().URI().QueryArgs()
		args := fiber.AcquireArgs()
		defer fiber.ReleaseArgs(args)
		q.CopyTo(args)
		args.Set("after", next)
		in.Next = string(args.QueryString())
	}
	return c.render(ctx, http.StatusOK, "clients", view{Title: "Clients", Nav: "clients", Data: in})
}
