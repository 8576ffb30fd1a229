// Package bucket keeps, in NATS JetStream key-value buckets, what the
// OAuth provider (package oauth) remembers across nodes: the grants of
// the browser flows ([Grants]: flows, codes, grants and their refresh
// tokens, login sessions), the client assertions already used
// ([Assertions]) and the access tokens and grants revoked before their
// tokens expired ([Revocations]). Each type implements the interface of package oauth
// that bears its name and answers with that package's errors, so that
// the protocol code never sees JetStream.
//
// Every bucket is bounded (at most [DefaultBucketBytes] unless told
// otherwise): a full bucket refuses what is new until entries expire,
// and never takes the storage of NATS's other streams. The entries of
// [Grants] expire each at its own time on a NATS server with
// per-message TTLs (2.11 and later), so that what has expired costs
// neither the bucket's bytes nor, with the embedded server, the node's
// heap; on an older server they live their bucket's TTL. Buckets are
// opened, and created if need be, on first use: NATS may be away when a
// node starts.
package bucket

// DefaultBucketBytes is the most each bucket holds, unless told
// otherwise: a full bucket refuses what is new (the authorization
// endpoint answers 503) until its entries expire, and never takes the
// storage of NATS's other streams, the events' first.
const DefaultBucketBytes = 256 << 20

// maxSmallEntry bounds an entry of the revocation and assertion
// buckets: an expiry, or nothing.
const maxSmallEntry = 256
