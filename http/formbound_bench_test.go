package httpapi

import (
	"bytes"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// BenchmarkRefusedOAuthForm is what an unauthenticated 1 MiB form of
// "a&a&a..." costs the node at an OAuth form endpoint now that
// boundForm refuses it before it is parsed (it cost the token endpoint
// ~78 ms to parse): the whole of fiber's routing and the answer.
//
//	go test -run '^$' -bench BenchmarkRefusedOAuthForm -benchmem ./http/
func BenchmarkRefusedOAuthForm(b *testing.B) {
	app := fiber.New(fiber.Config{BodyLimit: DefaultBodyLimit})
	app.Use("/t/:tenant/oauth2", boundForm)
	app.Post("/t/:tenant/oauth2/token", func(*fiber.Ctx) error {
		b.Fatal("the refused form reached the token endpoint")
		return nil
	})
	handle := app.Handler()
	body := bytes.Repeat([]byte("a&"), DefaultBodyLimit/2)
	var ctx fasthttp.RequestCtx
	b.ReportAllocs()
	for b.Loop() {
		ctx.Request.Reset()
		ctx.Response.Reset()
		ctx.Request.Header.SetMethod(fiber.MethodPost)
		ctx.Request.SetRequestURI("/t/acme/oauth2/token")
		ctx.Request.Header.SetContentType(fiber.MIMEApplicationForm)
		ctx.Request.SetBodyRaw(body)
		handle(&ctx)
		if ctx.Response.StatusCode() != fiber.StatusBadRequest {
			b.Fatalf("answer %d", ctx.Response.StatusCode())
		}
	}
}
