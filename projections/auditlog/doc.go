// Package auditlog is the tenant's audit log: every event of a tenant, in
// store order, is a leaf of an append-only Merkle tree hashed as RFC 6962
// and RFC 9162 hash one (golang.org/x/mod/sumdb/tlog), whose heads are
// signed as C2SP tlog-checkpoints in the signed-note format
// (golang.org/x/mod/sumdb/note).
//
// A leaf commits to every byte of the stored event, secret hashes and
// sealed keys included, yet the auditor who recomputes it never sees
// them: the leaf is computed over the event as auditors read it (its data
// redacted, [domain.RedactHistory]) and the SHA-256 digest of the stored
// data bytes. See [Entry].
//
// The package holds what both sides share, the server that keeps the log
// and the auditor who checks it offline: the leaf encoding, the
// checkpoint format, the export format and the offline [Verify]. It also
// holds the server's side: the [Store] contract the read-model databases
// implement (projections/postgres, projections/sqlite; the suite in
// auditlogtest) and the [Log] over it, which logs every event of the
// event store exactly once in effect, whatever the number of nodes,
// signs checkpoints, and answers proofs and exports. Tree hashing and
// proofs are golang.org/x/mod/sumdb/tlog's.
package auditlog
