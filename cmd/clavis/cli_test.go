package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/internal/node"
)

// cliRunner runs `clavis tenant …` and `clavis client …` in-process, as
// main does, against a real node.
type cliRunner struct {
	t        *testing.T
	endpoint string
	token    string
}

// run runs the command line args with the node's endpoint and token
// appended (flags may follow the arguments; no token when c has none) and returns the exit status
// and both outputs.
func (c cliRunner) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	args = append(args, "--endpoint", c.endpoint)
	if c.token != "" && !slices.Contains(args, "--token") {
		args = append(args, "--token", c.token)
	}
	return runCmd(c.t.Context(), args, nil)
}

// ok runs args and fails the test unless they exit 0 with nothing on
// stderr; it returns stdout.
func (c cliRunner) ok(args ...string) string {
	c.t.Helper()
	code, stdout, stderr := c.run(args...)
	if code != exitOK || stderr != "" {
		c.t.Fatalf("clavis %s = %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	return stdout
}

// json runs args with --json and decodes the object printed.
func (c cliRunner) json(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		c.t.Fatalf("clavis %s --json printed no JSON object: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// fails runs args and checks they exit with code and print every want on
// stderr, and nothing on stdout.
func (c cliRunner) fails(code int, args []string, want ...string) {
	c.t.Helper()
	got, stdout, stderr := c.run(args...)
	if got != code || stdout != "" {
		c.t.Fatalf("clavis %s = %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, stdout, stderr)
	}
	for _, w := range want {
		if !strings.Contains(stderr, w) {
			c.t.Errorf("clavis %s: stderr has no %q:\n%s", strings.Join(args, " "), w, stderr)
		}
	}
}

// parseTable parses a table the CLI printed: its header's columns and its rows
// as maps.
func parseTable(t *testing.T, out string) (cols []string, rows []map[string]string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		t.Fatalf("no table in %q", out)
	}
	sep := regexp.MustCompile(`\s{2,}`)
	cols = sep.Split(strings.TrimSpace(lines[0]), -1)
	for _, l := range lines[1:] {
		cells := sep.Split(strings.TrimSpace(l), -1)
		if len(cells) != len(cols) {
			t.Fatalf("row %q has %d cells for the %d columns %v", l, len(cells), len(cols), cols)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = cells[i]
		}
		rows = append(rows, row)
	}
	return cols, rows
}

func TestCLI(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme, beta := uniqueSlug("cli"), uniqueSlug("clib")

	// Tenants: create (table and JSON), list, get, suspend, resume.
	cols, rows := parseTable(t, c.ok("tenant", "create", acme, "--name", "Acme CLI"))
	if strings.Join(cols, " ") != "SLUG NAME ISSUER ADMIN_CLIENT_ID ADMIN_CLIENT_SECRET" || len(rows) != 1 ||
		rows[0]["SLUG"] != acme || rows[0]["NAME"] != "Acme CLI" || !strings.HasSuffix(rows[0]["ISSUER"], "/t/"+acme) ||
		!strings.HasPrefix(rows[0]["ADMIN_CLIENT_SECRET"], "cls_") {
		t.Fatalf("tenant create printed %v %v", cols, rows)
	}
	created := c.json("tenant", "create", beta)
	if created["slug"] != beta || created["name"] != beta || !strings.HasPrefix(created["admin_client"].(map[string]any)["client_secret"].(string), "cls_") {
		t.Fatalf("tenant create --json = %v", created)
	}
	_, rows = parseTable(t, c.ok("tenant", "list"))
	if len(rows) != 2 || rows[0]["SLUG"] != acme || rows[1]["SLUG"] != beta || rows[1]["SUSPENDED"] != "false" {
		t.Fatalf("tenant list = %v", rows)
	}
	if ts := c.json("tenant", "list")["tenants"].([]any); len(ts) != 2 {
		t.Fatalf("tenant list --json = %v", ts)
	}
	if got := c.json("tenant", "get", acme); got["slug"] != acme || got["suspended"] != false || got["version"] != 3.0 {
		t.Fatalf("tenant get --json = %v", got)
	}
	if got := c.json("tenant", "suspend", beta, "--reason", "unpaid"); got["suspended"] != true || got["suspension_reason"] != "unpaid" {
		t.Fatalf("tenant suspend = %v", got)
	}
	_, rows = parseTable(t, c.ok("tenant", "get", beta))
	if rows[0]["SUSPENDED"] != "true" {
		t.Fatalf("tenant get of a suspended tenant = %v", rows)
	}
	if got := c.json("tenant", "resume", beta); got["suspended"] != false {
		t.Fatalf("tenant resume = %v", got)
	}

	// Clients of all three types, in table and JSON.
	web := c.json("client", "create", "--tenant", acme, "--name", "Web", "--code", "urn:acme/web", "--type", "confidential",
		"--redirect-uri", "https://app.example.com/cb", "--scope", "openid", "--scope", "profile")
	webID := web["client_id"].(string)
	if web["type"] != "confidential" || web["version"] != 1.0 || !strings.HasPrefix(web["client_secret"].(string), "cls_") {
		t.Fatalf("client create --json = %v", web)
	}
	cols, rows = parseTable(t, c.ok("client", "create", "--tenant", acme, "--name", "Jobs", "--code", "urn:acme/jobs", "--type", "m2m", "--grant-type", "client_credentials"))
	if strings.Join(cols, " ") != "CLIENT_ID CODE CLIENT_NAME TYPE ACTIVE VERSION CLIENT_SECRET" || rows[0]["TYPE"] != "m2m" ||
		rows[0]["ACTIVE"] != "true" || rows[0]["VERSION"] != "1" || !strings.HasPrefix(rows[0]["CLIENT_SECRET"], "cls_") {
		t.Fatalf("client create printed %v %v", cols, rows)
	}
	m2mID := rows[0]["CLIENT_ID"]
	// A public client has no secret: the column is left out.
	cols, rows = parseTable(t, c.ok("client", "create", "--tenant", acme, "--name", "SPA", "--code", "urn:acme/spa", "--type", "public", "--redirect-uri", "https://spa.example.com/cb"))
	if strings.Join(cols, " ") != "CLIENT_ID CODE CLIENT_NAME TYPE ACTIVE VERSION" || rows[0]["TYPE"] != "public" {
		t.Fatalf("public client create printed %v %v", cols, rows)
	}
	spaID := rows[0]["CLIENT_ID"]

	_, rows = parseTable(t, c.ok("client", "get", webID, "--tenant", acme))
	if rows[0]["CLIENT_ID"] != webID || rows[0]["CLIENT_NAME"] != "Web" || rows[0]["CODE"] != "urn:acme/web" {
		t.Fatalf("client get = %v", rows)
	}
	if got := c.json("client", "get", webID, "--tenant", acme); got["client_secret"] != nil || got["default_scopes"] == nil {
		t.Fatalf("client get --json = %v", got)
	}

	// Lists: one page, or every page with --all.
	if cs := c.json("client", "list", "--tenant", acme, "--limit", "2")["clients"].([]any); len(cs) != 2 {
		t.Fatalf("client list --limit 2 = %d clients", len(cs))
	}
	if cs := c.json("client", "list", "--tenant", acme, "--limit", "1", "--all")["clients"].([]any); len(cs) != 4 {
		t.Fatalf("client list --all over pages of 1 = %d clients, want 4 (the admin client and three)", len(cs))
	}
	_, rows = parseTable(t, c.ok("client", "list", "--tenant", acme, "--all", "--type", "m2m", "--limit", "1"))
	if len(rows) != 2 { // the admin client and Jobs
		t.Fatalf("client list --type m2m = %v", rows)
	}

	// Update with and without a version; a stale one is refused with the
	// problem printed.
	if got := c.json("client", "update", webID, "--tenant", acme, "--name", "Web 2", "--if-version", "1"); got["client_name"] != "Web 2" || got["version"] != 2.0 {
		t.Fatalf("client update = %v", got)
	}
	c.fails(exitFailure, []string{"client", "update", webID, "--tenant", acme, "--name", "Lost", "--if-version", "1"},
		"412 Precondition failed", "If-Match")
	patch := filepath.Join(t.TempDir(), "patch.json")
	if err := os.WriteFile(patch, []byte(`{"description":"from a file","metadata":{"team":"web"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := c.json("client", "update", webID, "--tenant", acme, "--file", patch); got["description"] != "from a file" || got["version"] != 3.0 {
		t.Fatalf("client update --file = %v", got)
	}
	c.fails(exitFailure, []string{"client", "update", webID, "--tenant", acme}, "nothing to change")

	// Secrets, activation, clone, delete.
	rot := c.json("client", "rotate-secret", webID, "--tenant", acme, "--overlap", "1h")
	if !strings.HasPrefix(rot["client_secret"].(string), "cls_") || rot["client_secret"] == web["client_secret"] || len(rot["secrets"].([]any)) != 2 {
		t.Fatalf("client rotate-secret = %v", rot)
	}
	_, rows = parseTable(t, c.ok("client", "deactivate", m2mID, "--tenant", acme, "--reason", "paused"))
	if rows[0]["ACTIVE"] != "false" || rows[0]["VERSION"] != "2" {
		t.Fatalf("client deactivate = %v", rows)
	}
	if got := c.json("client", "list", "--tenant", acme, "--active", "false")["clients"].([]any); len(got) != 1 {
		t.Fatalf("client list --active false = %v", got)
	}
	if got := c.json("client", "activate", m2mID, "--tenant", acme); got["active"] != true || got["version"] != 3.0 {
		t.Fatalf("client activate = %v", got)
	}
	clone := c.json("client", "clone", webID, "--tenant", acme, "--name", "Web copy", "--code", "urn:acme/web-copy")
	if clone["cloned_from"] != webID || clone["client_id"] == webID || clone["description"] != "from a file" || clone["client_secret"] == nil {
		t.Fatalf("client clone = %v", clone)
	}
	if out := c.ok("client", "delete", spaID, "--tenant", acme); out != "deleted "+spaID+"\n" {
		t.Fatalf("client delete printed %q", out)
	}
	c.fails(exitFailure, []string{"client", "get", spaID, "--tenant", acme}, "404")

	// Export, then import into the other tenant: a dry run changes
	// nothing, the import creates, a second import changes nothing.
	exported := c.ok("client", "export", "--tenant", acme)
	for _, bad := range []string{"cls_", "sha256$", `"hash"`} {
		if strings.Contains(exported, bad) {
			t.Fatalf("the export carries secret material (%q):\n%s", bad, exported)
		}
	}
	file := filepath.Join(t.TempDir(), "clients.json")
	if out := c.ok("client", "export", "--tenant", acme, "--out", file); out != "" {
		t.Fatalf("export --out printed %q", out)
	}
	var pkg struct {
		Format  string `json:"format"`
		Clients []struct {
			Settings struct {
				Code string `json:"code"`
			} `json:"settings"`
		} `json:"clients"`
	}
	raw, err := os.ReadFile(file)
	if err != nil || json.Unmarshal(raw, &pkg) != nil || pkg.Format != "clavis.clients/v1" || len(pkg.Clients) != 3 { // not the admin client
		t.Fatalf("exported file (%v): %s", err, raw)
	}
	actions := func(report map[string]any) map[string]string {
		out := map[string]string{}
		for _, r := range report["clients"].([]any) {
			r := r.(map[string]any)
			out[r["code"].(string)] = r["action"].(string)
		}
		return out
	}
	dry := c.ok("client", "import", "--tenant", beta, "--file", file, "--dry-run", "--json")
	var report map[string]any
	if err := json.Unmarshal([]byte(dry), &report); err != nil || report["dry_run"] != true {
		t.Fatalf("import --dry-run printed %s (%v)", dry, err)
	}
	for _, code := range []string{"urn:acme/web", "urn:acme/jobs", "urn:acme/web-copy"} {
		if a := actions(report)[code]; a != "create" {
			t.Errorf("import --dry-run: %s would be %q, want create", code, a)
		}
	}
	if cs := c.json("client", "list", "--tenant", beta)["clients"].([]any); len(cs) != 1 {
		t.Fatalf("a dry run imported clients: %v", cs)
	}
	if err := json.Unmarshal([]byte(c.ok("client", "import", "--tenant", beta, "--file", file, "--json")), &report); err != nil || report["dry_run"] != false {
		t.Fatalf("import printed %v (%v)", report, err)
	}
	for _, code := range []string{"urn:acme/web", "urn:acme/jobs", "urn:acme/web-copy"} {
		if a := actions(report)[code]; a != "create" {
			t.Errorf("import: %s was %q, want create", code, a)
		}
	}
	if cs := c.json("client", "list", "--tenant", beta)["clients"].([]any); len(cs) != 4 {
		t.Fatalf("after the import the tenant has %d clients, want 4", len(cs))
	}
	if err := json.Unmarshal([]byte(c.ok("client", "import", "--tenant", beta, "--file", file, "--json")), &report); err != nil {
		t.Fatal(err)
	}
	for code, a := range actions(report) {
		if a != "unchanged" {
			t.Errorf("a second import: %s was %q, want unchanged", code, a)
		}
	}

	// The endpoint and the token may come from the environment instead.
	code, stdout, stderr := runCmd(t.Context(), []string{"tenant", "get", acme, "--json"}, map[string]string{"CLAVIS_ENDPOINT": n.URL, "CLAVIS_TOKEN": n.RootToken})
	if code != exitOK || !strings.Contains(stdout, `"slug": "`+acme+`"`) {
		t.Fatalf("tenant get with CLAVIS_ENDPOINT and CLAVIS_TOKEN = %d\n%s%s", code, stdout, stderr)
	}

	// Usage errors exit 2, failures 1 with the problem printed.
	c.fails(exitUsage, []string{"client", "list"}, "--tenant (or CLAVIS_TENANT) is required")
	c.fails(exitUsage, []string{"client", "get", "--tenant", acme}, "want 1 argument(s)")
	c.fails(exitUsage, []string{"tenant", "frobnicate"}, `unknown command "frobnicate"`)
	c.fails(exitFailure, []string{"tenant", "list", "--token", "wrong-token-0123456789abcdefghijklmnop"}, "401")
	c.fails(exitFailure, []string{"client", "list", "--tenant", acme, "--token", "wrong-token-0123456789abcdefghijklmnop"}, "401")
	c.fails(exitFailure, []string{"client", "list", "--tenant", "no-such-tenant"}, "404")
}
