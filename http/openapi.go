package httpapi

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// OpenAPI is the OpenAPI 3.1 description of every route the app serves:
// the platform API, the tenant admin API and the health routes, with every
// request and response body. It is written by hand, next to the handlers,
// and a test holds the two together: every route is documented, every
// documented operation is served, and the bodies the handlers take and
// give validate against its schemas.
//
//go:embed openapi.json
var OpenAPI []byte

// serveOpenAPI answers GET /openapi.json.
func serveOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.Send(OpenAPI)
}
