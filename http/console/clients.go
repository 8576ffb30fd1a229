package console

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
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

// clientSorts are the columns the list sorts by, with the order each
// starts in when picked: names and ids A to Z, times newest first. The
// first is the list's default.
var clientSorts = []struct {
	sort projections.ClientSort
	desc bool
}{
	{projections.SortName, false},
	{projections.SortClientID, false},
	{projections.SortCreated, true},
	{projections.SortUpdated, true},
}

// clientList is what the clients page shows.
type clientList struct {
	Clients []projections.ClientSummary
	// Search, Type and Active are the filters as given; Sort and Order
	// the order as applied ("name", "asc" by default).
	Search, Type, Active, Sort, Order string
	// Types are the client types to filter by.
	Types []client.Type
	// Sorts are the sortable columns by sort ("name", "client_id",
	// "created", "updated").
	Sorts map[string]sortColumn
	// Filtered is true when a filter narrows the list.
	Filtered bool
	// Paged is true past the first page.
	Paged bool
	// NextURL is the next page's ("" on the last), FirstURL the first
	// page's, ClearURL the first page's without the filters, all in the
	// list's order; ReverseURL is the first page in the other order.
	NextURL, FirstURL, ReverseURL, ClearURL string
}

// sortColumn is a column header that sorts the list.
type sortColumn struct {
	// URL lists by the column: in the other order when the list is
	// sorted by it, else in the column's first order; filters kept.
	URL string
	// ARIA is the header's aria-sort ("ascending", "descending"; "" when
	// the list is not sorted by it).
	ARIA string
}

// OrderName says the order in words.
func (l clientList) OrderName() string {
	by := map[string]string{"name": "name", "client_id": "client_id", "created": "creation", "updated": "last change"}[l.Sort]
	switch {
	case l.Sort == "created" || l.Sort == "updated":
		if l.Order == "desc" {
			return "by " + by + ", newest first"
		}
		return "by " + by + ", oldest first"
	case l.Order == "desc":
		return "by " + by + ", Z to A"
	}
	return "by " + by + ", A to Z"
}

// listClients shows a page of the tenant's clients, filtered, in the
// order asked for, with links that keep the filters and the order.
func (c *Console) listClients(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "Seeing the clients needs clavis:clients:read.")
	}
	if err := onlyQuery(ctx, "q", "type", "active", "sort", "order", "after", "done"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	in := clientList{Search: strings.TrimSpace(ctx.Query("q")), Type: ctx.Query("type"), Active: ctx.Query("active"),
		Sort: ctx.Query("sort"), Order: ctx.Query("order"),
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
	if in.Type != "" && !slices.Contains(in.Types, f.Type) {
		return c.badRequest(ctx, "type is public, confidential or m2m.")
	}
	if in.Sort == "" {
		in.Sort = string(clientSorts[0].sort)
	}
	first, ok := firstOrder(in.Sort)
	if !ok {
		return c.badRequest(ctx, "sort is name, client_id, created or updated.")
	}
	switch in.Order {
	case "":
		in.Order = first
	case "asc", "desc":
	default:
		return c.badRequest(ctx, "order is asc or desc.")
	}
	f.Sort, f.Desc = projections.ClientSort(in.Sort), in.Order == "desc"
	// The list shows a summary of each client, which the read model
	// reads without decoding whole views: a page costs half as much.
	list, next, err := c.cfg.ReadModel.ClientSummaries(ctx.UserContext(), s.Tenant, f)
	if errors.Is(err, projections.ErrBadCursor) {
		return c.badRequest(ctx, "This page's link is broken or belongs to another order of the list: start again from the first page.")
	}
	if err != nil {
		return err
	}
	in.Clients, in.Filtered, in.Paged = list, in.Search != "" || in.Type != "" || in.Active != "", f.After != ""
	link := func(sort, order, after string, filters bool) string {
		q := url.Values{}
		if filters {
			for k, v := range map[string]string{"q": in.Search, "type": in.Type, "active": in.Active} {
				if v != "" {
					q.Set(k, v)
				}
			}
		}
		q.Set("sort", sort)
		q.Set("order", order)
		if after != "" {
			q.Set("after", after)
		}
		return tenantPath(s.Tenant) + "clients?" + q.Encode()
	}
	in.FirstURL, in.ClearURL = link(in.Sort, in.Order, "", true), link(in.Sort, in.Order, "", false)
	in.ReverseURL = link(in.Sort, map[string]string{"asc": "desc", "desc": "asc"}[in.Order], "", true)
	if next != "" {
		in.NextURL = link(in.Sort, in.Order, next, true)
	}
	in.Sorts = map[string]sortColumn{}
	for _, o := range clientSorts {
		col := sortColumn{URL: link(string(o.sort), orderWord(o.desc), "", true)}
		if string(o.sort) == in.Sort {
			col.URL = in.ReverseURL
			col.ARIA = map[string]string{"asc": "ascending", "desc": "descending"}[in.Order]
		}
		in.Sorts[string(o.sort)] = col
	}
	return c.render(ctx, http.StatusOK, "clients", view{Title: "Clients", Nav: "clients", Flash: listDone[ctx.Query("done")], Data: in})
}

// firstOrder is the order the list takes when sorted by sort without an
// order, and whether sort is one the list has.
func firstOrder(sort string) (string, bool) {
	for _, o := range clientSorts {
		if string(o.sort) == sort {
			return orderWord(o.desc), true
		}
	}
	return "", false
}

// orderWord is the order parameter of a direction.
func orderWord(desc bool) string {
	if desc {
		return "desc"
	}
	return "asc"
}

// listDone are the sentences of the list's flash, by the code in its
// done parameter (a deleted client's page is gone, so the list says it).
var listDone = map[string]string{"deleted": "The client was deleted."}
