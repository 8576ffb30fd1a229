package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// platformRoutes registers the operator's pages.
func (c *Console) platformRoutes(r fiber.Router) {
	r.Get("/", func(ctx *fiber.Ctx) error {
		return ctx.Redirect(operatorPath+"tenants", fiber.StatusSeeOther)
	})
	r.Get("/tenants", c.listTenants)
	r.Get("/tenants/new", c.newTenantForm)
	r.Post("/tenants/new", c.createTenant)
	r.Get("/tenants/:slug", c.showTenant)
	r.Post("/tenants/:slug/suspend", c.suspendTenant)
	r.Post("/tenants/:slug/resume", c.resumeTenant)
	r.Post("/tenants/:slug/rotate-key", c.operatorRotateKey)
}

// tenantsPageSize is how many tenants a page of the list shows.
const tenantsPageSize = 50

// tenantList is what the tenants page shows.
type tenantList struct {
	Tenants []projections.TenantView
	// Next is the cursor of the next page ("" on the last).
	Next string
}

// listTenants shows a page of the platform's tenants, by slug.
func (c *Console) listTenants(ctx *fiber.Ctx) error {
	if err := onlyQuery(ctx, "after"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	after := ctx.Query("after")
	if after != "" && !tenant.ValidSlug(after) {
		return c.badRequest(ctx, "after is a tenant's slug.")
	}
	// One more than a page tells whether there is a next one.
	list, err := c.cfg.ReadModel.Tenants(ctx.UserContext(), after, tenantsPageSize+1)
	if err != nil {
		return fmt.Errorf("console: list tenants: %w", err)
	}
	in := tenantList{Tenants: list}
	if len(list) > tenantsPageSize {
		in.Tenants = list[:tenantsPageSize]
		in.Next = in.Tenants[tenantsPageSize-1].Slug
	}
	return c.render(ctx, http.StatusOK, "tenants", view{Title: "Tenants", Nav: "tenants", Data: in})
}

// newTenantData is the tenant creation form, and what it created.
type newTenantData struct {
	Slug, Name string
	Errors     formErrors
	// Created is the new tenant, with its admin client's secret shown
	// once; Incomplete says the admin client could not be registered.
	Created    *tenants.CreatedTenant
	Issuer     string
	Secret     shownSecret
	Incomplete bool
}

// newTenantForm shows the tenant creation form.
func (c *Console) newTenantForm(ctx *fiber.Ctx) error {
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.render(ctx, http.StatusOK, "tenant_new", view{Title: "New tenant", Nav: "tenants", Data: newTenantData{}})
}

// createTenant creates a tenant and shows its admin client's id and
// secret, once.
func (c *Console) createTenant(ctx *fiber.Ctx) error {
	s := session(ctx)
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, []string{"slug", "name"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	d := newTenantData{Slug: strings.TrimSpace(ctx.FormValue("slug")), Name: strings.TrimSpace(ctx.FormValue("name"))}
	again := func() error {
		return c.render(ctx, http.StatusUnprocessableEntity, "tenant_new", view{Title: "New tenant", Nav: "tenants", Data: d})
	}
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		d.Errors.add("reason", "invalid_value", err.Error())
		return again()
	}
	created, err := c.cfg.Tenants.Create(ctx.UserContext(), req, d.Slug, d.Name)
	var incomplete *tenants.IncompleteTenantError
	switch {
	case errors.As(err, &incomplete):
		c.cfg.Log.Error("console: a tenant was created without its admin client", "tenant", incomplete.Slug, "error", incomplete.Err)
		d.Incomplete = true
	case err != nil:
		if fe, ok := fieldErrors(err); ok {
			d.Errors = fe
			return again()
		}
		return fmt.Errorf("console: create tenant: %w", err)
	}
	c.settle(ctx.UserContext(), created.Position)
	d.Created, d.Issuer = &created, c.cfg.Tokens.Issuer(created.Tenant.Slug)
	if !d.Incomplete {
		d.Secret = shownSecret{Value: created.AdminSecret.Value, ID: created.AdminSecret.ID,
			Back: operatorPath + "tenants/" + created.Tenant.Slug, BackText: "Go to the tenant"}
	}
	return c.render(ctx, http.StatusCreated, "tenant_new", view{Title: "New tenant", Nav: "tenants", Data: d})
}

// tenantDone are the sentences of a tenant page's flash, by the code in
// its done parameter.
var tenantDone = map[string]string{
	"suspended": "The tenant is suspended: its clients get no tokens and no change is made until it is resumed.",
	"resumed":   "The tenant is resumed.",
	"rotated":   "A new signing key is published; it signs once its lead time is over.",
}

// tenantData is what a tenant's page shows.
type tenantData struct {
	Tenant projections.TenantView
	// Issuer is the tenant's issuer URL, Console its console's path.
	Issuer, Console string
	Keys            []keyRow
	// Rotate is the key rotation form; Errors the suspension form's.
	Rotate *rotateForm
	Errors formErrors
}

// showTenant shows a tenant.
func (c *Console) showTenant(ctx *fiber.Ctx) error {
	if err := onlyQuery(ctx, "done"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.tenantPage(ctx, http.StatusOK, nil, formErrors{}, tenantDone[ctx.Query("done")])
}

// tenantPage renders the page of the path's tenant with status, the
// rotation form as posted (nil: a fresh one) and the suspension form's
// errors.
func (c *Console) tenantPage(ctx *fiber.Ctx, status int, rot *rotateForm, errs formErrors, flash string) error {
	slug := strings.Clone(ctx.Params("slug"))
	if !tenant.ValidSlug(slug) {
		return c.notFound(ctx)
	}
	v, err := c.cfg.ReadModel.Tenant(ctx.UserContext(), slug)
	if errors.Is(err, projections.ErrNotFound) {
		return c.notFound(ctx)
	}
	if err != nil {
		return fmt.Errorf("console: read tenant %s: %w", slug, err)
	}
	if rot == nil {
		rot = &rotateForm{Algs: keyAlgs, Alg: tenant.AlgES256, Lead: defaultLeadSeconds}
	}
	rot.Action = operatorPath + "tenants/" + slug + "/rotate-key"
	d := tenantData{Tenant: v, Issuer: c.cfg.Tokens.Issuer(slug), Console: tenantPath(slug), Keys: keyRows(v, c.now()), Rotate: rot, Errors: errs}
	return c.render(ctx, status, "tenant", view{Title: v.Slug, Nav: "tenants", Flash: flash, Data: d})
}

// tenantCommand runs a command on the path's tenant from a posted form
// (named form, with no field but _csrf and reason) and goes back to its page
// with done, or shows the page again with the form's errors.
func (c *Console) tenantCommand(ctx *fiber.Ctx, form, done string, run func(req tenants.Request, slug string) (tenants.TenantResult, error)) error {
	s := session(ctx)
	slug := strings.Clone(ctx.Params("slug"))
	if !tenant.ValidSlug(slug) {
		return c.notFound(ctx)
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, nil, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	// The page has a reason field per form: the errors name this one's.
	field := form + "-reason"
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		var errs formErrors
		errs.add(field, "invalid_value", err.Error())
		return c.tenantPage(ctx, http.StatusUnprocessableEntity, nil, errs, "")
	}
	res, err := run(req, slug)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return c.notFound(ctx)
		}
		if fe, ok := fieldErrors(err); ok {
			for _, e := range fe.List {
				if e.Field == "reason" {
					e.Field = field
				}
			}
			return c.tenantPage(ctx, http.StatusUnprocessableEntity, nil, fe, "")
		}
		return fmt.Errorf("console: %s tenant %s: %w", done, slug, err)
	}
	c.settle(ctx.UserContext(), res.Position)
	return ctx.Redirect(operatorPath+"tenants/"+slug+"?done="+done, fiber.StatusSeeOther)
}

// suspendTenant suspends a tenant, with the reason the form requires.
func (c *Console) suspendTenant(ctx *fiber.Ctx) error {
	return c.tenantCommand(ctx, "suspend", "suspended", func(req tenants.Request, slug string) (tenants.TenantResult, error) {
		if req.Reason == "" {
			var p domain.Problems
			p.Add("reason", "required", "Say why the tenant is suspended.")
			return tenants.TenantResult{}, p.Err()
		}
		return c.cfg.Tenants.Suspend(ctx.UserContext(), req, slug, req.Reason)
	})
}

// resumeTenant resumes a suspended tenant.
func (c *Console) resumeTenant(ctx *fiber.Ctx) error {
	return c.tenantCommand(ctx, "resume", "resumed", func(req tenants.Request, slug string) (tenants.TenantResult, error) {
		return c.cfg.Tenants.Resume(ctx.UserContext(), req, slug)
	})
}

// operatorRotateKey gives a tenant a new signing key.
func (c *Console) operatorRotateKey(ctx *fiber.Ctx) error {
	slug := strings.Clone(ctx.Params("slug"))
	if !tenant.ValidSlug(slug) {
		return c.notFound(ctx)
	}
	return c.rotateKey(ctx, slug, func(tenants.TenantResult) error {
		return ctx.Redirect(operatorPath+"tenants/"+slug+"?done=rotated", fiber.StatusSeeOther)
	}, func(f rotateForm) error {
		return c.tenantPage(ctx, http.StatusUnprocessableEntity, &f, formErrors{}, "")
	})
}
