package console

import "github.com/gofiber/fiber/v2"

// historyRoutes registers a client's history and the tenant's audit log.
func (c *Console) historyRoutes(r fiber.Router) {}
