// Package tenant holds the Tenant aggregate: one customer organisation of
// the platform, identified by an immutable slug that appears in its issuer
// URL ("https://id.example.com/{slug}"), together with the keys it signs
// tokens with.
//
// Like every Clavis aggregate, a [Tenant] only changes by applying events.
// Commands ([Create], [Tenant.Rename], [Tenant.SetLoginURL],
// [Tenant.Suspend], [Tenant.Resume], [Tenant.RotateKey]) validate their
// input against the current state and return the events to append without
// touching the aggregate; the caller appends them to the event store and
// then, if it keeps the aggregate, calls [Tenant.Apply]. [Replay] rebuilds a tenant from its stored history
// and [Decode] turns a stored event back into its struct.
//
// Commands that would not change anything (suspending a suspended tenant,
// resuming an active one, renaming to the current name, setting the current
// login URL) return no events and no error, so that retried requests are
// harmless.
//
// # Signing keys
//
// The caller generates each key pair and seals (encrypts) the private key;
// the domain sees only the public JWK and the sealed private key as an
// opaque string, never the private key in the clear. [Create] gives a
// tenant its first key, signing at once. [Tenant.RotateKey] adds a key that
// is published at once and signs after a lead time, and retires every key
// that signs or will sign: each stops signing when the new key starts and
// stays published for the longest token lifetime after that, so that every
// token it signed can still be verified. Keys are never removed and key ids
// never reused. [Tenant.SigningKey] says which key signs at a given time
// and [Tenant.PublishedKeys] which keys belong in the JWKS.
//
// # Audit keys
//
// A tenant's audit log is signed with Ed25519 keys in the signed-note
// format of golang.org/x/mod/sumdb/note. [Tenant.AddAuditKey] adds one,
// given as its name (the log's origin), its public verifier key and its
// signer key sealed by the caller; the newest key signs, and older ones
// stay so that what they signed keeps verifying. Key hashes are never
// reused within a tenant.
//
// # Validation
//
// Invalid input is reported as a *[domain.ValidationError] whose field paths
// are the JSON names "slug", "name", "reason", "login_url",
// "signing_key.kid", "signing_key.alg", "signing_key.public_jwk",
// "signing_key.sealed_private_key", "lead", "token_lifetime",
// "audit_key.name", "audit_key.verifier" and "audit_key.sealed", with these
// codes, at most one per field:
//
//	required       an empty value
//	too_long       longer than allowed
//	invalid_value  not the allowed shape (slug or kid syntax, control
//	               characters, an unknown alg, a JWK that is not an object)
//	invalid_uri    a login URL that is not an absolute URL with a host, or
//	               has user information, a fragment, spaces or non-ASCII
//	reserved       a slug the platform keeps for its own routes
//	duplicate      a kid or audit key hash the tenant already has or had
//	not_allowed    private or symmetric key material in a public JWK; a
//	               login URL that is not https (http only on localhost,
//	               127.0.0.1 or [::1])
//	out_of_range   a negative lead or a token lifetime that is not positive
package tenant
