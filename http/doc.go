// Package httpapi is Clavis's HTTP surface: the fiber app, its middleware,
// and the one error mapper that turns every failure into an RFC 9457
// problem (application/problem+json).
//
// The folder is http/, as the project layout fixes, but the package is
// named httpapi so that it never clashes with net/http in an import list.
//
// The app serves, for now:
//
//   - GET /healthz: 200 {"status":"ok"} while the process is alive.
//   - GET /readyz: 200 {"status":"ready"} when the event store answers a
//     Head within [Config.ReadyTimeout], else 503 with a problem of type
//     [ProblemNotReady].
//
// Every other path answers 404 with a problem of type [ProblemNotFound]
// (405 with [ProblemMethodNotAllowed] when only the method is wrong).
// Every response carries an X-Request-Id: the caller's own when it is
// safe to echo (at most 128 characters of [A-Za-z0-9._-]), else a fresh
// random one. Each request is logged once, at debug level, with the keys
// request_id, method, route, path, status and duration.
//
// Build the app with [New] and run it with [Server.Serve] and
// [Server.Shutdown]. The command (cmd/clavis) and the component tests
// build it the same way.
package httpapi
