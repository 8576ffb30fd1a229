package main

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/internal/node"
)

// TestCLIReasonIsRecorded: every write command takes --reason, which the
// events it causes record, with the CLI's user agent and the address it
// called from.
func TestCLIReasonIsRecorded(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme := uniqueSlug("why")
	c.ok("tenant", "create", acme, "--reason", "new customer")
	id := c.json("client", "create", "--tenant", acme, "--type", "m2m", "--name", "Worker", "--grant-type", "client_credentials", "--code", "urn:acme/worker",
		"--reason", "CHG-1 create")["client_id"].(string)
	c.ok("client", "update", id, "--tenant", acme, "--name", "Worker 2", "--reason", "CHG-2 rename")
	c.ok("client", "rotate-secret", id, "--tenant", acme)
	c.ok("client", "deactivate", id, "--tenant", acme, "--reason", "CHG-3 paused")
	c.ok("client", "activate", id, "--tenant", acme, "--reason", "CHG-4 resumed")

	var h struct {
		Events []struct {
			Type      string `json:"type"`
			Actor     string `json:"actor"`
			Reason    string `json:"reason"`
			Source    string `json:"source"`
			UserAgent string `json:"user_agent"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(c.ok("client", "history", id, "--tenant", acme, "--json")), &h); err != nil {
		t.Fatal(err)
	}
	type change struct{ Type, Reason string }
	var got []change
	for _, e := range h.Events {
		got = append(got, change{e.Type, e.Reason})
		if e.Actor != "root" || e.Source != "127.0.0.1" || e.UserAgent != "clavis/"+version {
			t.Errorf("%s: actor %q, source %q, user agent %q; want root, 127.0.0.1, clavis/%s", e.Type, e.Actor, e.Source, e.UserAgent, version)
		}
	}
	want := []change{
		{"client.registered", "CHG-1 create"},
		{"client.updated", "CHG-2 rename"},
		{"client.secret_rotated", ""},
		{"client.deactivated", "CHG-3 paused"},
		{"client.activated", "CHG-4 resumed"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history reasons (-want +got):\n%s", diff)
	}
	if got := c.json("client", "get", id, "--tenant", acme); got["active"] != true {
		t.Errorf("client get = %v", got)
	}

	// A reason the header cannot carry is refused before anything is sent.
	c.fails(exitUsage, []string{"client", "update", id, "--tenant", acme, "--name", "X", "--reason", "two\nlines"}, "--reason")
	// A reason the server refuses changes nothing.
	long := make([]byte, 1001)
	for i := range long {
		long[i] = 'x'
	}
	c.fails(exitFailure, []string{"client", "update", id, "--tenant", acme, "--name", "X", "--reason", string(long)}, "400", "X-Clavis-Reason")
	if got := c.json("client", "get", id, "--tenant", acme); got["client_name"] != "Worker 2" {
		t.Errorf("a refused update changed the client: %v", got)
	}
}
