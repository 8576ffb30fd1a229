package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/internal/node"
)

func TestCLIRotateKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme := uniqueSlug("keys")
	c.ok("tenant", "create", acme)

	first := c.json("tenant", "get", acme)["signing_keys"].([]any)
	if len(first) != 1 {
		t.Fatalf("a new tenant's keys = %v", first)
	}
	old := first[0].(map[string]any)["kid"].(string)

	// Bad input changes nothing.
	c.fails(exitFailure, []string{"tenant", "rotate-key", acme, "--alg", "HS256"}, "422", "alg")
	c.fails(exitFailure, []string{"tenant", "rotate-key", acme, "--lead", "25h"}, "422", "lead_seconds")
	c.fails(exitFailure, []string{"tenant", "rotate-key", uniqueSlug("nope")}, "404")
	c.fails(exitUsage, []string{"tenant", "rotate-key"}, "want 1 argument(s)")
	if got := c.json("tenant", "get", acme)["signing_keys"].([]any); len(got) != 1 {
		t.Fatalf("refused rotations changed the keys: %v", got)
	}

	rotated := c.json("tenant", "rotate-key", acme, "--alg", "EdDSA", "--lead", "0s")["signing_keys"].([]any)
	states := map[string]string{}
	for _, k := range rotated {
		k := k.(map[string]any)
		states[k["kid"].(string)] = k["alg"].(string) + " " + k["state"].(string)
	}
	if len(states) != 2 || states[old] != "ES256 retired" {
		t.Fatalf("after rotate-key: %v", states)
	}

	// The table shows each published key as "kid alg state".
	cols, rows := parseTable(t, c.ok("tenant", "rotate-key", acme))
	if strings.Join(cols, " ") != "SLUG ISSUER SIGNING_KEYS" || len(rows) != 1 ||
		!strings.Contains(rows[0]["SIGNING_KEYS"], old+" ES256 retired") || !strings.Contains(rows[0]["SIGNING_KEYS"], "EdDSA signing") ||
		!strings.Contains(rows[0]["SIGNING_KEYS"], "ES256 next") {
		t.Fatalf("rotate-key printed %v %v", cols, rows)
	}
}

func TestCLIRotateAuditKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme := uniqueSlug("audit")
	c.ok("tenant", "create", acme)
	published := func() []string {
		t.Helper()
		res, err := http.Get(n.URL + "/t/" + acme + "/audit/key")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET audit key = %d: %s", res.StatusCode, body)
		}
		return strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	}
	first := published()

	c.fails(exitFailure, []string{"tenant", "rotate-audit-key", uniqueSlug("nope")}, "404")
	c.fails(exitUsage, []string{"tenant", "rotate-audit-key"}, "want 1 argument(s)")

	key := c.json("tenant", "rotate-audit-key", acme)
	name, _ := key["name"].(string)
	verifier, _ := key["verifier"].(string)
	if !strings.HasSuffix(name, "/t/"+acme+"/audit") || !strings.HasPrefix(verifier, name+"+") || len(key) != 2 {
		t.Fatalf("rotate-audit-key printed %v", key)
	}
	if got := published(); len(got) != 2 || got[0] != verifier || got[1] != first[0] {
		t.Fatalf("published keys %q, want %q then %q", got, verifier, first[0])
	}

	cols, rows := parseTable(t, c.ok("tenant", "rotate-audit-key", acme))
	if strings.Join(cols, " ") != "NAME VERIFIER" || len(rows) != 1 || rows[0]["NAME"] != name || !strings.HasPrefix(rows[0]["VERIFIER"], name+"+") {
		t.Fatalf("rotate-audit-key printed %v %v", cols, rows)
	}
	if got := published(); len(got) != 3 || got[0] != rows[0]["VERIFIER"] {
		t.Fatalf("published keys %q after the second rotation", got)
	}
}
