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
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The tenant and client commands are clients of the HTTP API: they work
// against any node, local or remote, with the operator's token.

// apiCommand is one `clavis tenant …` or `clavis client …` command.
type apiCommand struct {
	group, name string
	args        string // positional arguments, for help
	summary     string
	flags       func(fs *flag.FlagSet, o *apiOptions)
	run         func(ctx context.Context, c *apiClient, o *apiOptions, args []string) error
	nargs       int // required positional arguments
}

// apiOptions are the flags every API command takes, and the ones some do.
type apiOptions struct {
	endpoint, token, dataDir, tenant string
	json                             bool
	getenv                           func(string) string

	name, code, typ, reason, file, out, q, active, ifVersion string
	redirectURIs, scopes, grants                             multiFlag
	overlap, lead                                            time.Duration
	alg                                                      string
	limit                                                    int
	dryRun, all                                              bool
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func commonFlags(fs *flag.FlagSet, o *apiOptions, getenv func(string) string) {
	def := func(env, fallback string) string {
		if v := getenv(env); v != "" {
			return v
		}
		return fallback
	}
	fs.StringVar(&o.endpoint, "endpoint", def("CLAVIS_ENDPOINT", "http://127.0.0.1:8080"), "base URL of a Clavis node (env CLAVIS_ENDPOINT)")
	fs.StringVar(&o.token, "token", getenv("CLAVIS_TOKEN"), "bearer token: the root token (env CLAVIS_TOKEN; default: {data-dir}/root-token)")
	fs.StringVar(&o.dataDir, "data-dir", def("CLAVIS_DATA_DIR", defaultDataDir), "where to find root-token when --token is not given")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
}

func tenantFlag(fs *flag.FlagSet, o *apiOptions) {
	fs.StringVar(&o.tenant, "tenant", o.getenv("CLAVIS_TENANT"), "tenant slug (env CLAVIS_TENANT)")
}

var apiCommands = []apiCommand{
	{group: "tenant", name: "create", args: "<slug>", nargs: 1, summary: "create a tenant and its first admin client (the secret is shown once)",
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
	{group: "tenant", name: "suspend", args: "<slug>", nargs: 1, summary: "suspend a tenant: its clients get no tokens, its admins can change nothing",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			fs.StringVar(&o.reason, "reason", "", "why (recorded in the event)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/suspend", map[string]any{"reason": o.reason}, o, tenantColumns)
		}},
	{group: "tenant", name: "resume", args: "<slug>", nargs: 1, summary: "resume a suspended tenant",
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/resume", nil, o, tenantColumns)
		}},
	{group: "tenant", name: "rotate-key", args: "<slug>", nargs: 1,
		summary: "give a tenant a new signing key, published at once and signing after the lead time; the old one stays published a day longer",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			fs.StringVar(&o.alg, "alg", "ES256", "the new key's algorithm: ES256, RS256 or EdDSA")
			fs.DurationVar(&o.lead, "lead", 10*time.Minute, "how long the new key is published before it signs (at most 24h)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			body := map[string]any{"alg": o.alg, "lead_seconds": int64(o.lead / time.Second)}
			return c.print(ctx, http.MethodPost, "/admin/tenants/"+url.PathEscape(a[0])+"/keys/rotate", body, o, tenantKeyColumns)
		}},

	{group: "client", name: "create", summary: "create a client (the secret is shown once)",
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
	{group: "client", name: "update", args: "<client_id>", nargs: 1, summary: "change a client with a JSON merge patch (RFC 7396)",
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
	{group: "client", name: "rotate-secret", args: "<client_id>", nargs: 1, summary: "add a new secret (shown once); the others expire after the overlap",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.DurationVar(&o.overlap, "overlap", 24*time.Hour, "how long the old secrets keep working")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/secrets/rotate"),
				map[string]any{"overlap_seconds": int64(o.overlap / time.Second)}, o, clientColumns)
		}},
	{group: "client", name: "deactivate", args: "<client_id>", nargs: 1, summary: "stop a client from getting tokens",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.reason, "reason", "", "why (recorded in the event)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/deactivate"), map[string]any{"reason": o.reason}, o, clientColumns)
		}},
	{group: "client", name: "activate", args: "<client_id>", nargs: 1, summary: "let a deactivated client get tokens again",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/activate"), nil, o, clientColumns)
		}},
	{group: "client", name: "clone", args: "<client_id>", nargs: 1, summary: "copy a client but its id, name, code and secrets",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.name, "name", "", "client_name of the copy")
			fs.StringVar(&o.code, "code", "", "code of the copy")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.print(ctx, http.MethodPost, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])+"/clone"),
				map[string]any{"client_name": o.name, "code": o.code}, o, clientColumns)
		}},
	{group: "client", name: "delete", args: "<client_id>", nargs: 1, summary: "delete a client (its history stays)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if _, err := c.do(ctx, http.MethodDelete, c.tenantPath(o, "/clients/"+url.PathEscape(a[0])), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "deleted %s\n", a[0])
			return nil
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
	{group: "client", name: "import", summary: "import a package (or IdentityServer clients); idempotent",
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
			if err != nil {
				return err
			}
			_, err = c.out.Write(append(indent(body), '\n'))
			return err
		}},
}

var (
	tenantColumns = []string{"slug", "name", "suspended", "issuer"}
	// tenantKeyColumns show a tenant with its published signing keys.
	tenantKeyColumns = []string{"slug", "issuer", "signing_keys"}
	clientColumns    = []string{"client_id", "code", "client_name", "type", "active", "version", "client_secret"}
)

// runAPI runs `clavis tenant …` and `clavis client …`.
func runAPI(ctx context.Context, group string, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
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
	var cmd *apiCommand
	for i := range apiCommands {
		if apiCommands[i].group == group && apiCommands[i].name == args[0] {
			cmd = &apiCommands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "clavis %s: unknown command %q\n\n", group, args[0])
		groupUsage(stderr, group)
		return exitUsage
	}
	o := &apiOptions{getenv: getenv}
	fs := flag.NewFlagSet("clavis "+group+" "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	commonFlags(fs, o, getenv)
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	usage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage:\n  clavis %s %s [flags] %s\n\n%s.\n\nFlags:\n", group, cmd.name, cmd.args, strings.ToUpper(cmd.summary[:1])+cmd.summary[1:])
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	// Flags may come before or after the positional arguments.
	var positional []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage(stdout)
				return exitOK
			}
			fmt.Fprintf(stderr, "clavis %s %s: %v\n\n", group, cmd.name, err)
			usage(stderr)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(positional) != cmd.nargs {
		fmt.Fprintf(stderr, "clavis %s %s: want %d argument(s) %s, got %d\n\n", group, cmd.name, cmd.nargs, cmd.args, len(positional))
		usage(stderr)
		return exitUsage
	}
	if group == "client" && o.tenant == "" {
		fmt.Fprintf(stderr, "clavis %s %s: --tenant (or CLAVIS_TENANT) is required\n", group, cmd.name)
		return exitUsage
	}
	c, err := newAPIClient(o, stdout)
	if err == nil {
		err = cmd.run(ctx, c, o, positional)
	}
	if err != nil {
		fmt.Fprintf(stderr, "clavis %s %s: %v\n", group, cmd.name, err)
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
	fmt.Fprintf(w, "\nEvery command takes --endpoint, --token, --json; run \"clavis %s <command> --help\" for its flags.\n", group)
}

// apiClient calls the HTTP API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
	out   io.Writer
}

func newAPIClient(o *apiOptions, out io.Writer) (*apiClient, error) {
	u, err := url.Parse(o.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--endpoint %q is not an http(s) URL", o.endpoint)
	}
	token := o.token
	if token == "" {
		b, err := os.ReadFile(filepath.Join(o.dataDir, rootTokenFile))
		if err != nil {
			return nil, errors.New("no token: give --token (or CLAVIS_TOKEN), or run where {data-dir}/root-token is readable")
		}
		token = strings.TrimSpace(string(b))
	}
	return &apiClient{base: strings.TrimRight(o.endpoint, "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}, out: out}, nil
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
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
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

func cell(v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []any:
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
