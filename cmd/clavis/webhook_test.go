package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
)

// TestCLIWebhookCommands runs every webhook command against a node that
// delivers to a receiver on 127.0.0.1: tables, --json, the secret shown
// by create and rotate-secret only, --reason recorded, and the usage
// errors.
func TestCLIWebhookCommands(t *testing.T) {
	t.Parallel()
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(rcv.Close)
	cfg := testConfig(t, node.SQLite)
	cfg.WebhooksAllowPrivate = true
	n := startNode(t, cfg)
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme := uniqueSlug("wh")
	c.ok("tenant", "create", acme)
	in := func(args ...string) []string { return append(args, "--tenant", acme) }

	cols, rows := parseTable(t, c.ok(in("webhook", "create", "--url", rcv.URL+"/hook", "--type", "client.*", "--description", "ci", "--reason", "ticket 9")...))
	if strings.Join(cols, " ") != "ID URL TYPES ACTIVE VERSION CURSOR FAILURES LAST_STATUS NEXT_ATTEMPT SECRET" ||
		!strings.HasPrefix(rows[0]["ID"], "wh_") || rows[0]["TYPES"] != "client.*" || rows[0]["ACTIVE"] != "true" ||
		!strings.HasPrefix(rows[0]["SECRET"], "whsec_") {
		t.Fatalf("webhook create printed %v %v", cols, rows)
	}
	id, secret := rows[0]["ID"], rows[0]["SECRET"]

	got := c.json(in("webhook", "get", id)...)
	if got["id"] != id || got["secret"] != nil || got["description"] != "ci" {
		t.Fatalf("webhook get = %v", got)
	}
	out := c.ok(in("webhook", "list")...)
	if _, rows := parseTable(t, out); len(rows) != 1 || rows[0]["ID"] != id || strings.Contains(out, "whsec_") {
		t.Fatalf("webhook list printed\n%s", out)
	}
	if list := c.json(in("webhook", "list")...)["webhooks"].([]any); len(list) != 1 {
		t.Fatalf("webhook list --json = %v", list)
	}

	got = c.json(in("webhook", "update", id, "--description", "", "--type", "*", "--if-version", "1")...)
	if got["description"] != "" || got["version"] != 2.0 || got["types"].([]any)[0] != "*" {
		t.Fatalf("webhook update = %v", got)
	}
	c.fails(exitFailure, in("webhook", "update", id, "--description", "x", "--if-version", "1"), "412")
	c.fails(exitUsage, in("webhook", "update", id), "nothing to change")

	got = c.json(in("webhook", "rotate-secret", id, "--overlap", "1h")...)
	if s, _ := got["secret"].(string); !strings.HasPrefix(s, "whsec_") || s == secret || len(got["secrets"].([]any)) != 2 {
		t.Fatalf("webhook rotate-secret = %v", got)
	}
	c.fails(exitUsage, in("webhook", "rotate-secret", id, "--overlap", "-1s"), "must not be negative")
	c.fails(exitFailure, in("webhook", "rotate-secret", id, "--overlap", "200h"), "422", "overlap_seconds")

	_, rows = parseTable(t, c.ok(in("webhook", "deactivate", id, "--reason", "maintenance")...))
	if rows[0]["ACTIVE"] != "false" || rows[0]["DISABLED_REASON"] != "maintenance" {
		t.Fatalf("webhook deactivate printed %v", rows)
	}
	if got := c.json(in("webhook", "activate", id)...); got["active"] != true {
		t.Fatalf("webhook activate = %v", got)
	}

	cols, rows = parseTable(t, c.ok(in("webhook", "ping", id)...))
	if rows[0]["TRIGGER"] != "ping" || rows[0]["STATUS"] != "204" || cols[0] != "ID" {
		t.Fatalf("webhook ping printed %v %v", cols, rows)
	}
	cursor := c.json(in("webhook", "get", id)...)["delivery"].(map[string]any)["cursor"].(string)
	if got := c.json(in("webhook", "resend", id, cursor)...); got["trigger"] != "resend" || got["cursor"] != cursor || got["status"] != 204.0 {
		t.Fatalf("webhook resend = %v", got)
	}
	c.fails(exitFailure, in("webhook", "resend", id, "nope"), "422", "event")

	out = c.ok(in("webhook", "deliveries", id, "--limit", "1")...)
	if _, rows := parseTable(t, strings.Split(out, "more:")[0]); len(rows) != 1 || rows[0]["TRIGGER"] != "resend" || !strings.Contains(out, "more: --before ") {
		t.Fatalf("webhook deliveries printed\n%s", out)
	}
	all := c.json(in("webhook", "deliveries", id, "--limit", "1", "--all")...)["deliveries"].([]any)
	if len(all) < 2 {
		t.Fatalf("webhook deliveries --all = %v", all)
	}
	c.fails(exitUsage, in("webhook", "deliveries", id, "--limit", "0"), "--limit")

	c.fails(exitUsage, in("webhook", "replay", id), "--from is required")
	if got := c.json(in("webhook", "replay", id, "--from", "")...); got["id"] != id {
		t.Fatalf("webhook replay = %v", got)
	}
	c.fails(exitFailure, in("webhook", "replay", id, "--from", "yesterday"), "422", "from")

	// The audit log has the reason given to create, once it has caught
	// up with the store (it is a projection).
	var log []any
	poll.Until(t, 10*time.Second, "the webhook's events in the audit log", func() bool {
		log, _ = c.json(in("audit", "log", "--aggregate", "webhook")...)["events"].([]any)
		return len(log) > 0
	})
	if log[0].(map[string]any)["reason"] != "ticket 9" {
		t.Errorf("audit log of the webhook: %v", log)
	}

	if out := c.ok(in("webhook", "delete", id)...); out != "deleted "+id+"\n" {
		t.Fatalf("webhook delete printed %q", out)
	}
	c.fails(exitFailure, in("webhook", "get", id), "404")
	c.fails(exitUsage, in("webhook", "create"), "--url is required")
	c.fails(exitUsage, []string{"webhook", "list"}, "--tenant (or CLAVIS_TENANT) is required")
	c.fails(exitUsage, in("webhook", "resend", id), "want 2 argument(s)")
	c.fails(exitFailure, in("webhook", "create", "--url", "http://example.com/"), "422", "url")
}

// TestCLIWebhookHelp: the group and its commands have help.
func TestCLIWebhookHelp(t *testing.T) {
	t.Parallel()
	for args, want := range map[string][]string{
		"help webhook":            {"clavis webhook <command>", "rotate-secret", "deliveries", "replay", "resend", "ping"},
		"help webhook replay":     {"clavis webhook replay [flags] <id>", "-from", "-reason"},
		"webhook help create":     {"clavis webhook create [flags]", "-url", "-type", "-description"},
		"webhook resend --help":   {"clavis webhook resend [flags] <id> <cursor>"},
		"help":                    {"webhook <command>"},
		"help webhook deliveries": {"-before", "-all"},
	} {
		code, stdout, stderr := runCmd(t.Context(), strings.Fields(args), nil)
		if code != exitOK || stderr != "" {
			t.Errorf("clavis %s = %d\n%s%s", args, code, stdout, stderr)
			continue
		}
		for _, w := range want {
			if !strings.Contains(stdout, w) {
				t.Errorf("clavis %s: no %q in\n%s", args, w, stdout)
			}
		}
	}
}
