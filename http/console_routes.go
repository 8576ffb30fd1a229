package httpapi

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/http/console"
	"github.com/clavisiam/clavis/tenants"
)

// WithConsole serves the browser console (package console) over cfg:
// each tenant's at /t/{tenant}/console/, the operator's at /console/. It
// needs [WithAdmin] and [WithOAuth]; the console's commands carry the
// same metadata as the admin API's (request id, source address behind
// the trusted proxies, User-Agent, trace) and its reasons follow the
// X-Clavis-Reason header's rules.
func WithConsole(cfg console.Config) Option {
	return func(o *options) error {
		o.console = &cfg
		return nil
	}
}

// consoleRoutes builds the console and registers its routes.
func (s *Server) consoleRoutes(cfg console.Config) error {
	if s.oauth == nil || !s.oauth.Authorizes() {
		return errors.New("httpapi: WithConsole needs WithOAuth with the browser flows")
	}
	cfg.Tokens = s.oauth
	cfg.Request = s.consoleRequest
	cfg.Guesses, cfg.RemoteAddr = s.guesses, s.remoteAddr
	cfg.ShowClient = showClient
	if cfg.Waiter == nil && s.admin.Waiter != nil {
		cfg.Waiter = s.admin.Waiter
	}
	if s.webhooks != nil {
		if cfg.WebhookWaiter == nil && s.webhooks.Waiter != nil {
			cfg.WebhookWaiter = s.webhooks.Waiter
		}
		if cfg.WebhookDeliverer == nil && s.webhooks.Deliverer != nil {
			cfg.WebhookDeliverer = s.webhooks.Deliverer
		}
	}
	c, err := console.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: WithConsole: %w", ErrInvalidOption, err)
	}
	c.Routes(s.app)
	return nil
}

// consoleRequest is the metadata of a command the console runs for actor.
func (s *Server) consoleRequest(c *fiber.Ctx, actor string, authority tenants.Authority, why string) (tenants.Request, error) {
	why = strings.TrimSpace(why)
	if code, rule := checkReason(why); code != "" {
		return tenants.Request{}, errors.New("The reason must be " + rule + ".")
	}
	return s.requestAs(c, actor, authority, why), nil
}
