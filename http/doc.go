// Package httpapi is Clavis's HTTP surface: the fiber app, its middleware,
// the admin APIs, and the one error mapper that turns every failure into
// an RFC 9457 problem (application/problem+json).
//
// The folder is http/, as the project layout fixes, but the package is
// named httpapi so that it never clashes with net/http in an import list.
//
// The app serves:
//
//   - GET /healthz: 200 {"status":"ok"} while the process is alive.
//   - GET /readyz: 200 {"status":"ready"} when the event store answers a
//     Head within [Config.ReadyTimeout], else 503 with a problem of type
//     [ProblemNotReady].
//   - GET /openapi.json: the OpenAPI 3.1 description of every route
//     ([OpenAPI]), which a test holds to the router and the handlers.
//   - With [WithAdmin]: the platform API under /admin/tenants and each
//     tenant's admin API under /t/{tenant}/admin (clients, their secrets,
//     activation, cloning, history, export and import, and the tenant's
//     login application URL at /t/{tenant}/admin/login-app).
//
// Every other path answers 404 with a problem of type [ProblemNotFound]
// (405 with [ProblemMethodNotAllowed] when only the method is wrong).
// Every response carries an X-Request-Id: the caller's own when it is
// safe to echo (at most 128 characters of [A-Za-z0-9._-]), else a fresh
// random one. Each request is logged once, at debug level, with the keys
// request_id, method, route, path, status and duration; never a body, a
// query string or a header, so neither tokens nor secrets reach the log.
//
// # Admin APIs
//
// Both take "Authorization: Bearer <token>"; an [Authenticator] decides
// who the token is. [RootToken] accepts the platform operator's token
// (compared in constant time), which may call both APIs; tenant admin
// tokens will plug into the same seam and reach only their own tenant.
// No token, or one that is not accepted, answers 401 with a
// "WWW-Authenticate: Bearer" challenge; a token that may not call the
// route, 403.
//
// Writes are commands on the event store (package tenants). A write
// answers from the command's own result, after waiting up to
// [Admin.WaitTimeout] for the read model to reach the write's position
// ([Waiter]), so that the caller's next read sees it. Reads come from the
// read model, except a client's history and the export, which read the
// event store.
//
// Bodies are JSON, decoded strictly: an unknown member is refused (400
// unknown-field, naming it), as are malformed JSON and values of the wrong
// type (400 malformed-json); a body over [Config.BodyLimit] answers 413;
// a body that is not JSON, 415. Client JSON is the client's settings under
// their RFC 7591 names, flattened, with client_id, active, version,
// created_at, updated_at, cloned_from and secrets (by id and dates,
// never a hash). A client secret appears only in the answer that made it
// (client_secret, client_secret_id and client_secret_expires_at). Every
// client answer carries ETag: "<version>"; PATCH takes If-Match (412 on
// a mismatch) or a "version" member in the body (409 on a mismatch).
//
// Status codes of the domain's refusals: validation 422 (every field in
// errors); a taken code or slug 409 claim-taken or already-exists (with
// field); a concurrent change 409 conflict; the last usable secret 409
// last-secret; a suspended tenant's writes 403 tenant-suspended, because
// the tenant, not the client, refuses them (reads of a suspended tenant
// still work, so that operators can see what it holds); an unknown tenant
// or client, a deleted client, and another tenant's client 404 not-found,
// the same answer in every case, so existence never leaks across tenants.
//
// Build the app with [New] and run it with [Server.Serve] and
// [Server.Shutdown]. The command (cmd/clavis) and the component tests
// build it the same way.
package httpapi
