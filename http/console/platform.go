package console

import "github.com/gofiber/fiber/v2"

// platformRoutes registers the operator's pages.
func (c *Console) platformRoutes(r fiber.Router) {}
