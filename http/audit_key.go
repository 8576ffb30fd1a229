package httpapi

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/tenants"
)

// auditKeyMaxAge is how long auditors may cache a tenant's audit verifier
// keys. A rotated key signs at once, so the list is kept short-lived.
const auditKeyMaxAge = time.Minute

// auditKeyRoutes registers the public verifier keys of every tenant's
// audit log and the platform's audit key rotation.
func (s *Server) auditKeyRoutes() {
	s.app.Get("/t/:tenant/audit/key", noQuery, s.auditKey)
	s.app.Post("/admin/tenants/:slug/audit-keys", s.authenticate(platformOnly), noQuery, s.rotateAuditKey)
}

// auditKey serves the verifier keys of a tenant's audit log, in the
// signed-note format, one a line, the active key first: public, like the
// JWKS, so anyone can check the log's signed checkpoints. A suspended
// tenant's keys are served too.
func (s *Server) auditKey(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	vkeys, err := s.admin.Tenants.AuditVerifiers(c.UserContext(), slug)
	if errors.Is(err, tenants.ErrNoAuditKey) {
		return notFound()
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age="+strconv.Itoa(int(auditKeyMaxAge/time.Second)))
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.SendString(strings.Join(vkeys, "\n") + "\n")
}

// auditKeyJSON is an audit key as the platform API shows it: its name
// (the log's origin) and its public verifier key, never its signer key.
type auditKeyJSON struct {
	Name     string `json:"name"`
	Verifier string `json:"verifier"`
}

// rotateAuditKey gives a tenant a new audit key, which signs its audit
// log's checkpoints from now on, and answers 201 with it.
func (s *Server) rotateAuditKey(c *fiber.Ctx) error {
	return handle(s, c, platformTenant, optionalJSON[none], func(ctx context.Context, r tenants.Request, slug string, _ none) (tenants.TenantResult, error) {
		return s.admin.Tenants.RotateAuditKey(ctx, r, slug)
	}, func(c *fiber.Ctx, _ string, res tenants.TenantResult) error {
		s.settle(c, res.Position)
		k, _ := tenant.ActiveAuditKey(res.Tenant.AuditKeys) // a rotation leaves one
		return sendJSON(c, fiber.StatusCreated, auditKeyJSON{Name: k.Name, Verifier: k.Verifier})
	})
}
