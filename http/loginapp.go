package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/tenants"
)

// loginAppJSON is a tenant's login application setting: the URL the
// authorization endpoint sends browsers to with a login_challenge or
// consent_challenge query parameter ("" when the tenant has none).
type loginAppJSON struct {
	LoginURL string `json:"login_url"`
}

// getLoginApp shows the tenant's login application URL.
func (s *Server) getLoginApp(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	v, err := s.admin.ReadModel.Tenant(c.UserContext(), slug)
	if err != nil {
		return fmt.Errorf("get login app: %w", err)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, loginAppJSON{LoginURL: v.LoginURL})
}

// putLoginApp sets the tenant's login application URL, or clears it with
// "", and answers the setting as it now is. The member is required, so
// that an empty object never clears the setting by accident.
func (s *Server) putLoginApp(c *fiber.Ctx) error {
	return handle(s, c, adminTenant, jsonBody[loginAppIn], func(ctx context.Context, r tenants.Request, slug string, in loginAppIn) (tenants.TenantResult, error) {
		if in.LoginURL == nil {
			var p domain.Problems
			p.Add("login_url", "required", `login_url is required; "" clears the setting`)
			return tenants.TenantResult{}, p.Err()
		}
		return s.admin.Tenants.SetLoginURL(ctx, r, slug, *in.LoginURL)
	}, s.answerLoginApp)
}

// loginAppIn is the body of a PUT of the login application setting.
type loginAppIn struct {
	LoginURL *string `json:"login_url"`
}

// answerLoginApp answers with the login application setting as it now is.
func (s *Server) answerLoginApp(c *fiber.Ctx, _ string, res tenants.TenantResult) error {
	s.settle(c, res.Position)
	c.Set(fiber.HeaderCacheControl, "no-store")
	return sendJSON(c, http.StatusOK, loginAppJSON{LoginURL: res.Tenant.LoginURL})
}
