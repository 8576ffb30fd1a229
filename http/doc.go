// Package httpapi is Clavis's HTTP surface: the fiber app, its middleware,
// the admin APIs, each tenant's OAuth 2.0 and OpenID Connect endpoints
// (the protocol itself is package oauth), and the one error mapper.
//
// The folder is http/, but the package is named httpapi so that it never
// clashes with net/http in an import list.
//
// Every route, parameter and body is described by the OpenAPI 3.1
// document the app serves at GET /openapi.json ([OpenAPI]); a test holds
// it to the router and to every handler's requests and answers, so the
// document is the contract. docs/admin-api.md and docs/oauth.md say the
// same for people.
//
// What the package promises, whatever the route:
//
//   - Every failure is answered by one mapper: an RFC 9457 problem
//     (application/problem+json, a stable type per cause) on the admin
//     API, an RFC 6749 error on the OAuth endpoints, a page where a browser
//     must not be redirected. No answer carries a secret, a stack or
//     another tenant's existence: another tenant's client is "not found",
//     like a missing one.
//   - Bad input changes nothing and costs little: bodies are bounded
//     ([Config.BodyLimit] on the admin API, 32 KiB and 64 parameters on the
//     OAuth endpoints) and refused before they are parsed when too big;
//     JSON is decoded strictly (unknown or miscased members, values of the
//     wrong type, invalid UTF-8 and lone surrogates are refused, naming the
//     member); a query
//     parameter a route does not declare is refused.
//   - Writes are commands on the event store (package tenants) and answer
//     after the read model has reached them (up to [Admin.WaitTimeout],
//     through a [Waiter]), so that the caller's next read on the same
//     node sees its write. Reads come from the read model; a client's
//     history and the export read the event store.
//   - The admin APIs take "Authorization: Bearer <token>", decided by an
//     [Authenticator]: the platform operator's root token, or an access
//     token of the tenant's own admin client, which reaches that tenant
//     only and never grants more platform authority than it holds.
//   - Every response carries an X-Request-Id (the caller's own when it is
//     safe to echo, else a fresh one). Each request is logged once, at
//     debug level, without bodies, query strings or headers, so neither
//     tokens nor secrets reach the log.
//   - GET /healthz answers while the process lives; GET /readyz only while
//     the event store answers within [Config.ReadyTimeout] (else 503,
//     [ProblemNotReady]).
//
// Build the app with [New] and run it with [Server.Serve] and
// [Server.Shutdown]; `clavis serve` and the component tests build it the
// same way.
package httpapi
