package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// jwksMaxAge is how long verifiers may cache a tenant's JWKS. A rotation
// publishes the new key at least tenants.DefaultKeyLead before it signs,
// which is longer.
const jwksMaxAge = 5 * time.Minute

// keyRoutes registers the public key set of every tenant and the key
// rotation: the platform's, and the tenant's own (clavis:admin, as a
// Keycloak realm administrator rotates the realm's keys).
func (s *Server) keyRoutes() {
	s.app.Get("/t/:tenant/jwks.json", s.jwks)
	s.app.Post("/admin/tenants/:slug/keys/rotate", s.authenticate(platformOnly), noQuery, s.rotateKey(platformTenant))
	s.app.Post("/t/:tenant/admin/keys/rotate", s.authenticate(tenantAdmin), noQuery, s.rotateKey(adminTenant))
}

// jwks serves the public keys of a tenant that verifiers may meet: the
// one signing, the next one during a rotation's lead time, and retired
// ones until every token they signed has expired.
func (s *Server) jwks(c *fiber.Ctx) error {
	slug, err := tenantParam(c, "tenant")
	if err != nil {
		return err
	}
	v, err := s.admin.ReadModel.Tenant(c.UserContext(), slug)
	if errors.Is(err, projections.ErrNotFound) {
		return notFound()
	}
	if err != nil {
		return err
	}
	published := v.PublishedKeys(time.Now())
	set := struct {
		Keys []json.RawMessage `json:"keys"`
	}{Keys: make([]json.RawMessage, len(published))}
	for i, k := range published {
		set.Keys[i] = k.PublicJWK
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age="+strconv.Itoa(int(jwksMaxAge/time.Second)))
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	return sendJSON(c, http.StatusOK, set)
}

// rotateKey gives the tenant the path names at at a new signing key.
func (s *Server) rotateKey(at pathTenant) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return handle(s, c, at, optionalJSON[rotateKeyIn], func(ctx context.Context, r tenants.Request, slug string, in rotateKeyIn) (tenants.TenantResult, error) {
			lead, err := in.lead()
			if err != nil {
				return tenants.TenantResult{}, err
			}
			return s.admin.Tenants.RotateKey(ctx, r, slug, in.Alg, lead)
		}, s.answerTenant)
	}
}

// rotateKeyIn is the body of a key rotation.
type rotateKeyIn struct {
	Alg         string `json:"alg"`
	LeadSeconds *int64 `json:"lead_seconds"`
}

// lead is the rotation's lead time, -1 when the body does not say.
func (in rotateKeyIn) lead() (time.Duration, error) {
	if in.LeadSeconds == nil {
		return -1, nil
	}
	if *in.LeadSeconds < 0 || *in.LeadSeconds > maxLeadSeconds {
		var p domain.Problems
		p.Add("lead_seconds", "out_of_range", "lead_seconds must be between 0 and %d", maxLeadSeconds)
		return 0, p.Err()
	}
	return time.Duration(*in.LeadSeconds) * time.Second, nil
}

// maxLeadSeconds bounds a rotation's lead time: a day.
const maxLeadSeconds = 86400

// keyJSON is a signing key as the platform API shows it: never its
// private half.
type keyJSON struct {
	KID            string     `json:"kid"`
	Alg            string     `json:"alg"`
	State          string     `json:"state"`
	ActiveFrom     time.Time  `json:"active_from"`
	SignsUntil     *time.Time `json:"signs_until,omitempty"`
	PublishedUntil *time.Time `json:"published_until,omitempty"`
}

// Key states in the platform API.
const (
	keyNext    = "next"    // published, signing from active_from
	keySigning = "signing" // the key that signs now
	keyRetired = "retired" // published until published_until, signs nothing new
)

// keysJSON lists the keys a tenant publishes now, with their state.
func keysJSON(v projections.TenantView, now time.Time) []keyJSON {
	signing, _ := v.SigningKey(now)
	published := v.PublishedKeys(now)
	out := make([]keyJSON, 0, len(published))
	for _, k := range published {
		j := keyJSON{KID: k.KID, Alg: k.Alg, ActiveFrom: k.ActiveFrom, State: keyState(k, signing.KID, now)}
		if k.Retired() {
			j.SignsUntil, j.PublishedUntil = &k.SignsUntil, &k.PublishedUntil
		}
		out = append(out, j)
	}
	return out
}

func keyState(k tenant.Key, signing string, now time.Time) string {
	switch {
	case k.KID == signing:
		return keySigning
	case k.ActiveFrom.After(now):
		return keyNext
	}
	return keyRetired
}
