package console

import "github.com/gofiber/fiber/v2"

// settingsRoutes registers the tenant's settings: the login application,
// signing keys, webhooks.
func (c *Console) settingsRoutes(r fiber.Router) {
	c.webhookRoutes(r)
}
