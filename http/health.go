package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// healthz answers while the process is alive; it checks nothing else, so
// that an orchestrator restarts only a process that is truly stuck.
func (s *Server) healthz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"status": "ok"})
}

// readyz answers 200 when the event store answers within the ready
// timeout, so that a load balancer sends traffic only to a node that can
// serve it. The store's error is logged, not shown: it may name hosts.
func (s *Server) readyz(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.ReadyTimeout)
	defer cancel()
	if _, err := s.store.Head(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "not ready: event store did not answer",
			slog.String("request_id", requestID(c)), slog.Any("error", err))
		return &Problem{
			Type:   ProblemNotReady,
			Title:  "Not ready",
			Status: http.StatusServiceUnavailable,
			Detail: "The event store did not answer.",
		}
	}
	for _, check := range s.ready {
		if err := check.Check(ctx); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "not ready", slog.String("check", check.Name),
				slog.String("request_id", requestID(c)), slog.Any("error", err))
			return &Problem{
				Type:   ProblemNotReady,
				Title:  "Not ready",
				Status: http.StatusServiceUnavailable,
				Detail: "Not ready: " + check.Name + ".",
			}
		}
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// ReadyCheck is one more condition /readyz requires besides the event
// store answering: NATS connected, the projections caught up.
type ReadyCheck struct {
	// Name says what is not ready, in the 503 answer and the log.
	Name  string
	Check func(ctx context.Context) error
}

// WithReadiness adds checks to /readyz.
func WithReadiness(checks ...ReadyCheck) Option {
	return func(o *options) error {
		for _, c := range checks {
			if c.Name == "" || c.Check == nil {
				return fmt.Errorf("%w: WithReadiness: a readiness check needs a name and a function", ErrInvalidOption)
			}
		}
		o.ready = append(o.ready, checks...)
		return nil
	}
}
