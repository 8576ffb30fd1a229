package console

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// settingsRoutes registers the tenant's settings: the login application,
// signing keys, webhooks.
func (c *Console) settingsRoutes(r fiber.Router) {
	r.Get("/settings", c.settingsPage)
	r.Post("/settings/login-app", c.setLoginApp)
	r.Post("/settings/keys/rotate", c.tenantRotateKey)
	c.webhookRoutes(r)
}

// settingsDone are the sentences of the settings page's flash, by the
// code in its done parameter.
var settingsDone = map[string]string{
	"login-app": "The login application URL is saved.",
	"rotated":   "A new signing key is published; it signs once its lead time is over.",
}

// mayRotateKeys reports whether s may rotate a tenant's signing keys: as
// with the admin API (POST /t/{tenant}/admin/keys/rotate), clavis:admin.
func mayRotateKeys(s Session) bool { return s.CanAdmin() }

// keyRow is a signing key as the console shows it: never its private
// half.
type keyRow struct {
	KID, Alg string
	// State is "signing", "next" (published, signs from ActiveFrom) or
	// "retired" (published until PublishedUntil, signs nothing new).
	State                                           string
	AddedAt, ActiveFrom, SignsUntil, PublishedUntil time.Time
}

// keyRows are the keys tenant v publishes at now, with their state, as
// the admin API lists them.
func keyRows(v projections.TenantView, now time.Time) []keyRow {
	signing, _ := v.SigningKey(now)
	published := v.PublishedKeys(now)
	out := make([]keyRow, 0, len(published))
	for _, k := range published {
		r := keyRow{KID: k.KID, Alg: k.Alg, AddedAt: k.AddedAt, ActiveFrom: k.ActiveFrom, SignsUntil: k.SignsUntil, PublishedUntil: k.PublishedUntil}
		switch {
		case k.KID == signing.KID:
			r.State = "signing"
		case k.ActiveFrom.After(now):
			r.State = "next"
		default:
			r.State = "retired"
		}
		out = append(out, r)
	}
	return out
}

// keyAlgs are the algorithms a new signing key may have, the first the
// default.
var keyAlgs = []string{tenant.AlgES256, tenant.AlgRS256, tenant.AlgEdDSA}

// rotateForm is the key rotation form: its values and errors.
type rotateForm struct {
	// Action is where the form posts.
	Action string
	Algs   []string
	Alg    string
	Lead   string
	Errors formErrors
}

// defaultLeadSeconds is the lead time the rotation form proposes.
var defaultLeadSeconds = strconv.Itoa(int(tenants.DefaultKeyLead / time.Second))

// maxLeadSeconds bounds a rotation's lead time, as the admin API does: a
// day.
const maxLeadSeconds = 86400

// readRotateForm reads the posted algorithm and lead time ("alg",
// "lead_seconds") as the admin API reads its body: an empty algorithm is
// ES256, an empty lead time the default, and a lead time is whole
// seconds from 0 to a day.
func readRotateForm(ctx *fiber.Ctx) (f rotateForm, alg string, lead time.Duration) {
	f = rotateForm{Algs: keyAlgs, Alg: strings.TrimSpace(ctx.FormValue("alg")), Lead: strings.TrimSpace(ctx.FormValue("lead_seconds"))}
	alg, lead = f.Alg, -1
	if alg != "" && !slices.Contains(keyAlgs, alg) {
		f.Errors.add("alg", "invalid_value", "The algorithm is "+strings.Join(keyAlgs, ", ")+".")
	}
	if f.Lead != "" {
		n, err := strconv.ParseInt(f.Lead, 10, 64)
		if err != nil || n < 0 || n > maxLeadSeconds {
			f.Errors.add("lead_seconds", "out_of_range", fmt.Sprintf("The lead time is a whole number of seconds from 0 to %d.", maxLeadSeconds))
		} else {
			lead = time.Duration(n) * time.Second
		}
	}
	return f, alg, lead
}

// settingsData is what the settings page shows.
type settingsData struct {
	// LoginURL is the login application URL, as saved or as posted with
	// an error; Errors are the form's.
	LoginURL string
	Errors   formErrors
	// Keys are the signing keys published now.
	Keys []keyRow
	// Rotate is the key rotation form, when the session may rotate.
	Rotate *rotateForm
	// AuditKey is the name of the tenant's audit key ("" when it has
	// none yet).
	AuditKey string
	// Issuer, JWKS, Discovery and AuditKeys are the tenant's public
	// URLs.
	Issuer, JWKS, Discovery, AuditKeys string
}

// settingsPage shows the tenant's settings.
func (c *Console) settingsPage(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "The settings need clavis:clients:read.")
	}
	if err := onlyQuery(ctx, "done"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.showSettings(ctx, http.StatusOK, nil, nil, settingsDone[ctx.Query("done")])
}

// showSettings renders the settings page with status; in, when not nil,
// is the login application form as posted, with its errors, and rot the
// rotation form as posted.
func (c *Console) showSettings(ctx *fiber.Ctx, status int, in *settingsData, rot *rotateForm, flash string) error {
	s := session(ctx)
	v, err := c.cfg.ReadModel.Tenant(ctx.UserContext(), s.Tenant)
	if err != nil {
		return fmt.Errorf("console: read tenant %s: %w", s.Tenant, err)
	}
	issuer := c.cfg.Tokens.Issuer(s.Tenant)
	d := settingsData{LoginURL: v.LoginURL, Keys: keyRows(v, c.now()), Issuer: issuer,
		JWKS: issuer + "/jwks.json", Discovery: issuer + "/.well-known/openid-configuration", AuditKeys: issuer + "/audit/key"}
	if n := len(v.AuditKeys); n > 0 {
		d.AuditKey = v.AuditKeys[n-1].Name
	}
	if in != nil {
		d.LoginURL, d.Errors = in.LoginURL, in.Errors
	}
	if mayRotateKeys(s) {
		if rot == nil {
			rot = &rotateForm{Algs: keyAlgs, Alg: tenant.AlgES256, Lead: defaultLeadSeconds}
		}
		rot.Action = tenantPath(s.Tenant) + "settings/keys/rotate"
		d.Rotate = rot
	}
	return c.render(ctx, status, "settings", view{Title: "Settings", Nav: "settings", Flash: flash, Data: d})
}

// setLoginApp sets (or clears, with an empty URL) the tenant's login
// application URL, which needs clavis:clients:write as at the admin API.
func (c *Console) setLoginApp(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Changing the login application needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, []string{"login_url"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	in := settingsData{LoginURL: strings.TrimSpace(ctx.FormValue("login_url"))}
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		in.Errors.add("reason", "invalid_value", err.Error())
		return c.showSettings(ctx, http.StatusUnprocessableEntity, &in, nil, "")
	}
	res, err := c.cfg.Tenants.SetLoginURL(ctx.UserContext(), req, s.Tenant, in.LoginURL)
	if err != nil {
		if fe, ok := fieldErrors(err); ok {
			in.Errors = fe
			return c.showSettings(ctx, http.StatusUnprocessableEntity, &in, nil, "")
		}
		return fmt.Errorf("console: set the login URL of %s: %w", s.Tenant, err)
	}
	c.settle(ctx.UserContext(), res.Position)
	return ctx.Redirect(tenantPath(s.Tenant)+"settings?done=login-app", fiber.StatusSeeOther)
}

// tenantRotateKey rotates the tenant's signing key from its own console,
// for a person with clavis:admin, as POST /t/{tenant}/admin/keys/rotate
// at the admin API (the operator rotates from the operator's console,
// [Console.operatorRotateKey]).
func (c *Console) tenantRotateKey(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !mayRotateKeys(s) {
		return c.forbidden(ctx, s, "Rotating the signing keys needs clavis:admin.")
	}
	return c.rotateKey(ctx, s.Tenant, func(res tenants.TenantResult) error {
		return ctx.Redirect(tenantPath(s.Tenant)+"settings?done=rotated", fiber.StatusSeeOther)
	}, func(f rotateForm) error {
		return c.showSettings(ctx, http.StatusUnprocessableEntity, nil, &f, "")
	})
}

// rotateKey runs a key rotation of tenant slug from the posted form, then
// done with the result, or again with the form and its errors.
func (c *Console) rotateKey(ctx *fiber.Ctx, slug string, done func(tenants.TenantResult) error, again func(rotateForm) error) error {
	s := session(ctx)
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, []string{"alg", "lead_seconds"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	f, alg, lead := readRotateForm(ctx)
	req, err := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if err != nil {
		// The page may have other forms with a reason: this one's is
		// rotate-reason.
		f.Errors.add("rotate-reason", "invalid_value", err.Error())
	}
	if f.Errors.Any() {
		return again(f)
	}
	res, err := c.cfg.Tenants.RotateKey(ctx.UserContext(), req, slug, alg, lead)
	if err != nil {
		if fe, ok := fieldErrors(err); ok {
			for _, e := range fe.List {
				if e.Field == "signing_key.alg" {
					e.Field = "alg"
				}
			}
			f.Errors = fe
			return again(f)
		}
		if errors.Is(err, domain.ErrNotFound) {
			return c.notFound(ctx)
		}
		return fmt.Errorf("console: rotate the key of %s: %w", slug, err)
	}
	c.settle(ctx.UserContext(), res.Position)
	return done(res)
}
