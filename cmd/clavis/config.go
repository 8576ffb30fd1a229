package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/clavisiam/clavis/eventstore/subject"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// Defaults of the settings that have one.
const (
	defaultAddr      = "127.0.0.1:8080"
	defaultDataDir   = "./data"
	defaultLogFormat = "auto"
	defaultLogLevel  = "info"
	// defaultNATSListen is where the embedded NATS server takes local
	// subscribers: not NATS's own 4222, so it never collides with a NATS
	// server already running there.
	defaultNATSListen = "127.0.0.1:4223"
)

// Config is every setting of the clavis command. Only this package reads
// flags and CLAVIS_* variables; everything else is handed what it needs.
// What the node is built from is the embedded node.Config.
type Config struct {
	node.Config
	// Addr is the HTTP listen address, host:port.
	Addr string
	// LogFormat is auto, json or text.
	LogFormat string
	// LogLevel is debug, info, warn or error.
	LogLevel string
}

// defaultConfig is the configuration with nothing set: the embedded
// default. PublicURL is derived from Addr later.
func defaultConfig() Config {
	return Config{
		Config: node.Config{
			DataDir:      defaultDataDir,
			Migrate:      true,
			NATSListen:   defaultNATSListen,
			NATSPrefix:   subject.DefaultPrefix,
			NATSReplicas: 1,
		},
		Addr:      defaultAddr,
		LogFormat: defaultLogFormat,
		LogLevel:  defaultLogLevel,
	}
}

// setting is one flag and the environment variable behind it.
type setting struct {
	name  string // the flag; the variable is CLAVIS_ + NAME with _ for -
	arg   string // placeholder in help
	usage string
	def   string // the default, as help shows it
	bind  func(fs *flag.FlagSet, c *Config, name string)
}

// envName is the variable read for the flag name.
func envName(flagName string) string {
	return "CLAVIS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func stringSetting(field func(*Config) *string) func(*flag.FlagSet, *Config, string) {
	return func(fs *flag.FlagSet, c *Config, name string) {
		p := field(c)
		fs.StringVar(p, name, *p, "")
	}
}

func floatSetting(field func(*Config) *float64) func(*flag.FlagSet, *Config, string) {
	return func(fs *flag.FlagSet, c *Config, name string) {
		p := field(c)
		fs.Float64Var(p, name, *p, "")
	}
}

// settings lists every setting, in the order help shows them.
var settings = []setting{
	{
		name: "addr", arg: "HOST:PORT", def: defaultAddr,
		usage: "address the HTTP server listens on (port 0 takes a free port)",
		bind:  stringSetting(func(c *Config) *string { return &c.Addr }),
	},
	{
		name: "public-url", arg: "URL", def: `"http://" + addr`,
		usage: "base URL callers reach the server at; issuers are {public-url}/t/{tenant}",
		bind:  stringSetting(func(c *Config) *string { return &c.PublicURL }),
	},
	{
		name: "data-dir", arg: "DIR", def: defaultDataDir,
		usage: "directory for the embedded database (clavis.db) and the generated root token (created 0700)",
		bind:  stringSetting(func(c *Config) *string { return &c.DataDir }),
	},
	{
		name: "database-url", arg: "URL", def: "empty: SQLite at {data-dir}/clavis.db",
		usage: "event store: empty for embedded SQLite, postgres://… or postgresql://… for PostgreSQL (pool size: pool_max_conns in the URL, default 16)",
		bind:  stringSetting(func(c *Config) *string { return &c.DatabaseURL }),
	},
	{
		name: "sqlite-full-sync", arg: "BOOL", def: "false",
		usage: "make every commit of the embedded SQLite wait for the disk (synchronous=FULL), so that not even a power cut loses a committed event, at the cost of append throughput; by default a crash of the process loses nothing and only a power cut can take the last commits",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.BoolVar(&c.SQLiteFullSync, name, c.SQLiteFullSync, "")
		},
	},
	{
		name: "root-token", arg: "TOKEN", def: "empty: read or generate {data-dir}/root-token",
		usage: "platform operator bearer token, at least 32 characters; when empty, serve reuses {data-dir}/root-token or writes a new random one there (mode 0600)",
		bind:  stringSetting(func(c *Config) *string { return &c.RootToken }),
	},
	{
		name: "master-key", arg: "KEYS", def: "empty: read or generate {data-dir}/master-key",
		usage: "keys that encrypt tenants' signing keys at rest: base64 of 32 random bytes, several separated by commas (the first encrypts, all decrypt); every node of a cluster needs the same; when empty, serve reuses {data-dir}/master-key or writes a new random one there (mode 0600)",
		bind:  stringSetting(func(c *Config) *string { return &c.MasterKey }),
	},
	{
		name: "migrate", arg: "BOOL", def: "true",
		usage: "apply pending database migrations on start",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.BoolVar(&c.Migrate, name, c.Migrate, "")
		},
	},
	{
		name: "dev-login", arg: "BOOL", def: "false",
		usage: "serve a development login page, where anyone may sign in as anyone, to tenants without a login application (make run sets it; never in production)",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.BoolVar(&c.DevLogin, name, c.DevLogin, "")
		},
	},
	{
		name: "jwks-allow-private", arg: "BOOL", def: "false",
		usage: "fetch the key sets private_key_jwt clients publish at their jwks_uri from loopback, private and other non-public addresses too (by default only public addresses are fetched, so that registering a client cannot make the node call its own network)",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.BoolVar(&c.JWKSAllowPrivate, name, c.JWKSAllowPrivate, "")
		},
	},
	{
		name: "webhooks-allow-private", arg: "BOOL", def: "false",
		usage: "deliver webhooks to loopback, private, link-local and other non-public addresses too (by default only public addresses are called, checked on the address actually dialled, so that creating a webhook endpoint cannot make the node call its own network)",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.BoolVar(&c.WebhooksAllowPrivate, name, c.WebhooksAllowPrivate, "")
		},
	},
	{
		name: "trusted-proxies", arg: "LIST", def: "empty: trust none",
		usage: "IP addresses and CIDR prefixes, comma-separated, of the reverse proxies in front of the node: from them, and only from them, X-Forwarded-For names the client whose address every change records (the right-most address not itself a trusted proxy)",
		bind:  stringSetting(func(c *Config) *string { return &c.TrustedProxies }),
	},
	{
		name: "nats-url", arg: "URL", def: "empty: an embedded NATS server with JetStream in {data-dir}/nats",
		usage: "message bus: empty for the embedded server, nats://… or tls://… (comma-separated for a cluster) for an external one",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSURL }),
	},
	{
		name: "nats-listen", arg: "HOST:PORT", def: defaultNATSListen,
		usage: "where the embedded NATS server takes local subscribers: host:port, host:0 for a free port, or off",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSListen }),
	},
	{
		name: "nats-creds", arg: "FILE", def: "none",
		usage: "NATS credentials file (JWT and nkey seed) for an external server",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSCreds }),
	},
	{
		name: "nats-tls-ca", arg: "FILE", def: "the system roots",
		usage: "CA bundle to trust for TLS to an external NATS server",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSTLSCA }),
	},
	{
		name: "nats-tls-cert", arg: "FILE", def: "none",
		usage: "client certificate for TLS to an external NATS server (with --nats-tls-key)",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSTLSCert }),
	},
	{
		name: "nats-tls-key", arg: "FILE", def: "none",
		usage: "client key for TLS to an external NATS server (with --nats-tls-cert)",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSTLSKey }),
	},
	{
		name: "nats-prefix", arg: "PREFIX", def: subject.DefaultPrefix,
		usage: "prefix of every NATS subject, stream and bucket name ({prefix}.events.{tenant}.{aggregate}.{event})",
		bind:  stringSetting(func(c *Config) *string { return &c.NATSPrefix }),
	},
	{
		name: "nats-replicas", arg: "N", def: "1",
		usage: "replicas of the JetStream streams (3 on a cluster)",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.IntVar(&c.NATSReplicas, name, c.NATSReplicas, "")
		},
	},
	{
		name: "grants-max-bytes", arg: "BYTES", def: "268435456 (256 MiB)",
		usage: "most bytes each bucket of the browser flows holds ({prefix}_REQUESTS, _FLOWS, _TOKENS, _GRANTS); a full one refuses new entries until entries expire",
		bind: func(fs *flag.FlagSet, c *Config, name string) {
			fs.Int64Var(&c.GrantsMaxBytes, name, c.GrantsMaxBytes, "")
		},
	},
	{
		name: "flow-rate-per-address", arg: "N", def: "2",
		usage: "authorization requests that may start a flow each second from one source address, per node (30 seconds' worth at once); beyond, 429",
		bind:  floatSetting(func(c *Config) *float64 { return &c.FlowRatePerAddress }),
	},
	{
		name: "flow-rate-per-client", arg: "N", def: "20",
		usage: "authorization requests that may start a flow each second for one client, per node (10 seconds' worth at once); beyond, 429",
		bind:  floatSetting(func(c *Config) *float64 { return &c.FlowRatePerClient }),
	},
	{
		name: "refresh-rate-per-client", arg: "N", def: "10",
		usage: "refresh grants one client may make each second, per node (10 seconds' worth at once); beyond, 429",
		bind:  floatSetting(func(c *Config) *float64 { return &c.RefreshRatePerClient }),
	},
	{
		name: "log-format", arg: "FORMAT", def: defaultLogFormat,
		usage: "log format: auto (text when stderr is a terminal, else json), json or text",
		bind:  stringSetting(func(c *Config) *string { return &c.LogFormat }),
	},
	{
		name: "log-level", arg: "LEVEL", def: defaultLogLevel,
		usage: "least severe level logged: debug, info, warn or error (debug adds one line per HTTP request)",
		bind:  stringSetting(func(c *Config) *string { return &c.LogLevel }),
	},
}

func lookupSetting(name string) setting {
	for _, s := range settings {
		if s.name == name {
			return s
		}
	}
	panic("clavis: no setting " + name)
}

// loadConfig defines the named settings on fs, parses args, and then
// reads the variable of each setting whose flag was not given: a flag
// wins over its variable, and an empty variable counts as unset. It
// returns flag.ErrHelp when args ask for help. It does not validate.
func loadConfig(fs *flag.FlagSet, args []string, getenv func(string) string, names []string) (Config, error) {
	cfg := defaultConfig()
	for _, name := range names {
		lookupSetting(name).bind(fs, &cfg, name)
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	for _, name := range names {
		if given[name] {
			continue
		}
		v := getenv(envName(name))
		if v == "" {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", envName(name), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.PublicURL == "" {
		cfg.PublicURL = defaultPublicURL(cfg.Addr)
	}
	return cfg, nil
}

// defaultPublicURL is "http://" + addr, with localhost for a host that
// only means "every interface" (":8080", "0.0.0.0:8080", "[::]:8080"),
// which no caller can reach.
func defaultPublicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// Validate reports every problem with c at once, one joined error per
// setting, each naming the flag and its variable. No error quotes the
// root token or a database password.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("--%s (%s): %s", name, envName(name), fmt.Sprintf(format, args...)))
	}

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		bad("addr", "%q is not host:port", c.Addr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		bad("addr", "port %q is not a number from 0 to 65535", port)
	}

	if u, err := url.Parse(c.PublicURL); err != nil {
		bad("public-url", "%q is not a URL", c.PublicURL)
	} else {
		switch {
		case u.Scheme != "http" && u.Scheme != "https":
			bad("public-url", "%q must be an absolute http:// or https:// URL", c.PublicURL)
		case u.Host == "" || u.Hostname() == "":
			bad("public-url", "%q has no host", c.PublicURL)
		case u.User != nil:
			bad("public-url", "must not carry user information")
		case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(c.PublicURL, "?#"):
			bad("public-url", "%q must not have a query or fragment (it is the base of issuer identifiers)", c.PublicURL)
		default:
			// It also names the tenants' audit keys.
			if err := tenants.CheckPublicURL(c.PublicURL); err != nil {
				bad("public-url", "%v", err)
			}
		}
	}

	if c.DataDir == "" {
		bad("data-dir", "must not be empty")
	}

	if _, err := node.StoreKind(c.DatabaseURL); err != nil {
		bad("database-url", "%v", err)
	}

	if c.MasterKey != "" {
		if _, err := signing.ParseKeyring(c.MasterKey); err != nil {
			bad("master-key", "%v", strings.TrimPrefix(err.Error(), "signing: "))
		}
	}

	if c.RootToken != "" {
		if n := len(c.RootToken); n < node.MinRootTokenLen {
			bad("root-token", "has %d characters, at least %d are needed", n, node.MinRootTokenLen)
		}
		if strings.IndexFunc(c.RootToken, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			bad("root-token", "must be printable ASCII without spaces")
		}
	}

	if _, err := httpapi.ParseTrustedProxies(c.TrustedProxies); err != nil {
		bad("trusted-proxies", "%v", err)
	}

	if c.NATSURL != "" {
		for _, u := range strings.Split(c.NATSURL, ",") {
			pu, err := url.Parse(strings.TrimSpace(u))
			if err != nil || pu.Host == "" {
				bad("nats-url", "%q is not a nats:// or tls:// URL", redactURL(strings.TrimSpace(u)))
			} else if pu.Scheme != "nats" && pu.Scheme != "tls" {
				bad("nats-url", "scheme %q is not nats or tls", pu.Scheme)
			}
		}
	} else if c.NATSCreds != "" || c.NATSTLSCA != "" || c.NATSTLSCert != "" || c.NATSTLSKey != "" {
		bad("nats-url", "credentials and TLS files only apply to an external NATS server; set --nats-url")
	}
	if c.NATSListen != "off" {
		if _, port, err := net.SplitHostPort(c.NATSListen); err != nil {
			bad("nats-listen", "%q is not host:port or off", c.NATSListen)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			bad("nats-listen", "port %q is not a number from 0 to 65535", port)
		}
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		bad("nats-tls-cert", "a client certificate and its key go together (--nats-tls-cert and --nats-tls-key)")
	}
	if _, err := subject.NewNames(c.NATSPrefix); err != nil {
		bad("nats-prefix", "%q must be lowercase letters, digits, - or _, starting with a letter, at most 32", c.NATSPrefix)
	}
	if c.NATSReplicas < 1 || c.NATSReplicas > 5 {
		bad("nats-replicas", "%d is not from 1 to 5", c.NATSReplicas)
	}
	if c.GrantsMaxBytes != 0 && c.GrantsMaxBytes < minGrantsBytes {
		bad("grants-max-bytes", "%d is less than %d (1 MiB)", c.GrantsMaxBytes, minGrantsBytes)
	}
	for _, r := range []struct {
		name string
		rate float64
	}{{"flow-rate-per-address", c.FlowRatePerAddress}, {"flow-rate-per-client", c.FlowRatePerClient}, {"refresh-rate-per-client", c.RefreshRatePerClient}} {
		if !(r.rate >= 0 && r.rate <= maxRate) { // NaN too
			bad(r.name, "%v is not a rate from 0 (the default) to %d a second", r.rate, maxRate)
		}
	}

	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		bad("log-format", "%q is not auto, json or text", c.LogFormat)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("log-level", "%v", err)
	}
	return errors.Join(errs...)
}

// minGrantsBytes is the least a bucket of the browser flows may hold: a
// few of its largest entries.
const minGrantsBytes = 1 << 20

// maxRate bounds the rates of the flow and refresh limits: a burst of
// thirty seconds' worth must stay a modest count of tokens.
const maxRate = 1_000_000

// parseLevel reads debug, info, warn or error.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}

// redacted stands in for a secret in logs and in String output.
const redacted = "[redacted]"

// LogValue lets c be logged whole: the root token is redacted, and so is
// a password in the database URL.
func (c Config) LogValue() slog.Value {
	token, master := "", ""
	if c.RootToken != "" {
		token = redacted
	}
	if c.MasterKey != "" {
		master = redacted
	}
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("public_url", c.PublicURL),
		slog.String("data_dir", c.DataDir),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("root_token", token),
		slog.String("master_key", master),
		slog.Bool("migrate", c.Migrate),
		slog.Bool("dev_login", c.DevLogin),
		slog.Bool("jwks_allow_private", c.JWKSAllowPrivate),
		slog.Bool("webhooks_allow_private", c.WebhooksAllowPrivate),
		slog.String("trusted_proxies", c.TrustedProxies),
		slog.String("nats_url", redactURL(c.NATSURL)),
		slog.String("nats_listen", c.NATSListen),
		slog.String("nats_prefix", c.NATSPrefix),
		slog.String("log_format", c.LogFormat),
		slog.String("log_level", c.LogLevel),
	)
}

// String prints c as LogValue does, secrets redacted.
func (c Config) String() string { return c.LogValue().String() }

// redactURL hides the password of a database URL, in its user
// information or in a password parameter.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return redacted
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
