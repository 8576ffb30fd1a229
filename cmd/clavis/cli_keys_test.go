package main

import (
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
