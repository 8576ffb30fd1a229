package main

import (
	"flag"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/internal/node"
)

// envMap is a getenv over a fixed map, so tests can run in parallel.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return loadConfig(fs, args, envMap(env), allSettings)
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	def := defaultConfig()
	def.PublicURL = "http://127.0.0.1:8080"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(c *Config) // edits the defaults into the expected config
	}{
		{name: "defaults", want: func(*Config) {}},
		{
			name: "every variable",
			env: map[string]string{
				"CLAVIS_ADDR": "127.0.0.1:9000", "CLAVIS_PUBLIC_URL": "https://id.example.com",
				"CLAVIS_DATA_DIR": "/var/lib/clavis", "CLAVIS_DATABASE_URL": "postgres://db/clavis",
				"CLAVIS_ROOT_TOKEN": "tok-from-env-0123456789abcdef0123456789", "CLAVIS_MIGRATE": "false",
				"CLAVIS_LOG_FORMAT": "text", "CLAVIS_LOG_LEVEL": "debug",
			},
			want: func(c *Config) {
				*c = Config{Addr: "127.0.0.1:9000", Config: node.Config{PublicURL: "https://id.example.com", DataDir: "/var/lib/clavis",
					DatabaseURL: "postgres://db/clavis", RootToken: "tok-from-env-0123456789abcdef0123456789",
					Migrate: false, NATSListen: defaultNATSListen, NATSPrefix: "clavis", NATSReplicas: 1},
					LogFormat: "text", LogLevel: "debug"}
			},
		},
		{
			name: "every flag",
			args: []string{"--addr", "127.0.0.1:9001", "--public-url", "https://a.example", "--data-dir", "d",
				"--database-url", "postgresql://x/y", "--root-token", "tok-from-flag-0123456789abcdef012345678",
				"--migrate=false", "--log-format", "json", "-log-level", "warn"},
			want: func(c *Config) {
				*c = Config{Addr: "127.0.0.1:9001", Config: node.Config{PublicURL: "https://a.example", DataDir: "d",
					DatabaseURL: "postgresql://x/y", RootToken: "tok-from-flag-0123456789abcdef012345678",
					Migrate: false, NATSListen: defaultNATSListen, NATSPrefix: "clavis", NATSReplicas: 1},
					LogFormat: "json", LogLevel: "warn"}
			},
		},
		{
			name: "nats settings",
			args: []string{"--nats-url", "nats://a:4222,nats://b:4222", "--nats-prefix", "acme", "--nats-replicas", "3",
				"--nats-creds", "/etc/clavis/nats.creds"},
			env: map[string]string{"CLAVIS_NATS_LISTEN": "off", "CLAVIS_NATS_TLS_CA": "ca.pem"},
			want: func(c *Config) {
				c.NATSURL, c.NATSPrefix, c.NATSReplicas, c.NATSCreds = "nats://a:4222,nats://b:4222", "acme", 3, "/etc/clavis/nats.creds"
				c.NATSListen, c.NATSTLSCA = "off", "ca.pem"
			},
		},
		{
			name: "sqlite full sync",
			env:  map[string]string{"CLAVIS_SQLITE_FULL_SYNC": "true"},
			want: func(c *Config) { c.SQLiteFullSync = true },
		},
		{
			name: "sqlite full sync flag",
			args: []string{"--sqlite-full-sync"},
			want: func(c *Config) { c.SQLiteFullSync = true },
		},
		{
			name: "flag wins over variable",
			args: []string{"--addr", "127.0.0.1:1", "--migrate=true", "--log-level", "error"},
			env:  map[string]string{"CLAVIS_ADDR": "127.0.0.1:2", "CLAVIS_MIGRATE": "false", "CLAVIS_LOG_LEVEL": "debug", "CLAVIS_DATA_DIR": "from-env"},
			want: func(c *Config) {
				c.Addr, c.PublicURL, c.LogLevel, c.DataDir = "127.0.0.1:1", "http://127.0.0.1:1", "error", "from-env"
			},
		},
		{
			name: "empty variable is unset",
			env:  map[string]string{"CLAVIS_ADDR": "", "CLAVIS_MIGRATE": ""},
			want: func(*Config) {},
		},
		{
			name: "public url follows addr",
			env:  map[string]string{"CLAVIS_ADDR": "localhost:7000"},
			want: func(c *Config) { c.Addr, c.PublicURL = "localhost:7000", "http://localhost:7000" },
		},
		{
			name: "public url for every interface is localhost",
			args: []string{"--addr", ":7001"},
			want: func(c *Config) { c.Addr, c.PublicURL = ":7001", "http://localhost:7001" },
		},
		{
			name: "public url for an IPv6 address",
			args: []string{"--addr", "[::1]:7002"},
			want: func(c *Config) { c.Addr, c.PublicURL = "[::1]:7002", "http://[::1]:7002" },
		},
		{
			name: "public url loses its trailing slash",
			args: []string{"--public-url", "https://id.example.com/base/"},
			want: func(c *Config) { c.PublicURL = "https://id.example.com/base" },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			want := def
			tt.want(&want)
			if got != want {
				t.Errorf("config =\n  %#v\nwant\n  %#v", got, want)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{name: "unknown flag", args: []string{"--no-such-flag", "x"}, want: "not defined"},
		{name: "bad boolean variable", env: map[string]string{"CLAVIS_MIGRATE": "perhaps"}, want: "CLAVIS_MIGRATE"},
		{name: "bad boolean flag", args: []string{"--migrate=perhaps"}, want: "migrate"},
		{name: "help", args: []string{"-h"}, want: flag.ErrHelp.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.args, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	valid := func() Config {
		c := defaultConfig()
		c.PublicURL = "http://127.0.0.1:8080"
		return c
	}
	const shortToken = "tooshort-but-secret"
	tests := []struct {
		name string
		edit func(c *Config)
		want []string // one substring per expected error, in order
	}{
		{name: "defaults", edit: func(*Config) {}},
		{name: "postgres", edit: func(c *Config) { c.DatabaseURL = "postgres://u:p@db:5432/clavis?sslmode=disable" }},
		{name: "https public url with path", edit: func(c *Config) { c.PublicURL = "https://id.example.com/iam" }},
		{name: "port zero", edit: func(c *Config) { c.Addr = "127.0.0.1:0" }},
		{name: "addr without port", edit: func(c *Config) { c.Addr = "127.0.0.1" }, want: []string{"--addr (CLAVIS_ADDR)"}},
		{name: "addr port out of range", edit: func(c *Config) { c.Addr = "127.0.0.1:70000" }, want: []string{"--addr"}},
		{name: "relative public url", edit: func(c *Config) { c.PublicURL = "/clavis" }, want: []string{"--public-url (CLAVIS_PUBLIC_URL)"}},
		{name: "public url with query", edit: func(c *Config) { c.PublicURL = "https://x.example?a=b" }, want: []string{"query"}},
		{name: "public url with user", edit: func(c *Config) { c.PublicURL = "https://u:p@x.example" }, want: []string{"user"}},
		{name: "empty data dir", edit: func(c *Config) { c.DataDir = "" }, want: []string{"--data-dir"}},
		{name: "mysql", edit: func(c *Config) { c.DatabaseURL = "mysql://db/clavis" }, want: []string{`scheme "mysql"`}},
		{name: "file path as database url", edit: func(c *Config) { c.DatabaseURL = "clavis.db" }, want: []string{"no scheme"}},
		{name: "short root token", edit: func(c *Config) { c.RootToken = shortToken }, want: []string{"--root-token (CLAVIS_ROOT_TOKEN): has 19 characters"}},
		{name: "root token with space", edit: func(c *Config) { c.RootToken = strings.Repeat("a ", 20) }, want: []string{"printable"}},
		{name: "short master key", edit: func(c *Config) { c.MasterKey = "c2hvcnQ" }, want: []string{"--master-key (CLAVIS_MASTER_KEY): master key 1 has 5 bytes, want 32"}},
		{name: "master key not base64", edit: func(c *Config) { c.MasterKey = "not base64!" }, want: []string{"--master-key (CLAVIS_MASTER_KEY): master key 1 is not base64"}},
		{name: "two master keys", edit: func(c *Config) { c.MasterKey = testMasterKey + "," + testMasterKey }, want: []string{"listed twice"}},
		{name: "master keys to replace one", edit: func(c *Config) { c.MasterKey = testMasterKey + ", " + e2eMasterKey }},
		{name: "log format", edit: func(c *Config) { c.LogFormat = "xml" }, want: []string{"--log-format"}},
		{name: "nats url scheme", edit: func(c *Config) { c.NATSURL = "http://x:4222" }, want: []string{"--nats-url"}},
		{name: "nats creds without url", edit: func(c *Config) { c.NATSCreds = "x.creds" }, want: []string{"--nats-url"}},
		{name: "nats listen", edit: func(c *Config) { c.NATSListen = "4223" }, want: []string{"--nats-listen"}},
		{name: "nats listen off", edit: func(c *Config) { c.NATSListen = "off" }},
		{name: "nats cert without key", edit: func(c *Config) { c.NATSURL, c.NATSTLSCert = "tls://x:4222", "c.pem" }, want: []string{"--nats-tls-cert"}},
		{name: "nats prefix", edit: func(c *Config) { c.NATSPrefix = "Bad.Prefix" }, want: []string{"--nats-prefix"}},
		{name: "nats replicas", edit: func(c *Config) { c.NATSReplicas = 7 }, want: []string{"--nats-replicas"}},
		{name: "grants max bytes", edit: func(c *Config) { c.GrantsMaxBytes = 4096 }, want: []string{"--grants-max-bytes"}},
		{name: "grants max bytes default", edit: func(c *Config) { c.GrantsMaxBytes = 0 }},
		{name: "flow rate per address", edit: func(c *Config) { c.FlowRatePerAddress = -1 }, want: []string{"--flow-rate-per-address"}},
		{name: "flow rate per client", edit: func(c *Config) { c.FlowRatePerClient = math.NaN() }, want: []string{"--flow-rate-per-client"}},
		{name: "refresh rate per client", edit: func(c *Config) { c.RefreshRatePerClient = math.Inf(1) }, want: []string{"--refresh-rate-per-client"}},
		{name: "rates", edit: func(c *Config) { c.FlowRatePerAddress, c.FlowRatePerClient, c.RefreshRatePerClient = 0.5, 1000, 1e6 }},
		{name: "log level", edit: func(c *Config) { c.LogLevel = "trace" }, want: []string{"--log-level"}},
		{name: "public url that cannot name audit keys", edit: func(c *Config) { c.PublicURL = "https://id.example.com/a+b" }, want: []string{"--public-url"}},
		{name: "public url too long for audit key names", edit: func(c *Config) { c.PublicURL = "https://id.example.com/" + strings.Repeat("p", 120) },
			want: []string{"--public-url"}},
		{name: "trusted proxies", edit: func(c *Config) { c.TrustedProxies = "10.0.0.0/8, 192.0.2.10,2001:db8::/32 ,::1" }},
		{name: "trusted proxy not an address", edit: func(c *Config) { c.TrustedProxies = "10.0.0.0/8,proxy.internal" },
			want: []string{`--trusted-proxies (CLAVIS_TRUSTED_PROXIES): "proxy.internal" is not an IP address or CIDR prefix`}},
		{name: "trusted proxy prefix too long", edit: func(c *Config) { c.TrustedProxies = "10.0.0.0/33" }, want: []string{"--trusted-proxies"}},
		{
			name: "every problem at once",
			edit: func(c *Config) {
				*c = Config{Addr: "nohost", Config: node.Config{PublicURL: "ftp://x", DataDir: "", DatabaseURL: "redis://x",
					RootToken: shortToken, NATSListen: "x", NATSPrefix: ""}, LogFormat: "yaml", LogLevel: "loud"}
			},
			want: []string{"--addr", "--public-url", "--data-dir", "--database-url", "--root-token",
				"--nats-listen", "--nats-prefix", "--nats-replicas", "--log-format", "--log-level"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %d errors", len(tt.want))
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Validate() reported %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d = %q, want it to mention %q", i, lines[i], w)
				}
			}
			if strings.Contains(err.Error(), shortToken) {
				t.Error("an error quotes the root token")
			}
		})
	}
}

func TestBackendOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string
		err  bool
	}{
		{url: "", want: node.SQLite},
		{url: "postgres://u@127.0.0.1:5432/clavis", want: node.Postgres},
		{url: "postgresql://u@127.0.0.1/clavis?sslmode=disable", want: node.Postgres},
		{url: "POSTGRES://db/clavis", want: node.Postgres},
		{url: "postgres:///clavis", want: node.Postgres},
		{url: "sqlite:///tmp/x.db", err: true},
		{url: "mysql://db/clavis", err: true},
		{url: "host=db dbname=clavis", err: true},
		{url: "/tmp/clavis.db", err: true},
		{url: "postgres://u:p@[bad", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			got, err := node.StoreKind(tt.url)
			if (err != nil) != tt.err || got != tt.want {
				t.Errorf("node.StoreKind(%q) = %q, %v; want %q, error %v", tt.url, got, err, tt.want, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "u:p") {
				t.Errorf("error %q quotes the URL", err)
			}
		})
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	t.Parallel()
	c := defaultConfig()
	c.PublicURL = "https://id.example.com"
	c.RootToken = "root-secret-0123456789abcdef0123456789"
	c.MasterKey = testMasterKey
	c.DatabaseURL = "postgres://clavis:db-secret@db:5432/clavis?password=param-secret&sslmode=disable"
	for name, out := range map[string]string{"String": c.String(), "LogValue": c.LogValue().String()} {
		for _, secret := range []string{"root-secret", "db-secret", "param-secret", testMasterKey} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %s: %s", name, secret, out)
			}
		}
		if !strings.Contains(out, "db:5432") {
			t.Errorf("%s hides the database host: %s", name, out)
		}
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

// testMasterKey is a valid master key (base64 of 32 bytes).
const testMasterKey = "dGVzdC1tYXN0ZXIta2V5LTAxMjM0NTY3ODlhYmNkZWY"
