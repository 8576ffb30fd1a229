package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/internal/node"
)

// TestCLIHelp checks that help answers for every command group and every
// command over HTTP, in each of the ways help is asked for.
func TestCLIHelp(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"help", "client"}, []string{"clavis client <command>", "history", "secret add", "secret revoke", "import"}},
		{[]string{"help", "tenant"}, []string{"clavis tenant <command>", "rename", "login-url", "rotate-key"}},
		{[]string{"help", "projections"}, []string{"clavis projections rebuild", "clavis projections status"}},
		{[]string{"help", "projections", "rebuild"}, []string{"clavis projections rebuild [flags]", "CLAVIS_DATABASE_URL"}},
		{[]string{"projections", "help"}, []string{"clavis projections rebuild", "clavis projections status"}},
		{[]string{"projections", "--help"}, []string{"clavis projections rebuild", "clavis projections status"}},
		{[]string{"help", "client", "create"}, []string{"clavis client create [flags]", "-redirect-uri"}},
		{[]string{"help", "client", "secret", "add"}, []string{"clavis client secret add [flags] <client_id>", "-expires-in"}},
		{[]string{"client", "help", "history"}, []string{"clavis client history [flags] <client_id>"}},
		{[]string{"client", "help"}, []string{"clavis client <command>"}},
		{[]string{"tenant", "--help"}, []string{"clavis tenant <command>"}},
		{[]string{"help", "tenant", "login-url"}, []string{"clavis tenant login-url [flags] <slug> [<url>]"}},
		{[]string{"help", "token"}, []string{"clavis token [flags]", "-client-id", "-client-secret", "-scope"}},
		{[]string{"help", "introspect"}, []string{"clavis introspect [flags] <token>", "-token-type-hint"}},
		{[]string{"help", "revoke"}, []string{"clavis revoke [flags] <token>"}},
		{[]string{"help", "health"}, []string{"clavis health [flags]", "/readyz"}},
		{[]string{"token", "--help"}, []string{"clavis token [flags]"}},
		{[]string{"help"}, []string{"tenant <command>", "client <command>", "audit <command>", "history", "token", "introspect", "revoke", "health"}},
		{[]string{"help", "audit"}, []string{"clavis audit <command>", "log", "show", "checkpoint", "export", "verify"}},
		{[]string{"audit", "help", "show"}, []string{"clavis audit show [flags] <client_id> [<t2>]", "-diff", "-at"}},
		{[]string{"help", "audit", "verify"}, []string{"clavis audit verify <export.jsonl>", "-checkpoint", "-database-url", "Exit status: 0"}},
		{[]string{"audit", "verify", "--help"}, []string{"clavis audit verify <export.jsonl>"}},
	}
	for _, c := range cases {
		code, stdout, stderr := runCmd(t.Context(), c.args, nil)
		if code != exitOK || stderr != "" {
			t.Errorf("clavis %s = %d\nstdout:\n%s\nstderr:\n%s", strings.Join(c.args, " "), code, stdout, stderr)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(stdout, w) {
				t.Errorf("clavis %s: no %q in\n%s", strings.Join(c.args, " "), w, stdout)
			}
		}
	}
	// --token's help says a tenant's token works too.
	_, stdout, _ := runCmd(t.Context(), []string{"help", "client", "list"}, nil)
	if !strings.Contains(stdout, "or an access token of a tenant's admin client") {
		t.Errorf("--token's help does not say tenant tokens work:\n%s", stdout)
	}
	// Help never prints a secret from the environment as a default.
	env := map[string]string{"CLAVIS_TOKEN": "secret-token-from-env", "CLAVIS_CLIENT_SECRET": "secret-from-env"}
	for _, args := range [][]string{{"help", "client", "list"}, {"help", "token"}, {"token", "--help"}, {"client", "list", "--help"}} {
		_, stdout, _ := runCmd(t.Context(), args, env)
		if strings.Contains(stdout, "-from-env") {
			t.Errorf("clavis %s printed a secret from the environment:\n%s", strings.Join(args, " "), stdout)
		}
	}
	for _, args := range [][]string{{"help", "client", "frobnicate"}, {"help", "frobnicate"}, {"help", "tenant", "get", "extra"}} {
		code, stdout, stderr := runCmd(t.Context(), args, nil)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, "unknown command") {
			t.Errorf("clavis %s = %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// TestCLITenantAndClientCommands runs the tenant rename, login-url,
// client history, secret add and secret revoke commands against a node,
// and an import in table form.
func TestCLITenantAndClientCommands(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme, beta := uniqueSlug("clic"), uniqueSlug("clid")
	c.ok("tenant", "create", acme)
	c.ok("tenant", "create", beta)

	// tenant rename
	_, rows := parseTable(t, c.ok("tenant", "rename", acme, "Acme Renamed"))
	if rows[0]["SLUG"] != acme || rows[0]["NAME"] != "Acme Renamed" {
		t.Fatalf("tenant rename = %v", rows)
	}
	if got := c.json("tenant", "get", acme); got["name"] != "Acme Renamed" {
		t.Fatalf("after rename: %v", got)
	}
	c.fails(exitFailure, []string{"tenant", "rename", acme, " "}, "empty")
	c.fails(exitFailure, []string{"tenant", "rename", uniqueSlug("nope"), "X"}, "404")
	c.fails(exitUsage, []string{"tenant", "rename", acme}, "want 2 argument(s)")

	// tenant login-url: show, set, refuse a bad one, clear.
	if got := c.json("tenant", "login-url", acme); got["login_url"] != "" {
		t.Fatalf("login-url of a new tenant = %v", got)
	}
	_, rows = parseTable(t, c.ok("tenant", "login-url", acme, "https://login.example.com/acme"))
	if rows[0]["LOGIN_URL"] != "https://login.example.com/acme" {
		t.Fatalf("tenant login-url set = %v", rows)
	}
	if got := c.json("tenant", "get", acme); got["login_url"] != "https://login.example.com/acme" {
		t.Fatalf("after login-url: %v", got)
	}
	c.fails(exitFailure, []string{"tenant", "login-url", acme, "not a url"}, "422", "login_url")
	if got := c.json("tenant", "login-url", acme, ""); got["login_url"] != "" {
		t.Fatalf("login-url clear = %v", got)
	}
	c.fails(exitUsage, []string{"tenant", "login-url", acme, "a", "b"}, "want 1 to 2 argument(s)")

	// client secret add, then revoke it; history lists every event.
	web := c.json("client", "create", "--tenant", acme, "--name", "Web", "--code", "urn:acme/web", "--type", "m2m", "--grant-type", "client_credentials")
	id := web["client_id"].(string)
	cols, rows := parseTable(t, c.ok("client", "secret", "add", id, "--tenant", acme, "--description", "ci", "--expires-in", "1h"))
	if strings.Join(cols, " ") != "CLIENT_ID VERSION SECRETS CLIENT_SECRET" || rows[0]["VERSION"] != "2" ||
		!strings.HasPrefix(rows[0]["CLIENT_SECRET"], "cls_") || rows[0]["CLIENT_SECRET"] == web["client_secret"] ||
		len(strings.Split(rows[0]["SECRETS"], ",")) != 2 {
		t.Fatalf("client secret add printed %v %v", cols, rows)
	}
	added := c.json("client", "get", id, "--tenant", acme)["secrets"].([]any)
	var newID string
	for _, s := range added {
		s := s.(map[string]any)
		if s["description"] == "ci" && s["expires_at"] != nil {
			newID = s["id"].(string)
		}
	}
	if newID == "" {
		t.Fatalf("the secret added has no description or expiry: %v", added)
	}
	got := c.json("client", "secret", "revoke", id, newID, "--tenant", acme)
	if got["version"] != 3.0 || len(got["secrets"].([]any)) != 1 || got["client_secret"] != nil {
		t.Fatalf("client secret revoke = %v", got)
	}
	c.fails(exitFailure, []string{"client", "secret", "revoke", id, newID, "--tenant", acme}, "404")
	c.fails(exitFailure, []string{"client", "secret", "add", id, "--tenant", acme, "--expires-in", "-1h"}, "must not be negative")
	c.fails(exitUsage, []string{"client", "secret", "revoke", id, "--tenant", acme}, "want 2 argument(s)")

	cols, rows = parseTable(t, c.ok("client", "history", id, "--tenant", acme))
	if strings.Join(cols, " ") != "VERSION TYPE TIME ACTOR" || len(rows) != 3 || rows[0]["VERSION"] != "1" || rows[2]["VERSION"] != "3" ||
		rows[0]["TYPE"] != "client.registered" || rows[1]["TYPE"] != "client.secret_added" || rows[2]["TYPE"] != "client.secret_revoked" {
		t.Fatalf("client history printed %v %v", cols, rows)
	}
	hist := c.json("client", "history", id, "--tenant", acme)
	if hist["client_id"] != id || len(hist["events"].([]any)) != 3 {
		t.Fatalf("client history --json = %v", hist)
	}
	c.fails(exitFailure, []string{"client", "history", "nope", "--tenant", acme}, "404")

	// import prints a table, and JSON only with --json.
	file := filepath.Join(t.TempDir(), "clients.json")
	c.ok("client", "export", "--tenant", acme, "--out", file)
	out := c.ok("client", "import", "--tenant", beta, "--file", file, "--dry-run")
	cols, rows = parseTable(t, strings.TrimSuffix(out, "dry run: nothing was changed\n"))
	if !strings.HasSuffix(out, "dry run: nothing was changed\n") || cols[0] != "CODE" || cols[1] != "ACTION" {
		t.Fatalf("import --dry-run printed\n%s", out)
	}
	var sawWeb bool
	for _, r := range rows {
		if r["CODE"] == "urn:acme/web" {
			sawWeb = r["ACTION"] == "create"
		}
	}
	if !sawWeb {
		t.Fatalf("import --dry-run table has no create of urn:acme/web:\n%s", out)
	}
	out = c.ok("client", "import", "--tenant", beta, "--file", file)
	if strings.HasPrefix(strings.TrimSpace(out), "{") || strings.Contains(out, "dry run") {
		t.Fatalf("import without --json printed\n%s", out)
	}
	_, rows = parseTable(t, out)
	for _, r := range rows {
		if r["CODE"] == "urn:acme/web" && (r["ACTION"] != "create" || r["CLIENT_ID"] == "-") {
			t.Fatalf("import table row %v", r)
		}
	}
}

// TestCLIOAuthCommands gets a token for a client with clavis token,
// introspects and revokes it, and uses a tenant admin's token as --token.
func TestCLIOAuthCommands(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme := uniqueSlug("clio")
	admin := c.json("tenant", "create", acme)["admin_client"].(map[string]any)
	adminID, adminSecret := admin["client_id"].(string), admin["client_secret"].(string)
	as := func(args ...string) []string {
		return append(args, "--tenant", acme, "--client-id", adminID, "--client-secret", adminSecret)
	}
	c, admins := cliRunner{t: t, endpoint: n.URL}, c // the OAuth commands take no --token

	// A token of the tenant's admin client, in a table and in JSON.
	cols, rows := parseTable(t, c.ok(as("token", "--scope", "clavis:admin")...))
	if strings.Join(cols, " ") != "ACCESS_TOKEN TOKEN_TYPE EXPIRES_IN SCOPE" || rows[0]["SCOPE"] != "clavis:admin" ||
		!strings.EqualFold(rows[0]["TOKEN_TYPE"], "bearer") || rows[0]["ACCESS_TOKEN"] == "" {
		t.Fatalf("token printed %v %v", cols, rows)
	}
	tok := c.json(as("token", "--scope", "clavis:admin")...)["access_token"].(string)

	// It works as --token for the tenant's commands; not for the platform's.
	if cs := admins.json("client", "list", "--tenant", acme, "--token", tok)["clients"].([]any); len(cs) != 1 {
		t.Fatalf("client list with a tenant token = %v", cs)
	}
	admins.fails(exitFailure, []string{"tenant", "list", "--token", tok}, "403")

	// The client secret may come from the environment.
	code, stdout, stderr := runCmd(t.Context(), []string{"token", "--endpoint", n.URL, "--tenant", acme, "--client-id", adminID, "--json"},
		map[string]string{"CLAVIS_CLIENT_SECRET": adminSecret})
	if code != exitOK || !strings.Contains(stdout, `"access_token"`) {
		t.Fatalf("token with CLAVIS_CLIENT_SECRET = %d\n%s%s", code, stdout, stderr)
	}

	// introspect: active, then revoke, then inactive.
	_, rows = parseTable(t, c.ok(as("introspect", tok)...))
	if rows[0]["ACTIVE"] != "true" || rows[0]["CLIENT_ID"] != adminID || rows[0]["SCOPE"] != "clavis:admin" {
		t.Fatalf("introspect = %v", rows)
	}
	if out := c.ok(as("revoke", tok, "--token-type-hint", "access_token")...); !strings.HasPrefix(out, "revoked") {
		t.Fatalf("revoke printed %q", out)
	}
	if got := c.json(as("introspect", tok)...); got["active"] != false {
		t.Fatalf("introspect after revoke = %v", got)
	}
	admins.fails(exitFailure, []string{"client", "list", "--tenant", acme, "--token", tok}, "401")

	// Bad credentials and bad input: the OAuth error is printed.
	c.fails(exitFailure, []string{"token", "--tenant", acme, "--client-id", adminID, "--client-secret", "cls_wrong"}, "401 invalid_client")
	c.fails(exitFailure, as("token", "--scope", "no-such-scope"), "invalid_scope")
	c.fails(exitUsage, []string{"token", "--tenant", acme}, "--client-id and --client-secret")
	c.fails(exitUsage, []string{"token", "--client-id", adminID, "--client-secret", adminSecret}, "--tenant (or CLAVIS_TENANT) is required")
	c.fails(exitUsage, as("introspect"), "want 1 argument(s)")
}

// TestCLIHealth checks clavis health against a ready node and an address
// where nothing listens.
func TestCLIHealth(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	code, stdout, stderr := runCmd(t.Context(), []string{"health", "--endpoint", n.URL}, nil)
	if code != exitOK || stdout != "ready\n" || stderr != "" {
		t.Fatalf("health = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	// The endpoint may come from the environment, as in the image.
	if code, _, stderr := runCmd(t.Context(), []string{"health"}, map[string]string{"CLAVIS_ENDPOINT": n.URL}); code != exitOK {
		t.Fatalf("health with CLAVIS_ENDPOINT = %d: %s", code, stderr)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	code, stdout, stderr = runCmd(t.Context(), []string{"health", "--endpoint", dead}, nil)
	if code != exitFailure || stdout != "" || !strings.Contains(stderr, "not ready") {
		t.Fatalf("health of nothing = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}
