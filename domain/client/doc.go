// Package client holds the Client aggregate: one OAuth 2.0 / OpenID Connect
// client registration of a tenant, its [Settings], its secrets (as hashes)
// and whether it is active or deleted.
//
// # Commands and events
//
// A [Client] only changes by applying events. Commands ([Register],
// [Client.Update], [Client.AddSecret], [Client.RevokeSecret],
// [Client.RotateSecret], [Client.Activate], [Client.Deactivate],
// [Client.Clone], [Client.Delete]) check their input against the current
// state and return the events to append, without touching the aggregate;
// the caller appends them and then, if it keeps the aggregate, calls
// [Client.Apply]. [Replay] rebuilds a client from its history and [Decode]
// turns a stored event back into its struct. Commands that would change
// nothing return no events and no error. Every command on a client without
// history returns [domain.ErrNotFound], and on a deleted one
// [domain.ErrDeleted].
//
// Time, client ids and secret hashes are passed in. Times enter events in
// UTC, truncated to microseconds, the precision Postgres keeps.
//
// # Validation
//
// Bad input is reported as one *[domain.ValidationError] listing every
// problem, each addressed by its JSON path ("redirect_uris[2]",
// "metadata.team", "client_claims[0].type", "jwks.keys[1].d") with one of
// these codes, at most one per path:
//
//	required      a needed value is missing (or a flag that must be on is off)
//	invalid_value not an allowed value or shape, or not in normal form
//	invalid_uri   a URI or origin that is malformed
//	too_long      longer than allowed
//	too_many      more entries than allowed
//	duplicate     listed twice (after normalisation)
//	not_allowed   well-formed, but refused by a rule (client type, FAPI, scheme)
//	not_supported a setting this version stores but does not serve yet
//	conflict      contradicts another setting
//	unknown_scope not in the tenant's scope catalogue (or, for a
//	              scope_permissions key, not assigned to the client)
//	out_of_range  a number or time outside its bounds
//	reserved      a name the standards reserve
//
// # Client types
//
//	type          token_endpoint_auth_method         grants                           other rules
//	public        none (only)                        not client_credentials           require_pkce on, allow_plain_pkce off, no secrets
//	confidential  any but none                       any                              -
//	m2m           any but none                       client_credentials only          no redirect or post-logout URIs, no response types
//
// # Authentication methods
//
//	method                        needs
//	none                          a public client
//	client_secret_basic           a usable secret (not revoked, not expired)
//	client_secret_post            a usable secret
//	client_secret_jwt             a usable secret
//	private_key_jwt               jwks or jwks_uri
//	self_signed_tls_client_auth   not served: refused (not_supported)
//	tls_client_auth               not served: refused (not_supported)
//
// # Stored but not served
//
// The mutual-TLS auth methods and tls_client_auth_subject_dn,
// frontchannel_logout_uri, backchannel_logout_uri and
// identity_provider_restrictions are part of the model, but nothing acts
// on them yet: a command that sets one is refused with not_supported. A
// value the client's history already holds replays, and an update that
// leaves it as it is passes.
//
// # Grant and response types
//
// Accepted combinations (a client may register several response types;
// each must be allowed by its grants):
//
//	response type          needs grant types                       also needs
//	code                   authorization_code                      -
//	id_token               implicit                                -
//	token                  implicit                                allow_access_tokens_via_browser
//	id_token token         implicit                                allow_access_tokens_via_browser
//	code id_token          authorization_code and implicit         -
//	code token             authorization_code and implicit         allow_access_tokens_via_browser
//	code id_token token    authorization_code and implicit         allow_access_tokens_via_browser
//
// and in the other direction:
//
//   - authorization_code or implicit needs at least one redirect URI and at
//     least one response type;
//   - response types need authorization_code or implicit (per the table);
//   - implicit is only ever allowed when listed: "code id_token" never
//     implies it;
//   - refresh_token needs authorization_code;
//   - client_credentials stands alone for m2m clients and may be added to
//     confidential ones;
//   - allow_offline_access needs refresh_token.
//
// Response type values are order-insensitive within one value:
// "id_token code" is stored as "code id_token".
//
// # FAPI 2.0
//
// With fapi on (FAPI 2.0 Security Profile): the type is not public; the
// auth method is private_key_jwt, tls_client_auth or
// self_signed_tls_client_auth; require_pkce is on and allow_plain_pkce off;
// the only response type is code and implicit is not allowed; redirect and
// post-logout redirect URIs and CORS origins are https (no loopback http,
// no private-use schemes).
//
// # URIs
//
// Redirect and post-logout redirect URIs are absolute, at most 2000 ASCII
// characters, without fragment, user information, white space, backslash
// or '*' anywhere. They use https; http only on a loopback host
// (localhost, 127.0.0.0/8, [::1]); or, for native apps, a private-use
// scheme that is a reverse domain name, containing a '.' as RFC 8252 §7.1
// requires (com.example.app:/callback). Requiring the dot also refuses
// javascript:, data:, file: and vbscript:. Front- and back-channel logout
// URIs follow the same rules without private-use schemes; jwks_uri is
// https; logo, policy, terms and client URIs are http or https and may have
// a fragment. CORS origins are stored as scheme://host[:port] (http or
// https, lowercase, default port and a bare trailing "/" removed).
//
// # Scopes
//
// Default and optional scopes are valid scope tokens, disjoint, and in the
// tenant's [scope.Catalogue] (the client's own API scopes count).
// scope_permissions keys are assigned scopes and its values a subset of
// create, read, update, delete. api_scopes are suffixes matching
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (a scope token without ':'), which the
// catalogue holds as "{code}:{suffix}".
//
// # Secrets
//
// A client holds at most [MaxSecrets] secrets, expired ones included until
// they are revoked. Secret ids are never reused within a client. Only the
// caller's hash of a secret is ever seen by this package.
//
// The pairwise subject salt is secret too: [Settings.Redact] and [Redact],
// at every level, show [Redacted] in its place. [Redacted] sent back in an
// update keeps the salt; a clone takes a salt of its own.
//
// # State
//
// [Client.State] is the client as data, and [FromState] the client again:
// read models keep a client's State and apply later events with
// [Client.Apply], so what an event does to a client is said only here.
package client
