package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// maxPackage is the largest package the console imports, in bytes. The
// preview carries the package back in its confirmation form, so twice
// this stays below the node's body limit.
const maxPackage = 512 << 10

// exchangeRoutes registers import and export.
func (c *Console) exchangeRoutes(r fiber.Router) {
	r.Get("/exchange", c.exchangePage)
	r.Get("/export", c.export)
	r.Post("/import", c.importPreview)
	r.Post("/import/confirm", c.importConfirm)
}

// exchangeData is what the import and export page shows.
type exchangeData struct {
	// MaxKiB is the largest package accepted, in KiB.
	MaxKiB int
	// Error says why the package was refused, with Problems the
	// package's own (by JSON path), when there are.
	Error    string
	Problems []*domain.FieldError
	// JSON is the package pasted, shown again with the error.
	JSON string
}

// exchangePage shows the export link and the import form.
func (c *Console) exchangePage(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "Import and export need clavis:clients:read.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	return c.render(ctx, http.StatusOK, "exchange", view{Title: "Import and export", Nav: "exchange", Data: exchangeData{MaxKiB: maxPackage >> 10}})
}

// export downloads the tenant's clients as a package, exactly as the
// admin API's GET /t/{tenant}/admin/export answers it.
func (c *Console) export(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanRead() {
		return c.forbidden(ctx, s, "Exporting the clients needs clavis:clients:read.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	pkg, err := c.cfg.Clients.Export(ctx.UserContext(), s.Tenant)
	if err != nil {
		return fmt.Errorf("console: export %s: %w", s.Tenant, err)
	}
	body, err := jsonbody.EncodePackage(pkg)
	if err != nil {
		return err
	}
	ctx.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	ctx.Set(fiber.HeaderContentDisposition,
		fmt.Sprintf(`attachment; filename="%s-clients-%s.json"`, s.Tenant, pkg.ExportedAt.UTC().Format("2006-01-02")))
	return ctx.Status(http.StatusOK).Send(body)
}

// importRow is one client of an import's preview or result.
type importRow struct {
	tenants.ImportResult
	// Name is the client's name in the package.
	Name string
	// Diffs are the changed settings with their values before and after,
	// as far as the package and the read model tell them.
	Diffs []fieldDiff
	// Back is the client's page, when it exists.
	Back string
}

// fieldDiff is one changed setting of an update.
type fieldDiff struct {
	Field, Before, After string
}

// importData is what the preview and the result of an import show.
type importData struct {
	// Done is true on the result of the import, false on its preview.
	Done bool
	// Format is the format read.
	Format string
	// Rows are the clients, in the package's order.
	Rows []importRow
	// Creates, Updates, Unchanged and Skipped count the rows by action.
	Creates, Updates, Unchanged, Skipped int
	// JSON is the package, carried by the confirmation form.
	JSON string
	// Error says why the import stopped part way, on its result.
	Error string
	// Errors are the confirmation form's own (its reason).
	Errors formErrors
}

// Secrets reports whether any row has a secret shown once.
func (d importData) Secrets() bool {
	return slices.ContainsFunc(d.Rows, func(r importRow) bool { return r.Secret != nil })
}

// readPackage reads the posted package: the file `package` or the text
// `package_json`, exactly one of them, at most maxPackage bytes of UTF-8
// (as the admin API's import takes it).
func readPackage(ctx *fiber.Ctx, fileAllowed bool) (string, error) {
	text := ctx.FormValue("package_json")
	var file string
	if fileAllowed {
		if fh, err := ctx.FormFile("package"); err == nil && fh.Size > 0 {
			if fh.Size > maxPackage {
				return "", fmt.Errorf("The file has %d KiB; a package has at most %d KiB.", fh.Size>>10, maxPackage>>10)
			}
			f, err := fh.Open()
			if err != nil {
				return "", errors.New("The file could not be read.")
			}
			defer f.Close()
			b, err := io.ReadAll(io.LimitReader(f, maxPackage+1))
			if err != nil {
				return "", errors.New("The file could not be read.")
			}
			file = string(b)
		}
	}
	switch {
	case file != "" && strings.TrimSpace(text) != "":
		return "", errors.New("Give the package as a file or as text, not both.")
	case file != "":
		text = file
	case strings.TrimSpace(text) == "":
		return "", errors.New("Choose a package file or paste its JSON.")
	}
	if len(text) > maxPackage {
		return "", fmt.Errorf("The package has %d KiB; a package has at most %d KiB.", len(text)>>10, maxPackage>>10)
	}
	if !utf8.ValidString(text) {
		return "", errors.New("The package is not UTF-8 text; nothing was changed.")
	}
	return text, nil
}

// importRefused shows the import form again with why the package was
// refused; nothing changed.
func (c *Console) importRefused(ctx *fiber.Ctx, status int, why string, problems []*domain.FieldError, text string) error {
	if len(text) > maxPackage {
		text = ""
	}
	return c.render(ctx, status, "exchange", view{Title: "Import and export", Nav: "exchange",
		Data: exchangeData{MaxKiB: maxPackage >> 10, Error: why, Problems: problems, JSON: text}})
}

// batchError turns what refuses a whole package (malformed JSON, a wrong
// shape, the domain's validation, a platform scope beyond the person's
// authority) into the words and problems of the import page; ok is
// false for any other error.
func batchError(err error) (why string, problems []*domain.FieldError, ok bool) {
	var (
		malformed *jsonbody.Error
		invalid   *domain.ValidationError
		authority *tenants.AuthorityError
	)
	switch {
	case errors.As(err, &malformed):
		return "The package is not valid JSON of a package: " + malformed.Error() + ".", nil, true
	case errors.As(err, &invalid):
		return "The package was refused; nothing was changed.", invalid.Fields, true
	case errors.As(err, &authority):
		return fmt.Sprintf("The package gives %s (at %s), a platform scope you do not hold; nothing was changed.", authority.Scope, authority.Field), nil, true
	case errors.Is(err, domain.ErrTenantSuspended):
		return "The tenant is suspended: nothing can be imported until the platform operator resumes it.", nil, true
	}
	return "", nil, false
}

// importPreview runs the posted package as a dry run and shows what the
// import would do, with a form to confirm it.
func (c *Console) importPreview(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Importing clients needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, []string{"package", "package_json"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	text, err := readPackage(ctx, true)
	if err != nil {
		return c.importRefused(ctx, http.StatusUnprocessableEntity, err.Error(), nil, ctx.FormValue("package_json"))
	}
	batch, err := jsonbody.Import(s.Tenant, []byte(text))
	if err == nil {
		var req tenants.Request
		if req, err = c.cfg.Request(ctx, s.Actor, s.Authority(), ""); err != nil {
			return err
		}
		var rep tenants.ImportReport
		if rep, err = c.cfg.Clients.DryRunImport(ctx.UserContext(), req, s.Tenant, batch); err == nil {
			d := c.importRows(ctx, s.Tenant, batch, rep)
			d.JSON = text
			return c.render(ctx, http.StatusOK, "import_preview", view{Title: "Import preview", Nav: "exchange", Data: d})
		}
	}
	if why, problems, ok := batchError(err); ok {
		return c.importRefused(ctx, http.StatusUnprocessableEntity, why, problems, text)
	}
	return fmt.Errorf("console: import preview: %w", err)
}

// importConfirm imports the package its preview showed and shows what
// the import did, with the secrets of the clients it created, once.
func (c *Console) importConfirm(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Importing clients needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, []string{"package_json"}, nil); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	text, err := readPackage(ctx, false)
	if err != nil {
		return c.importRefused(ctx, http.StatusUnprocessableEntity, err.Error(), nil, "")
	}
	batch, err := jsonbody.Import(s.Tenant, []byte(text))
	if err != nil {
		if why, problems, ok := batchError(err); ok {
			return c.importRefused(ctx, http.StatusUnprocessableEntity, why, problems, text)
		}
		return fmt.Errorf("console: import: %w", err)
	}
	req, rerr := c.cfg.Request(ctx, s.Actor, s.Authority(), ctx.FormValue("reason"))
	if rerr != nil {
		// Show the preview again, with the reason's error.
		dry, _ := c.cfg.Request(ctx, s.Actor, s.Authority(), "")
		rep, err := c.cfg.Clients.DryRunImport(ctx.UserContext(), dry, s.Tenant, batch)
		if err != nil {
			if why, problems, ok := batchError(err); ok {
				return c.importRefused(ctx, http.StatusUnprocessableEntity, why, problems, text)
			}
			return fmt.Errorf("console: import preview: %w", err)
		}
		d := c.importRows(ctx, s.Tenant, batch, rep)
		d.JSON = text
		d.Errors.add("reason", "invalid_value", rerr.Error())
		return c.render(ctx, http.StatusUnprocessableEntity, "import_preview", view{Title: "Import preview", Nav: "exchange", Data: d})
	}
	rep, err := c.cfg.Clients.Import(ctx.UserContext(), req, s.Tenant, batch)
	var partial *tenants.ImportError
	switch {
	case errors.As(err, &partial):
		rep = partial.Report
	case err != nil:
		if why, problems, ok := batchError(err); ok {
			return c.importRefused(ctx, http.StatusUnprocessableEntity, why, problems, text)
		}
		return fmt.Errorf("console: import: %w", err)
	}
	c.settle(ctx.UserContext(), rep.Position)
	d := c.importRows(ctx, s.Tenant, batch, rep)
	d.Done = true
	status := http.StatusOK
	if partial != nil {
		status = http.StatusUnprocessableEntity
		d.Error = fmt.Sprintf("The import stopped at the client %d of the package (%s); the clients listed here were imported, the others were not.",
			partial.Index+1, importFailure(partial.Err))
	}
	return c.render(ctx, status, "import_preview", view{Title: "Import result", Nav: "exchange", Data: d})
}

// importFailure describes why an import stopped part way, without
// details of the store.
func importFailure(err error) string {
	if e, ok := fieldErrors(err); ok && e.Any() {
		return e.List[0].Field + ": " + e.List[0].Message
	}
	if errors.Is(err, domain.ErrTenantSuspended) {
		return "the tenant is suspended"
	}
	return "the change could not be saved; try again"
}

// importRows makes the rows of a report, with each update's changed
// settings before (the read model's) and after (the package's).
func (c *Console) importRows(ctx *fiber.Ctx, slug string, b tenants.ImportBatch, rep tenants.ImportReport) importData {
	d := importData{Format: rep.Format, Rows: make([]importRow, 0, len(rep.Clients))}
	for i, r := range rep.Clients {
		row := importRow{ImportResult: r}
		if i < len(b.Clients) {
			row.Name = b.Clients[i].Settings.ClientName
		}
		if r.ClientID != "" {
			row.Back = tenantPath(slug) + "clients/" + r.ClientID
		}
		switch r.Action {
		case tenants.ActionCreate:
			d.Creates++
		case tenants.ActionUpdate:
			d.Updates++
			if !d.Done && i < len(b.Clients) {
				row.Diffs = c.diffs(ctx, slug, r, b.Clients[i])
			}
		case tenants.ActionUnchanged:
			d.Unchanged++
		case tenants.ActionSkipped:
			d.Skipped++
		}
		d.Rows = append(d.Rows, row)
	}
	return d
}

// maxShown bounds a value shown in a difference.
const maxShown = 300

// diffs are the settings an update changes, with their values in the
// tenant now and in the package.
func (c *Console) diffs(ctx *fiber.Ctx, slug string, r tenants.ImportResult, in tenants.ImportClient) []fieldDiff {
	cur, err := c.cfg.ReadModel.Client(ctx.UserContext(), slug, r.ClientID)
	if err != nil {
		if !errors.Is(err, projections.ErrNotFound) {
			c.cfg.Log.Warn("console: read a client for an import's preview", "tenant", slug, "client_id", r.ClientID, "error", err)
		}
		return nil
	}
	before, after := settingsMap(cur.Settings.Redact()), settingsMap(in.Settings.Normalize().Redact())
	out := make([]fieldDiff, 0, len(r.Changed))
	for _, f := range r.Changed {
		d := fieldDiff{Field: f}
		if f == "active" {
			d.Before, d.After = fmt.Sprint(cur.Active), fmt.Sprint(in.Active)
		} else {
			d.Before, d.After = shown(before[f]), shown(after[f])
		}
		out = append(out, d)
	}
	return out
}

// settingsMap is the JSON members of settings, by name.
func settingsMap(s any) map[string]json.RawMessage {
	b, err := json.Marshal(s)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

// shown is a JSON value as the preview shows it: compact, bounded,
// "(none)" when absent.
func shown(v json.RawMessage) string {
	if len(v) == 0 || string(v) == "null" {
		return "(none)"
	}
	var b bytes.Buffer
	if json.Compact(&b, v) != nil {
		return "(unreadable)"
	}
	s := b.String()
	if len(s) > maxShown {
		s = strings.ToValidUTF8(s[:maxShown], "") + "…"
	}
	return s
}
