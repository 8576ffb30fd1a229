package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets/*
var assetFiles embed.FS

// csp is the console's Content-Security-Policy: scripts and styles only
// from the console's own embedded files (no inline script, no inline
// style, nothing from elsewhere), forms only to the console's origin, no
// framing by anyone.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// setHeaders sets the headers of every console page: never cached, never
// framed, the policy above, no MIME sniffing, no Referer to other sites.
func setHeaders(ctx *fiber.Ctx) {
	ctx.Set("Cache-Control", "no-store")
	ctx.Set("Content-Security-Policy", csp)
	ctx.Set("X-Frame-Options", "DENY")
	ctx.Set("X-Content-Type-Options", "nosniff")
	ctx.Set("Referrer-Policy", "same-origin")
	ctx.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// view is what every page gets: the layout's parts and the page's Data.
type view struct {
	// Title is the page's title.
	Title string
	// Tenant is the tenant whose console this is ("" for the operator's
	// console and its pages).
	Tenant string
	// Session is who is signed in; nil on the sign-in pages.
	Session *Session
	// Nav names the section the page belongs to: "clients", "audit",
	// "exchange", "settings", "tenants".
	Nav string
	// Flash is a message about what the last form did.
	Flash string
	// Data is the page's own.
	Data any
	// csrf is the session's CSRF token (see CSRF).
	csrf string
}

// CSRF is the hidden input every form of the page carries.
func (v view) CSRF() template.HTML {
	return template.HTML(`<input type="hidden" name="_csrf" value="` + template.HTMLEscapeString(v.csrf) + `">`)
}

// Base is the path of the console the page belongs to, with a trailing
// slash: /t/{tenant}/console/ or /console/.
func (v view) Base() string {
	if v.Tenant != "" {
		return tenantPath(v.Tenant)
	}
	return operatorPath
}

// Asset is the path of an embedded asset, with its content's digest so
// that a new release is never served from a cache.
func (view) Asset(name string) string { return assetURL(name) }

// funcs are the templates' functions.
var funcs = template.FuncMap{
	"join": strings.Join,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"timeptr": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"contains": slices.Contains[[]string],
	"fieldid":  fieldID,
}

// parsePages parses each page of templates/ with the layout and the
// partials (the files named _*.html, which define templates pages share).
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: layout: %w", err)
	}
	if partials, _ := fs.Glob(templateFiles, "templates/_*.html"); len(partials) > 0 {
		if layout, err = layout.ParseFS(templateFiles, partials...); err != nil {
			return nil, fmt.Errorf("console: partials: %w", err)
		}
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" || strings.HasPrefix(name, "_") {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("console: page %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render answers page name with status and v, in the layout.
func (c *Console) render(ctx *fiber.Ctx, status int, name string, v view) error {
	t, ok := c.pages[name]
	if !ok {
		return fmt.Errorf("console: no page %q", name)
	}
	if v.Session == nil {
		if s := session(ctx); s.Actor != "" {
			v.Session = &s
		}
	}
	if v.Session != nil {
		v.csrf = c.sealer.csrfToken(v.Session.id)
		if v.Tenant == "" {
			v.Tenant = v.Session.Tenant
		}
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout.html", v); err != nil {
		return fmt.Errorf("console: render %s: %w", name, err)
	}
	setHeaders(ctx)
	ctx.Set("Content-Type", "text/html; charset=utf-8")
	ctx.Status(status)
	return ctx.Send(b.Bytes())
}

// errorPage answers what a console handler failed with as a page, not
// as the API's JSON problem: a person reads it. The cause is logged with
// the request's id, which the page shows; nothing of it reaches the page.
func (c *Console) errorPage(ctx *fiber.Ctx) error {
	err := ctx.Next()
	if err == nil {
		return nil
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code < http.StatusInternalServerError {
		return c.render(ctx, fe.Code, "error", view{Title: http.StatusText(fe.Code), Tenant: tenantOf(ctx), Data: errorData{Message: fe.Message}})
	}
	id := string(ctx.Response().Header.Peek("X-Request-Id"))
	c.cfg.Log.ErrorContext(ctx.UserContext(), "console: a page failed", "path", ctx.Path(), "request_id", id, "error", err)
	return c.render(ctx, http.StatusInternalServerError, "error", view{Title: "Something went wrong", Tenant: tenantOf(ctx),
		Data: errorData{Message: "The page could not be shown. Try again in a moment; if it keeps failing, give your operator the request id " + id + "."}})
}

// errorData is what the error page shows.
type errorData struct{ Message string }

// notFound answers the page for what does not exist (or is another
// tenant's).
func (c *Console) notFound(ctx *fiber.Ctx) error {
	return c.render(ctx, http.StatusNotFound, "error", view{Title: "Not found", Tenant: tenantOf(ctx),
		Data: errorData{Message: "There is nothing here. It may have been deleted, or the link is wrong."}})
}

// forbidden answers the "not allowed" page: the session may not do this.
func (c *Console) forbidden(ctx *fiber.Ctx, s Session, why string) error {
	return c.render(ctx, http.StatusForbidden, "error", view{Title: "Not allowed", Tenant: s.Tenant, Session: &s,
		Data: errorData{Message: why}})
}

// badRequest answers a request the console cannot take.
func (c *Console) badRequest(ctx *fiber.Ctx, why string) error {
	return c.render(ctx, http.StatusBadRequest, "error", view{Title: "Bad request", Tenant: tenantOf(ctx), Data: errorData{Message: why}})
}

// tenantOf is the tenant of the path, when it is a tenant's console.
func tenantOf(ctx *fiber.Ctx) string {
	if s := session(ctx); s.Tenant != "" {
		return s.Tenant
	}
	if strings.HasPrefix(ctx.Path(), "/t/") {
		return strings.Clone(ctx.Params("tenant"))
	}
	return ""
}

// ---- assets

// assetsPath is where the embedded assets are served.
const assetsPath = "/console/assets/"

// assets are the embedded assets by name, with their digests.
var assets = func() map[string]asset {
	out := map[string]asset{}
	entries, _ := fs.ReadDir(assetFiles, "assets")
	for _, e := range entries {
		b, _ := assetFiles.ReadFile("assets/" + e.Name())
		sum := sha256.Sum256(b)
		out[e.Name()] = asset{body: b, digest: hex.EncodeToString(sum[:8])}
	}
	return out
}()

type asset struct {
	body   []byte
	digest string
}

// assetURL is the path of asset name, versioned by its digest.
func assetURL(name string) string {
	return assetsPath + name + "?v=" + assets[name].digest
}

// serveAsset answers an embedded asset, cached for a year (its URL
// changes with its content).
func serveAsset(ctx *fiber.Ctx) error {
	a, ok := assets[ctx.Params("name")]
	if !ok {
		return ctx.SendStatus(http.StatusNotFound)
	}
	switch path.Ext(ctx.Params("name")) {
	case ".css":
		ctx.Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		ctx.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		ctx.Set("Content-Type", "image/svg+xml")
	default:
		ctx.Set("Content-Type", "application/octet-stream")
	}
	ctx.Set("Cache-Control", "public, max-age=31536000, immutable")
	ctx.Set("X-Content-Type-Options", "nosniff")
	return ctx.Send(a.body)
}
