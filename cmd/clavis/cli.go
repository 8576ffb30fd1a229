package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/clavisiam/clavis/internal/node"
)

// The tenant and client commands are clients of the HTTP API: they work
// against any node, local or remote, with the operator's root token or a
// tenant's admin access token. token, introspect and revoke call a
// tenant's OAuth 2.0 endpoints as one of its clients; health asks a node
// whether it is ready.

// apiCommand is one `clavis tenant …` or `clavis client …` command, or
// (group "") one of the top-level commands over HTTP.
type apiCommand struct {
	group, name string // name may be two words: "secret add"
	args        string // positional arguments, for help
	summary     string
	flags       func(fs *flag.FlagSet, o *apiOptions)
	run         func(ctx context.Context, c *apiClient, o *apiOptions, args []string) error
	nargs       int // required positional arguments
	optional    int // optional positional arguments after those
	// auth says how the command authenticates: bearerAuth (the admin
	// API), clientAuth (a tenant's OAuth endpoints, as a client) or
	// noAuth.
	auth authKind
	// write commands change something: they take --reason, sent as the
	// X-Clavis-Reason header and recorded with every event they cause.
	write bool
}

type authKind int

const (
	bearerAuth authKind = iota
	clientAuth
	noAuth
)

// path is the command as typed after clavis: "client secret add".
func (c *apiCommand) path() string { return strings.TrimSpace(c.group + " " + c.name) }

// apiOptions are the flags every API command takes, and the ones some do.
type apiOptions struct {
	endpoint, token, dataDir, tenant string
	json                             bool
	getenv                           func(string) string

	name, code, typ, reason, file, out, q, active, ifVersion string
	redirectURIs, scopes, grants                             multiFlag
	overlap, lead, expiresIn                                 time.Duration
	alg, description                                         string
	limit                                                    int
	dryRun, all                                              bool

	// The client's credentials, for token, introspect and revoke.
	clientID, clientSecret, tokenTypeHint string
	audiences                             multiFlag

	// The audit commands' filters, instants and export size.
	auditClient, auditAggregate, auditActor, auditSince, auditUntil string
	auditAt, auditDiff                                              string
	auditSize                                                       int64

	// The webhook commands' settings and cursors.
	webhookURL                      string
	webhookTypes                    multiFlag
	webhookDescription, webhookFrom optionalString
	webhookBefore                   int64
	// The events commands' cursor and type patterns.
	eventsAfter string
	eventTypes  multiFlag
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func commonFlags(fs *flag.FlagSet, o *apiOptions, getenv func(string) string, auth authKind) {
	def := func(env, fallback string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&o.endpoint, "endpoint", def("CLAVIS_ENDPOINT", "http://127.0.0.1:8080"), "base URL of a Clavis node (env CLAVIS_ENDPOINT)")
	switch auth {
	case bearerAuth:
		// Secrets are read from the environment after parsing, so that
		// help never prints them as a default.
		fs.StringVar(&o.token, "token", "",
			"bearer token: the root token, or an access token of a tenant's admin client for that tenant's commands (see clavis token) (env CLAVIS_TOKEN; default: {data-dir}/root-token)")
		fs.StringVar(&o.dataDir, "data-dir", def("CLAVIS_DATA_DIR", defaultDataDir), "where to find root-token when --token is not given")
	case clientAuth:
		tenantFlag(fs, o)
		fs.StringVar(&o.clientID, "client-id", getenv("CLAVIS_CLIENT_ID"), "the client's client_id (env CLAVIS_CLIENT_ID)")
		fs.StringVar(&o.clientSecret, "client-secret", "", "the client's secret (env CLAVIS_CLIENT_SECRET, which keeps it out of the process list)")
	}
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
}

func tenantFlag(fs *flag.FlagSet, o *apiOptions) {
	fs.StringVar(&o.tenant, "tenant", o.getenv("CLAVIS_TENANT"), "tenant slug (env CLAVIS_TENANT)")
}

var apiCommands = []apiCommand{
	{group: "tenant", name: "create", write: true, args: "<slug>", nargs: 1, summary: "create a tenant and its first admin client (the secret is shown once)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			fs.StringVar(&o.name, "name", "", "display name (default: the slug)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			name := o.name
			if name == "" {
				name = a[0]
			}
			return c.print(ctx, http.MethodPost, "/admin/tenants", map[string]any{"slug": a[0], "name": name}, o, tenantColumns)
		}},
	{group: "tenant", name: "list", summary: "list tenants",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			return c.pages(ctx, "/admin/tenants", url.Values{}, "tenants", o, tenantColumns)
		}},
	{group: "tenant", name: "get", args: "<slug>", nargs: 1, summary: "show a tenant",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodGet, "/admin/tenants/"+url.PathEscape(a[0]), nil, o, tenantColumns)
		}},
	{group: "tenant", name: "suspend", write: true, args: "<slug>", nargs: 1, summary: "suspend a tenant: its clients get no tokens, its admins can change nothing",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/suspend", nil, o, tenantColumns)
		}},
	{group: "tenant", name: "resume", write: true, args: "<slug>", nargs: 1, summary: "resume a suspended tenant",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/resume", nil, o, tenantColumns)
		}},
	{group: "tenant", name: "rotate-key", write: true, args: "<slug>", nargs: 1,
		summary: "give a tenant a new signing key, published at once and signing after the lead time; the old one stays published a day longer",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			fs.StringVar(&o.alg, "alg", "ES256", "the new key's algorithm: ES256, RS256 or EdDSA")
			fs.DurationVar(&o.lead, "lead", 10*time.Minute, "how long the new key is published before it signs (at most 24h)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			body := map[string]any{"alg": o.alg, "lead_seconds": int64(o.lead / time.Second)}
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/keys/rotate", body, o, tenantKeyColumns)
		}},
	{group: "tenant", name: "rotate-audit-key", write: true, args: "<slug>", nargs: 1,
		summary: "give a tenant a new audit key, which signs its audit log's checkpoints at once; the old ones keep verifying",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/audit-keys", nil, o, auditKeyColumns)
		}},
	{group: "tenant", name: "rename", write: true, args: "<slug> <name>", nargs: 2, summary: "change a tenant's display name (its slug stays)",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if strings.TrimSpace(a[1]) == "" {
				return errors.New("the new name is empty")
			}
			h := http.Header{"Content-Type": {"application/merge-patch+json"}}
			return c.printWith(ctx, http.MethodPatch, "/admin/tenants/"+url.PathEscape(a[0]), map[string]any{"name": a[1]}, h, o, tenantColumns)
		}},
	{group: "tenant", name: "login-url", write: true, args: "<slug> [<url>]", nargs: 1, optional: 1,
		summary: `show a tenant's login application URL, or set it ("" clears it, and the tenant has no login)`,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			// The tenant's own admin API: a tenant's admin token may call it.
			path := "/t/" + url.PathEscape(a[0]) + "/admin/login-app"
			if len(a) == 1 {
				return c.print(ctx, http.MethodGet, path, nil, o, loginAppColumns)
			}
			return c.print(ctx, http.MethodPut, path, map[string]any{"login_url": a[1]}, o, loginAppColumns)
		}},

	{group: "client", name: "create", write: true, summary: "create a client (the secret is shown once)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.file, "file", "", "JSON file with the client (RFC 7591 names); flags below override its fields")
			fs.StringVar(&o.name, "name", "", "client_name")
			fs.StringVar(&o.code, "code", "", "code, urn:{vendor}/{name}")
			fs.StringVar(&o.typ, "type", "", "public, confidential or m2m")
			fs.Var(&o.redirectURIs, "redirect-uri", "a redirect URI (repeatable)")
			fs.Var(&o.scopes, "scope", "a default scope (repeatable)")
			fs.Var(&o.grants, "grant-type", "a grant type (repeatable)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			body, err := readBody(o.file)
			if err != nil {
				return err
			}
			set := func(k string, v any, ok bool) {
				if ok {
					body[k] = v
				}
			}
			set("client_name", o.name, o.name != "")
			set("code", o.code, o.code != "")
			set("type", o.typ, o.typ != "")
			set("redirect_uris", []string(o.redirectURIs), len(o.redirectURIs) > 0)
			set("default_scopes", []string(o.scopes), len(o.scopes) > 0)
			set("grant_types", []string(o.grants), len(o.grants) > 0)
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients"), body, o, clientColumns)
		}},
	{group: "client", name: "get", args: "<client_id>", nargs: 1, summary: "show a client",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodGet, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])), nil, o, clientColumns)
		}},
	{group: "client", name: "list", summary: "list clients (all pages with --all)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.typ, "type", "", "only this type")
			fs.StringVar(&o.active, "active", "", "only active (true) or inactive (false) clients")
			fs.StringVar(&o.q, "q", "", "search names and codes")
			fs.IntVar(&o.limit, "limit", 100, "page size")
			fs.BoolVar(&o.all, "all", false, "follow the cursor through every page")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"type": o.typ, "active": o.active, "q": o.q, "limit": strconv.Itoa(o.limit)} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return c.pages(ctx, c.tenantPath(o, "/clients"), q, "clients", o, clientColumns)
		}},
	{group: "client", name: "update", write: true, args: "<client_id>", nargs: 1, summary: "change a client with a JSON merge patch (RFC 7396)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.file, "file", "", "JSON merge patch file (- for standard input)")
			fs.StringVar(&o.name, "name", "", "new client_name")
			fs.StringVar(&o.ifVersion, "if-version", "", "only if the client is at this version (If-Match)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			body, err := readBody(o.file)
			if err != nil {
				return err
			}
			if o.name != "" {
				body["client_name"] = o.name
			}
			if len(body) == 0 {
				return errors.New("nothing to change: give --file or --name")
			}
			h := http.Header{"Content-Type": {"application/merge-patch+json"}}
			if o.ifVersion != "" {
				h.Set("If-Match", strconv.Quote(o.ifVersion))
			}
			return c.printWith(ctx, http.MethodPatch, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])), body, h, o, clientColumns)
		}},
	{group: "client", name: "rotate-secret", write: true, args: "<client_id>", nargs: 1, summary: "add a new secret (shown once); the others expire after the overlap",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.DurationVar(&o.overlap, "overlap", 24*time.Hour, "how long the old secrets keep working")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/secrets/rotate"),
				map[string]any{"overlap_seconds": int64(o.overlap / time.Second)}, o, clientColumns)
		}},
	{group: "client", name: "secret add", write: true, args: "<client_id>", nargs: 1, summary: "add a secret (shown once); the others keep working",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.description, "description", "", "what the secret is for")
			fs.DurationVar(&o.expiresIn, "expires-in", 0, "how long the secret works (default: until revoked)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if o.expiresIn < 0 {
				return errors.New("--expires-in must not be negative")
			}
			body := map[string]any{"description": o.description}
			if o.expiresIn > 0 {
				body["expires_at"] = time.Now().Add(o.expiresIn).UTC().Format(time.RFC3339)
			}
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/secrets"), body, o, secretColumns)
		}},
	{group: "client", name: "secret revoke", write: true, args: "<client_id> <secret_id>", nargs: 2, summary: "revoke one of a client's secrets at once (see the ids with clavis client get --json)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodDelete, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/secrets/"+url.PathEscape(a[1])), nil, o, secretColumns)
		}},
	{group: "client", name: "deactivate", write: true, args: "<client_id>", nargs: 1, summary: "stop a client from getting tokens",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/deactivate"), nil, o, clientColumns)
		}},
	{group: "client", name: "activate", write: true, args: "<client_id>", nargs: 1, summary: "let a deactivated client get tokens again",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/activate"), nil, o, clientColumns)
		}},
	{group: "client", name: "clone", write: true, args: "<client_id>", nargs: 1, summary: "copy a client but its id, name, code and secrets",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.name, "name", "", "client_name of the copy")
			fs.StringVar(&o.code, "code", "", "code of the copy")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/clone"),
				map[string]any{"client_name": o.name, "code": o.code}, o, clientColumns)
		}},
	{group: "client", name: "delete", write: true, args: "<client_id>", nargs: 1, summary: "delete a client (its history stays)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if _, err := c.do(ctx, http.MethodDelete, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "deleted %s\n", a[0])
			return nil
		}},
	{group: "client", name: "history", args: "<client_id>", nargs: 1, summary: "list a client's events, oldest first (secret material redacted)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			data, err := c.do(ctx, http.MethodGet, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/history"), nil, nil)
			if err != nil || o.json {
				return c.raw(data, err)
			}
			var h struct {
				Events []map[string]any `json:"events"`
			}
			if err := json.Unmarshal(data, &h); err != nil {
				return fmt.Errorf("answer has no events list: %w", err)
			}
			return table(c.out, historyColumns, h.Events)
		}},
	{group: "client", name: "export", summary: "write the tenant's clients as a JSON package (no secrets)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.out, "out", "", "file to write (default: standard output)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			body, err := c.do(ctx, http.MethodGet, c.tenantPath(o, "/export"), nil, nil)
			if err != nil {
				return err
			}
			if o.out == "" {
				_, err = c.out.Write(append(indent(body), '\n'))
				return err
			}
			return os.WriteFile(o.out, append(indent(body), '\n'), 0o600)
		}},
	{group: "client", name: "import", write: true, summary: "import a package (or IdentityServer clients); idempotent",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.file, "file", "", "package file (- for standard input)")
			fs.BoolVar(&o.dryRun, "dry-run", false, "report what would change, change nothing")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			raw, err := readFile(o.file)
			if err != nil {
				return err
			}
			path := c.tenantPath(o, "/import")
			if o.dryRun {
				path += "?dry_run=true"
			}
			body, err := c.do(ctx, http.MethodPost, path, json.RawMessage(raw), nil)
			if err != nil || o.json {
				return c.raw(body, err)
			}
			var report struct {
				DryRun  bool             `json:"dry_run"`
				Clients []map[string]any `json:"clients"`
			}
			if err := json.Unmarshal(body, &report); err != nil {
				return fmt.Errorf("answer is not an import report: %w", err)
			}
			if err := table(c.out, importColumns, report.Clients); err != nil {
				return err
			}
			if report.DryRun {
				fmt.Fprintln(c.out, "dry run: nothing was changed")
			}
			return nil
		}},

	// Top-level commands: a tenant's OAuth 2.0 endpoints, as a client.
	{name: "token", auth: clientAuth, summary: "get an access token for a client with the client_credentials grant",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			fs.Var(&o.scopes, "scope", "a scope to ask for (repeatable; default: the client's default scopes)")
			fs.Var(&o.audiences, "audience", "an audience to ask for (repeatable)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			form := url.Values{"grant_type": {"client_credentials"}}
			if len(o.scopes) > 0 {
				form.Set("scope", strings.Join(o.scopes, " "))
			}
			for _, a := range o.audiences {
				form.Add("audience", a)
			}
			data, err := c.form(ctx, o, "token", form)
			if err != nil || o.json {
				return c.raw(data, err)
			}
			return c.table(data, tokenColumns)
		}},
	{name: "introspect", args: "<token>", nargs: 1, auth: clientAuth, summary: "ask whether a token is active, and what it grants (RFC 7662)",
		flags: tokenHintFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			data, err := c.form(ctx, o, "introspect", tokenForm(a[0], o))
			if err != nil || o.json {
				return c.raw(data, err)
			}
			return c.table(data, introspectColumns)
		}},
	{name: "revoke", args: "<token>", nargs: 1, auth: clientAuth, summary: "revoke a token issued to the client (RFC 7009)",
		flags: tokenHintFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if _, err := c.form(ctx, o, "revoke", tokenForm(a[0], o)); err != nil {
				return err
			}
			// RFC 7009 §2.2: the answer is the same for a token that was
			// not valid.
			fmt.Fprintln(c.out, "revoked (if it was a valid token of this client)")
			return nil
		}},
	{name: "health", auth: noAuth, summary: "ask a node whether it is ready (GET /readyz); exits 0 when it is, 1 when not",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			data, err := c.do(ctx, http.MethodGet, "/readyz", nil, nil)
			if err != nil {
				if s := strings.TrimSpace(string(data)); s != "" {
					return fmt.Errorf("not ready: %w: %s", err, s)
				}
				return fmt.Errorf("not ready: %w", err)
			}
			fmt.Fprintln(c.out, "ready")
			return nil
		}},
}

var (
	tenantColumns = []string{"slug", "name", "suspended", "issuer"}
	// tenantKeyColumns show a tenant with its published signing keys.
	tenantKeyColumns = []string{"slug", "issuer", "signing_keys"}
	// auditKeyColumns show an audit key: its name and public verifier key.
	auditKeyColumns = []string{"name", "verifier"}
	clientColumns   = []string{"client_id", "code", "client_name", "type", "active", "version", "client_secret"}
	// secretColumns show a client with the ids of its secrets.
	secretColumns     = []string{"client_id", "version", "secrets", "client_secret"}
	loginAppColumns   = []string{"login_url"}
	historyColumns    = []string{"version", "type", "time", "actor", "reason"}
	importColumns     = []string{"code", "action", "client_id", "version", "changed", "client_secret"}
	tokenColumns      = []string{"access_token", "token_type", "expires_in", "scope"}
	introspectColumns = []string{"active", "client_id", "sub", "scope", "token_type", "exp"}
)

// isGroup reports whether name is a group of commands over HTTP.
func isGroup(name string) bool {
	return name == "tenant" || name == "client" || name == "audit" || name == "webhook" || name == "events"
}

// runAPI runs `clavis tenant …` and `clavis client …`.
func runAPI(ctx context.Context, group string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 { // clavis client help create
			return helpAPI(append([]string{group}, args[1:]...), getenv, stdout, stderr)
		}
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		groupUsage(w, group)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	cmd, rest := findAPICommand(group, args)
	if cmd == nil {
		fmt.Fprintf(stderr, "clavis %s: unknown command %q\n\n", group, args[0])
		groupUsage(stderr, group)
		return exitUsage
	}
	return cmd.exec(ctx, rest, getenv, stdout, stderr)
}

// findAPICommand finds the command of group that args start with, the
// longest name first ("secret add" before "secret"), and returns the
// arguments after its name.
func findAPICommand(group string, args []string) (*apiCommand, []string) {
	var found *apiCommand
	words := 0
	for i := range apiCommands {
		c := &apiCommands[i]
		name := strings.Fields(c.name)
		if c.group == group && len(name) <= len(args) && slices.Equal(name, args[:len(name)]) && len(name) > words {
			found, words = c, len(name)
		}
	}
	return found, args[words:]
}

// helpAPI prints the help of the HTTP command or group that path names
// ("client", "client create", "token"), and reports whether it knew it.
func helpAPI(path []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(path) == 1 && isGroup(path[0]) {
		groupUsage(stdout, path[0])
		return exitOK
	}
	if len(path) == 2 && path[0] == "audit" && path[1] == "verify" {
		return auditVerify(context.Background(), []string{"--help"}, getenv, stdout, stderr)
	}
	group, rest := "", path
	if isGroup(path[0]) {
		group, rest = path[0], path[1:]
	}
	cmd, extra := findAPICommand(group, rest)
	if cmd == nil || len(extra) > 0 {
		fmt.Fprintf(stderr, "clavis help: unknown command %q\n\n", strings.Join(path, " "))
		if group != "" {
			groupUsage(stderr, group)
		} else {
			rootUsage(stderr)
		}
		return exitUsage
	}
	_, fs := cmd.flagSet(getenv)
	cmd.usage(stdout, fs)
	return exitOK
}

// flagSet returns the command's options and its flags.
func (cmd *apiCommand) flagSet(getenv func(string) string) (*apiOptions, *flag.FlagSet) {
	o := &apiOptions{getenv: getenv}
	fs := flag.NewFlagSet("clavis "+cmd.path(), flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	commonFlags(fs, o, getenv, cmd.auth)
	if cmd.write {
		fs.StringVar(&o.reason, "reason", "", "why: recorded with the change (sent as the "+reasonHeader+" header; at most 1,000 bytes, no control characters)")
	}
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	return o, fs
}

func (cmd *apiCommand) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  %s\n\n%s.\n\nFlags:\n", strings.TrimSpace("clavis "+cmd.path()+" [flags] "+cmd.args), strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// exec parses the command's flags and arguments and runs it.
func (cmd *apiCommand) exec(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, fs := cmd.flagSet(getenv)
	name := cmd.path()
	// Flags may come before or after the positional arguments.
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				cmd.usage(stdout, fs)
				return exitOK
			}
			fmt.Fprintf(stderr, "clavis %s: %v\n\n", name, err)
			cmd.usage(stderr, fs)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if o.token == "" {
		o.token = getenv("CLAVIS_TOKEN")
	}
	if o.clientSecret == "" {
		o.clientSecret = getenv("CLAVIS_CLIENT_SECRET")
	}
	if len(positional) < cmd.nargs || len(positional) > cmd.nargs+cmd.optional {
		want := strconv.Itoa(cmd.nargs)
		if cmd.optional > 0 {
			want += " to " + strconv.Itoa(cmd.nargs+cmd.optional)
		}
		fmt.Fprintf(stderr, "clavis %s: want %s argument(s) %s, got %d\n\n", name, want, cmd.args, len(positional))
		cmd.usage(stderr, fs)
		return exitUsage
	}
	if (cmd.group == "client" || cmd.group == "audit" || cmd.group == "webhook" || cmd.group == "events" || cmd.auth == clientAuth) && o.tenant == "" {
		fmt.Fprintf(stderr, "clavis %s: --tenant (or CLAVIS_TENANT) is required\n", name)
		return exitUsage
	}
	if cmd.auth == clientAuth && (o.clientID == "" || o.clientSecret == "") {
		fmt.Fprintf(stderr, "clavis %s: --client-id and --client-secret (or CLAVIS_CLIENT_ID and CLAVIS_CLIENT_SECRET) are required\n", name)
		return exitUsage
	}
	if strings.ContainsFunc(o.reason, unicode.IsControl) {
		fmt.Fprintf(stderr, "clavis %s: --reason must not hold control characters such as a line break\n", name)
		return exitUsage
	}
	c, err := newAPIClient(o, cmd.auth, stdout)
	if err == nil {
		c.errOut = stderr
		err = cmd.run(ctx, c, o, positional)
	}
	var misuse usageErr
	if errors.As(err, &misuse) {
		fmt.Fprintf(stderr, "clavis %s: %v\n\n", name, err)
		cmd.usage(stderr, fs)
		return exitUsage
	}
	if err != nil {
		fmt.Fprintf(stderr, "clavis %s: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}

func groupUsage(w io.Writer, group string) {
	fmt.Fprintf(w, "Usage:\n  clavis %s <command> [flags]\n\nCommands:\n", group)
	for _, c := range apiCommands {
		if c.group == group {
			fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
		}
	}
	if group == "audit" {
		fmt.Fprintf(w, "  %-14s %s\n", "verify", auditVerifySummary)
	}
	fmt.Fprintf(w, "\nEvery command takes --endpoint, --token, --json, and every command that changes something --reason;\nrun \"clavis %s <command> --help\" for its flags.\n", group)
}

// apiSummaries lists the commands of group by name, for the root help.
func apiSummaries(group string) string {
	var names []string
	for _, c := range apiCommands {
		if c.group == group {
			names = append(names, c.name)
		}
	}
	return strings.Join(names, ", ")
}

// reasonHeader carries a write's --reason.
const reasonHeader = "X-Clavis-Reason"

// apiClient calls the HTTP API.
type apiClient struct {
	base   string
	token  string
	reason string // sent with every request when not empty
	http   *http.Client
	out    io.Writer
	errOut io.Writer // what a command tells beside its output
}

func newAPIClient(o *apiOptions, auth authKind, out io.Writer) (*apiClient, error) {
	u, err := url.Parse(o.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--endpoint %q is not an http(s) URL", o.endpoint)
	}
	token := o.token
	if token == "" && auth == bearerAuth {
		b, err := os.ReadFile(filepath.Join(o.dataDir, node.RootTokenFile))
		if err != nil {
			return nil, errors.New("no token: give --token (or CLAVIS_TOKEN), or run where {data-dir}/root-token is readable")
		}
		token = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(o.endpoint, "/"), token: token, reason: o.reason, http: &http.Client{Timeout: 30 * time.Second}, out: out, errOut: io.Discard}, nil
}

func (c *apiClient) tenantPath(o *apiOptions, p string) string {
	return "/t/" + url.PathEscape(o.tenant) + "/admin" + p
}

// do sends a request and returns the body of a 2xx answer; other answers
// become errors carrying the problem's title and detail.
func (c *apiClient) do(ctx context.Context, method, path string, body any, h http.Header) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "clavis/"+version)
	if c.reason != "" {
		req.Header.Set(reasonHeader, c.reason)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		var p struct {
			Title, Detail string
			Errors        []struct{ Field, Message string }
		}
		if json.Unmarshal(data, &p) == nil && p.Title != "" {
			msg := fmt.Sprintf("%d %s", resp.StatusCode, p.Title)
			if p.Detail != "" {
				msg += ": " + p.Detail
			}
			for _, e := range p.Errors {
				msg += fmt.Sprintf("\n  %s: %s", e.Field, e.Message)
			}
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return data, nil
}

// form posts form to the tenant's OAuth 2.0 endpoint (token,
// introspect, revoke), authenticating as the client with HTTP Basic
// (RFC 6749 §2.3.1), and returns the body of a 200 answer; an error
// answer becomes an error with its RFC 6749 code and description.
func (c *apiClient) form(ctx context.Context, o *apiOptions, endpoint string, form url.Values) ([]byte, error) {
	u := c.base + "/t/" + url.PathEscape(o.tenant) + "/oauth2/" + endpoint
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(url.QueryEscape(o.clientID), url.QueryEscape(o.clientSecret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			msg := fmt.Sprintf("%d %s", resp.StatusCode, e.Error)
			if e.Description != "" {
				msg += ": " + e.Description
			}
			return nil, errors.New(msg)
		}
		return nil, fmt.Errorf("%s", resp.Status)
	}
	return data, nil
}

// raw prints an answer as indented JSON, unless err says there is none.
func (c *apiClient) raw(data []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = c.out.Write(append(indent(data), '\n'))
	return err
}

// table prints a JSON object as a one-row table of cols.
func (c *apiClient) table(data []byte, cols []string) error {
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("answer is not a JSON object: %w", err)
	}
	return table(c.out, cols, []map[string]any{obj})
}

func (c *apiClient) print(ctx context.Context, method, path string, body any, o *apiOptions, cols []string) error {
	return c.printWith(ctx, method, path, body, nil, o, cols)
}

func (c *apiClient) printWith(ctx context.Context, method, path string, body any, h http.Header, o *apiOptions, cols []string) error {
	data, err := c.do(ctx, method, path, body, h)
	if err != nil {
		return err
	}
	if o.json || len(data) == 0 {
		_, err = c.out.Write(append(indent(data), '\n'))
		return err
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("answer is not a JSON object: %w", err)
	}
	// The platform answers a new tenant with its admin client inline.
	if ac, ok := obj["admin_client"].(map[string]any); ok {
		for k, v := range ac {
			obj["admin_"+k] = v
		}
		cols = append(append([]string{}, cols...), "admin_client_id", "admin_client_secret")
	}
	return table(c.out, cols, []map[string]any{obj})
}

// pages lists a collection, following next_cursor when --all is given.
func (c *apiClient) pages(ctx context.Context, path string, q url.Values, key string, o *apiOptions, cols []string) error {
	var all []map[string]any
	for {
		p := path
		if len(q) > 0 {
			p += "?" + q.Encode()
		}
		data, err := c.do(ctx, http.MethodGet, p, nil, nil)
		if err != nil {
			return err
		}
		var page map[string]json.RawMessage
		if err := json.Unmarshal(data, &page); err != nil {
			return fmt.Errorf("answer is not a JSON object: %w", err)
		}
		var items []map[string]any
		if err := json.Unmarshal(page[key], &items); err != nil {
			return fmt.Errorf("answer has no %s list: %w", key, err)
		}
		all = append(all, items...)
		var next string
		_ = json.Unmarshal(page["next_cursor"], &next)
		if !o.all || next == "" {
			break
		}
		q.Set("after", next)
	}
	if o.json {
		b, _ := json.MarshalIndent(map[string]any{key: all}, "", "  ")
		_, err := c.out.Write(append(b, '\n'))
		return err
	}
	return table(c.out, cols, all)
}

func table(w io.Writer, cols []string, rows []map[string]any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	present := make([]string, 0, len(cols))
	for _, c := range cols {
		for _, r := range rows {
			if _, ok := r[c]; ok {
				present = append(present, c)
				break
			}
		}
	}
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(present, "\t")))
	for _, r := range rows {
		vals := make([]string, len(present))
		for i, c := range present {
			vals[i] = cell(r[c])
		}
		fmt.Fprintln(tw, strings.Join(vals, "\t"))
	}
	return tw.Flush()
}

// escapeForged writes as Go escapes (\n, \u202e) the characters that
// would let a value forge the table it is shown in: control characters
// (a newline starts a row, a tab a column), line and paragraph
// separators, and the bidirectional controls, which reorder what
// follows them. The server refuses them in what it validates; a table
// of an audit log also shows what it did not, or did not yet.
func escapeForged(s string) string {
	if !strings.ContainsFunc(s, forges) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if forges(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func forges(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' ||
		(r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		if v == "" { // an empty cell would shift the columns after it
			return "-"
		}
		return escapeForged(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		if len(v) == 0 {
			return "-"
		}
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = cell(x)
		}
		sort.Strings(parts)
		return strings.Join(parts, ",")
	case map[string]any:
		if kid, ok := v["kid"].(string); ok { // a signing key
			return fmt.Sprintf("%s %v %v", kid, v["alg"], v["state"])
		}
		if id, ok := v["id"].(string); ok { // a client's secret
			return id
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func indent(b []byte) []byte {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "", "  ") != nil {
		return b
	}
	return buf.Bytes()
}

func readFile(name string) ([]byte, error) {
	switch name {
	case "":
		return nil, errors.New("--file is required")
	case "-":
		return io.ReadAll(io.LimitReader(os.Stdin, 64<<20))
	}
	return os.ReadFile(name)
}

// readBody reads a JSON object from name, or returns an empty one when no
// file is given.
func readBody(name string) (map[string]any, error) {
	body := map[string]any{}
	if name == "" {
		return body, nil
	}
	raw, err := readFile(name)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", name, err)
	}
	return body, nil
}

// tokenHintFlag is the flag of the commands that name a token to the
// node (introspect, revoke): the token's type, as a hint.
func tokenHintFlag(fs *flag.FlagSet, o *apiOptions) {
	fs.StringVar(&o.tokenTypeHint, "token-type-hint", "", "access_token or refresh_token")
}

// tokenForm is the form of RFC 7662 and RFC 7009 requests: the token
// and, if given, its type hint.
func tokenForm(token string, o *apiOptions) url.Values {
	form := url.Values{"token": {token}}
	if o.tokenTypeHint != "" {
		form.Set("token_type_hint", o.tokenTypeHint)
	}
	return form
}
