package httpapi

import (
	"bytes"
	"net/http"

	"github.com/gofiber/fiber/v2"
)

// serveNetHTTP runs a net/http handler (fosite's endpoints are written
// for net/http) on a fiber request: the request is rebuilt from the
// method, URL, headers, body and remote address (remoteAddr: the
// source the server decides, which the endpoints' limits count by), and
// what the handler writes goes straight to fiber's response. This is all
// the endpoints need; fiber's general adaptor converts more, at a cost
// on every token request.
func serveNetHTTP(c *fiber.Ctx, remoteAddr string, h func(http.ResponseWriter, *http.Request)) error {
	req, err := http.NewRequestWithContext(c.UserContext(), c.Method(), c.BaseURL()+c.OriginalURL(), bytes.NewReader(c.Request().Body()))
	if err != nil {
		return err
	}
	c.Request().Header.VisitAll(func(k, v []byte) { req.Header.Add(string(k), string(v)) })
	req.RemoteAddr = remoteAddr
	h(&responseWriter{c: c, header: http.Header{}}, req)
	return nil
}

// responseWriter writes a net/http handler's answer to a fiber response.
type responseWriter struct {
	c      *fiber.Ctx
	header http.Header
	wrote  bool
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	for k, vs := range w.header {
		for i, v := range vs {
			if i == 0 {
				w.c.Set(k, v)
			} else {
				w.c.Append(k, v)
			}
		}
	}
	w.c.Status(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.c.Write(b)
}
