package httpapi

import (
	"regexp"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// This file gives the external tests what only they need.

var fiberParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// openAPIPath writes fiber's /t/:tenant/… as OpenAPI's /t/{tenant}/….
func openAPIPath(p string) string { return fiberParam.ReplaceAllString(p, "{$1}") }

// Routes lists the routes the app serves, "METHOD /path/{param}", sorted,
// path parameters written as in OpenAPI. The HEAD route fiber adds for
// every GET is left out. A test compares the list with openapi.json.
func (s *Server) Routes() []string {
	seen := map[string]bool{}
	for _, r := range s.app.GetRoutes(true) {
		// The console's pages are for people, not the API: docs/console.md
		// describes them.
		if r.Method == fiber.MethodHead || strings.HasPrefix(r.Path, "/console") || strings.HasPrefix(r.Path, "/t/:tenant/console") {
			continue
		}
		seen[r.Method+" "+openAPIPath(r.Path)] = true
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Get adds a route, for a test of what every route gets.
func (s *Server) Get(path string, h fiber.Handler) { s.app.Get(path, h) }
