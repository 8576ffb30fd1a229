package node

// Config is what a node is built from: every setting of `clavis serve`
// but the listen address and the logging, which the command handles. The
// command reads it from flags and CLAVIS_* variables and validates it;
// New takes it as given.
type Config struct {
	// PublicURL is the base of every issuer URL, as callers reach the
	// server (no trailing slash).
	PublicURL string
	// DataDir holds the embedded database and the generated root token.
	DataDir string
	// DatabaseURL selects the store: empty for SQLite in DataDir, a
	// postgres:// or postgresql:// URL for PostgreSQL.
	DatabaseURL string
	// SQLiteFullSync makes every commit of the embedded SQLite wait for
	// the disk (sqlite.WithFullSync).
	SQLiteFullSync bool
	// RootToken is the platform operator's bearer token; empty means
	// "use or generate {DataDir}/root-token". A secret.
	RootToken string
	// MasterKey seals tenants' signing keys: base64 32-byte keys separated
	// by commas, the first sealing, all opening; empty means "use or
	// generate {DataDir}/master-key". A secret.
	MasterKey string
	// Migrate applies pending migrations when the store opens.
	Migrate bool
	// DevLogin serves the development login page to tenants without a
	// login application: anyone may log in as anyone. For `make run`.
	DevLogin bool
	// JWKSAllowPrivate lets the node fetch clients' jwks_uri key sets
	// from non-public addresses (loopback, private networks, ...).
	JWKSAllowPrivate bool
	// WebhooksAllowPrivate lets the node deliver webhooks to non-public
	// addresses (loopback, private networks, link-local, ...).
	WebhooksAllowPrivate bool
	// TrustedProxies are the proxies whose X-Forwarded-For header names
	// the client recorded with a write: comma-separated IP addresses and
	// CIDR prefixes (httpapi.ParseTrustedProxies); empty trusts none.
	TrustedProxies string
	// NATSURL selects the message bus: empty for the embedded server, a
	// nats:// or tls:// URL (comma-separated for a cluster) for an
	// external one.
	NATSURL string
	// NATSListen is the embedded server's loopback address for local
	// subscribers: host:port, host:0 for a free port, or off.
	NATSListen string
	// NATSCreds is a NATS credentials file (JWT and nkey seed) for an
	// external server.
	NATSCreds string
	// NATSTLSCA, NATSTLSCert and NATSTLSKey configure TLS to an external
	// server: a CA bundle to trust, and a client certificate and key.
	NATSTLSCA, NATSTLSCert, NATSTLSKey string
	// NATSPrefix prefixes every subject, stream and bucket name.
	NATSPrefix string
	// NATSReplicas is the replication factor of the streams (a cluster
	// wants 3).
	NATSReplicas int
	// GrantsMaxBytes is the most each bucket of the browser flows holds
	// (0: bucket.DefaultBucketBytes).
	GrantsMaxBytes int64
	// FlowRatePerAddress, FlowRatePerClient and RefreshRatePerClient
	// are how many authorization requests may store a flow each second
	// from one source address and for one client, and how many refreshes
	// one client may make, per node (0: the defaults of
	// oauth.DefaultFlowLimits and oauth.DefaultRefreshLimit). The bursts
	// follow: 30 seconds' worth per address, 10 per client.
	FlowRatePerAddress, FlowRatePerClient, RefreshRatePerClient float64
	// Version is the release, named in the NATS connection so that the
	// server's monitoring tells nodes apart.
	Version string
}
