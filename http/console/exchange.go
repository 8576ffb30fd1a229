package console

import "github.com/gofiber/fiber/v2"

// exchangeRoutes registers import and export.
func (c *Console) exchangeRoutes(r fiber.Router) {}
