// Package tenants holds the command services of Clavis's aggregates: one
// for tenants ([Tenants]) and one for the clients of a tenant ([Clients]).
// Each command loads its aggregate from the event store, decides with the
// domain, and appends the decided events with optimistic concurrency
// ([aggregate.Execute]); nothing is appended when the domain refuses.
//
// Every command takes the context first and a [Request] whose fields become
// the events' metadata (who, in answer to what, and why), and returns the
// resulting state, built from the command's own result rather than from a
// read model, together with the position of the last appended event. A
// caller that wants read-your-writes from the projections waits for that
// position (see projections.Projector.WaitFor) and may answer from the
// returned state meanwhile.
//
// # Streams
//
// A tenant's events live in the stream {slug, "tenant", slug} ([TenantStream]),
// a client's in {tenant, "client", client_id} ([ClientStream]). A client
// id looked up under another tenant is simply an empty stream: across
// tenants every answer is "not found".
//
// # Secrets
//
// Client secrets are generated here, never accepted from callers, in the
// format of package domain/client/secret: 256 bits from crypto/rand,
// written "cls_" + base64url so that secret scanners recognise a leaked
// one. Only its "sha256$…" hash is ever handed to the domain and stored —
// or, for a client authenticating with client_secret_jwt, whose secret
// the server must read back to check a MAC, the secret sealed by the
// [WithSecretSealer] sealer ("sealed$…"); the plaintext is returned once,
// in a [Secret] whose String and LogValue redact it, and is never logged,
// put in an error or in an event. The token endpoint verifies secrets
// with that package too, without this one.
//
// # Audit keys
//
// Every tenant has an Ed25519 key that signs its audit log's checkpoints,
// as a signed note (golang.org/x/mod/sumdb/note), named after the log's
// origin ([Tenants.AuditKeyName]). [Tenants.Create] adds the first in the
// tenant's own append, sealed by the [KeyMaker] like the signing keys;
// [Tenants.RotateAuditKey] adds a new one and [Tenants.EnsureAuditKey]
// gives one to a tenant created before audit keys existed.
// [Tenants.AuditSigner] opens the active key (once per key) and
// [Tenants.AuditVerifiers] lists the public verifier keys.
//
// # Consistency
//
// A tenant and its clients are separate streams, which the store cannot
// append to atomically. So:
//
//   - [Tenants.Create] appends the tenant, then its admin client. When the
//     second append fails the tenant exists without an admin client; the
//     error ([*IncompleteTenantError]) says so, and an operator creates one
//     through the tenant admin API with the root token. A retried Create
//     answers "already exists" ([*AlreadyExistsError]) and never creates
//     a second tenant: the slug is claimed in the tenant's append.
//   - Client commands read the tenant's own stream (not a read model) to
//     refuse writes to an unknown or suspended tenant. A suspension that
//     commits while a client command runs does not stop that command.
//   - [Clients.Import] validates the whole package before it writes
//     anything, then appends client by client; a failure midway
//     ([*ImportError]) reports what was already applied, and importing
//     the same package again completes it (imports are idempotent).
package tenants
