package httpapi

import (
	"context"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/tenants"
)

// pathTenant is the path parameter that names the tenant an admin write
// is for.
type pathTenant string

const (
	// adminTenant: the tenant admin API's {tenant}.
	adminTenant pathTenant = "tenant"
	// platformTenant: the platform API's /admin/tenants/{slug}.
	platformTenant pathTenant = "slug"
	// noTenant: a write for no existing tenant (creating one).
	noTenant pathTenant = ""
)

// A reader reads a request's body into in: [jsonBody], [optionalJSON],
// [noBody], or a reader of its own for a body with more to it.
type reader[In any] func(c *fiber.Ctx, in *In) error

// A command runs one admin write for tenant slug with the body read into
// in; r becomes the metadata of its events.
type command[In, Out any] func(ctx context.Context, r tenants.Request, slug string, in In) (Out, error)

// An answer writes the response to a write that succeeded, after waiting
// (bounded) for the read model to reach it.
type answer[Out any] func(c *fiber.Ctx, slug string, out Out) error

// handle is the one shape of an admin write: the tenant named by the path
// parameter at, the request's metadata (who, why, from where), the body
// read into an In by read, the command run with that metadata, and its
// result written by send. A failure of any step is returned as it is,
// for the one error mapper.
func handle[In, Out any](s *Server, c *fiber.Ctx, at pathTenant, read reader[In], run command[In, Out], send answer[Out]) error {
	var slug string
	if at != noTenant {
		var err error
		if slug, err = tenantParam(c, string(at)); err != nil {
			return err
		}
	}
	r, err := s.request(c)
	if err != nil {
		return err
	}
	var in In
	if err := read(c, &in); err != nil {
		return err
	}
	out, err := run(c.UserContext(), r, slug, in)
	if err != nil {
		return err
	}
	return send(c, slug, out)
}

// jsonBody reads a required JSON body strictly (see [decode]).
func jsonBody[In any](c *fiber.Ctx, in *In) error { return decode(c, in) }

// optionalJSON reads a JSON body that may be left out (see
// [decodeOptional]).
func optionalJSON[In any](c *fiber.Ctx, in *In) error { return decodeOptional(c, in) }

// noBody reads nothing: the write takes no body, and ignores one.
func noBody[In any](*fiber.Ctx, *In) error { return nil }

// rawJSON reads a required JSON body as it is, for a command that reads
// it itself.
func rawJSON(c *fiber.Ctx, in *[]byte) error {
	raw, err := body(c, mediaJSON)
	*in = raw
	return err
}

// none is the input of a write whose body, if any, must be an empty
// JSON object.
type none struct{}

// answerTenant answers with the tenant as the command left it.
func (s *Server) answerTenant(c *fiber.Ctx, _ string, res tenants.TenantResult) error {
	s.settle(c, res.Position)
	return sendJSON(c, fiber.StatusOK, s.newTenantJSON(res.Tenant))
}

// answerClient answers with the client as the command left it, and the
// secret it made, shown this once.
func (s *Server) answerClient(c *fiber.Ctx, _ string, res tenants.ClientResult) error {
	s.settle(c, res.Position)
	return sendClient(c, fiber.StatusOK, res.Client, res.Secret)
}

// answerNewSecret is [Server.answerClient] for a write that adds a
// secret: 201.
func (s *Server) answerNewSecret(c *fiber.Ctx, _ string, res tenants.ClientResult) error {
	s.settle(c, res.Position)
	return sendClient(c, fiber.StatusCreated, res.Client, res.Secret)
}

// answerNewClient is [Server.answerClient] for a write that creates a
// client: 201, with its address.
func (s *Server) answerNewClient(c *fiber.Ctx, slug string, res tenants.ClientResult) error {
	c.Set(fiber.HeaderLocation, "/t/"+slug+"/admin/clients/"+res.Client.ClientID)
	return s.answerNewSecret(c, slug, res)
}

// answerDeleted answers 204.
func (s *Server) answerDeleted(c *fiber.Ctx, _ string, res tenants.ClientResult) error {
	s.settle(c, res.Position)
	return c.SendStatus(fiber.StatusNoContent)
}
