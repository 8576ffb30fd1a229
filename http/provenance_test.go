package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/internal/node"
)

// provenance is what a client's history says of one change: who made
// it, why and from where.
type provenance struct {
	Actor     string `json:"actor"`
	Reason    string `json:"reason"`
	Source    string `json:"source"`
	UserAgent string `json:"user_agent"`
}

// lastChange is the provenance of the newest event of client id.
func (h *adminHarness) lastChange(t *testing.T, tenant, id string) provenance {
	t.Helper()
	hist := decodeAs[struct {
		Events []provenance `json:"events"`
	}](t, h.call(t, "GET", "/t/"+tenant+"/admin/clients/"+id+"/history", nil).want(t, 200))
	if len(hist.Events) == 0 {
		t.Fatalf("client %s has no history", id)
	}
	return hist.Events[len(hist.Events)-1]
}

// rename renames client id with the extra headers given.
func (h *adminHarness) rename(t *testing.T, tenant, id, name string, opts ...callOpt) response {
	t.Helper()
	opts = append([]callOpt{contentType("application/merge-patch+json")}, opts...)
	return h.call(t, "PATCH", "/t/"+tenant+"/admin/clients/"+id, map[string]any{"client_name": name}, opts...)
}

// TestWriteRecordsWhyAndFromWhere: a write's X-Clavis-Reason and
// User-Agent reach its event, and so does the peer's address; an
// X-Forwarded-For header from a peer that is not a trusted proxy (none
// is, by default) is ignored.
func TestWriteRecordsWhyAndFromWhere(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)

	h.rename(t, "acme", id, "Renamed", header(httpapi.ReasonHeader, "  ticket 42: rename — é  "),
		header("User-Agent", "ops-console/2.1 (é)"), header("X-Forwarded-For", "198.51.100.9")).want(t, 200)
	wantDiff(t, "rename", provenance{Actor: "root", Reason: "ticket 42: rename — é", Source: "127.0.0.1", UserAgent: "ops-console/2.1 (é)"},
		h.lastChange(t, "acme", id))

	// Without a reason the event has none; without a User-Agent neither.
	h.rename(t, "acme", id, "Again", header("User-Agent", "")).want(t, 200)
	wantDiff(t, "rename without reason", provenance{Actor: "root", Source: "127.0.0.1"}, h.lastChange(t, "acme", id))

	// A User-Agent over 512 bytes is cut on a character boundary.
	long := strings.Repeat("a", 511) + "é" + strings.Repeat("b", 100)
	h.rename(t, "acme", id, "Long agent", header("User-Agent", long)).want(t, 200)
	wantDiff(t, "long user agent", provenance{Actor: "root", Source: "127.0.0.1", UserAgent: strings.Repeat("a", 511)}, h.lastChange(t, "acme", id))
}

// TestTrustedProxyNamesTheClient: from a trusted proxy, the source is the
// right-most X-Forwarded-For address that is not itself a trusted proxy.
func TestTrustedProxyNamesTheClient(t *testing.T) {
	t.Parallel()
	h := startAdminWith(t, func(cfg *node.Config) { cfg.TrustedProxies = "127.0.0.1, ::1, 10.0.0.0/8" })
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	for i, tc := range []struct {
		name, forwarded, want string
	}{
		{"no header: the proxy itself", "", "127.0.0.1"},
		{"one client", "203.0.113.5", "203.0.113.5"},
		{"what the client wrote is to the left of its proxies'", "198.51.100.1, 203.0.113.5, 10.1.2.3", "203.0.113.5"},
		{"a malformed entry left of the client is never reached", "junk, 203.0.113.5", "203.0.113.5"},
		{"a malformed entry stops the walk at the last trusted hop", "203.0.113.5, junk, 10.1.2.3", "10.1.2.3"},
		{"only trusted hops: the left-most", "10.0.0.7, 10.1.2.3", "10.0.0.7"},
		{"IPv6 with a port", "[2001:db8::1]:443", "2001:db8::1"},
		{"IPv4 with a port", "203.0.113.9:4711", "203.0.113.9"},
		{"IPv4-mapped IPv6", "::ffff:203.0.113.10", "203.0.113.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []callOpt{header(httpapi.ReasonHeader, tc.name)}
			if tc.forwarded != "" {
				opts = append(opts, header("X-Forwarded-For", tc.forwarded))
			}
			h.rename(t, "acme", id, fmt.Sprintf("Name %d", i), opts...).want(t, 200)
			if got := h.lastChange(t, "acme", id); got.Source != tc.want || got.Reason != tc.name {
				t.Errorf("X-Forwarded-For %q: source %q (reason %q), want %q", tc.forwarded, got.Source, got.Reason, tc.want)
			}
		})
	}
	t.Run("two headers are read as one list", func(t *testing.T) {
		res := h.raw(t, "PATCH", "/t/acme/admin/clients/"+id, `{"client_name":"Two headers"}`,
			"Content-Type: application/merge-patch+json", "X-Forwarded-For: 198.51.100.1", "X-Forwarded-For: 203.0.113.77, 10.9.9.9")
		if res.status != 200 {
			t.Fatalf("status %d: %s", res.status, res.body)
		}
		if got := h.lastChange(t, "acme", id).Source; got != "203.0.113.77" {
			t.Errorf("source %q, want 203.0.113.77", got)
		}
	})
}

// raw sends one request with the root token and the header lines given,
// as written, on a connection of its own: net/http would refuse some of
// them, and joins repeated headers.
func (h *adminHarness) raw(t *testing.T, method, path, body string, lines ...string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: clavis\r\nAuthorization: Bearer %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, path, rootToken, len(body))
	for _, l := range lines {
		req.WriteString(l + "\r\n")
	}
	req.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: read the answer: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// TestActorOfATokenIsPrecise: a client acting for itself is recorded as
// client:{id}; a person acting through a client, with a token of the
// code flow, as user:{sub}@client:{id}.
func TestActorOfATokenIsPrecise(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	target := h.createClient(t, "acme", webClient("urn:acme/target"))["client_id"].(string)

	h.rename(t, "acme", target, "By the admin client", token(h.accessToken(t, "acme", adminID, adminSecret))).want(t, 200)
	if got := h.lastChange(t, "acme", target).Actor; got != "client:"+adminID {
		t.Errorf("client credentials token: actor %q, want client:%s", got, adminID)
	}

	// A console: a web client whose users may administer the tenant.
	body := webClient("urn:acme/console")
	body["default_scopes"] = []string{"openid", "clavis:admin"}
	console := h.createClient(t, "acme", body)
	tok := h.codeFlow(t, h.browser(t), clientConfig("acme", console, "openid"), "alice")
	h.rename(t, "acme", target, "By alice", token(tok.AccessToken), header(httpapi.ReasonHeader, "alice asked")).want(t, 200)
	want := provenance{Actor: "user:alice@client:" + console["client_id"].(string), Reason: "alice asked", Source: "127.0.0.1", UserAgent: "Go-http-client/1.1"}
	wantDiff(t, "a person through a client", want, h.lastChange(t, "acme", target))
}

// TestMalformedReasonChangesNothing: a reason header that is too long,
// holds a control character, is not UTF-8 or is given twice is a 400
// naming it, at every kind of write, and nothing is written.
func TestMalformedReasonChangesNothing(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)
	h.createTenant(t, "beta")
	before := h.head(t)

	for _, tc := range []struct{ name, line string }{
		{"too long", httpapi.ReasonHeader + ": " + strings.Repeat("x", httpapi.MaxReasonBytes+1)},
		{"too long in characters' bytes", httpapi.ReasonHeader + ": " + strings.Repeat("é", httpapi.MaxReasonBytes/2+1)},
		{"a tab", httpapi.ReasonHeader + ": one\ttwo"},
		{"a C1 control character", httpapi.ReasonHeader + ": one\u0085two"},
		{"a bidirectional override", httpapi.ReasonHeader + ": invoice \u202egnp.exe"},
		{"a bidirectional isolate", httpapi.ReasonHeader + ": one \u2067two\u2069"},
		{"not UTF-8", httpapi.ReasonHeader + ": one \xff two"},
		{"twice", httpapi.ReasonHeader + ": one\r\n" + httpapi.ReasonHeader + ": two"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range []struct{ method, path, body string }{
				{"PATCH", "/t/acme/admin/clients/" + id, `{"client_name":"Changed"}`},
				{"POST", "/admin/tenants", `{"slug":"gamma","name":"Gamma"}`},
				{"POST", "/admin/tenants/acme/suspend", ``},
				{"POST", "/t/acme/admin/clients/" + id + "/deactivate", `{"reason":"same"}`},
				{"DELETE", "/t/acme/admin/clients/" + id, ``},
			} {
				ct := "Content-Type: application/json"
				if w.method == "PATCH" {
					ct = "Content-Type: application/merge-patch+json"
				}
				r := h.raw(t, w.method, w.path, w.body, ct, tc.line)
				refusedWith(t, w.method+" "+w.path, r, httpapi.ProblemInvalidParameter, httpapi.ReasonHeader)
			}
			r := h.raw(t, "POST", "/t/acme/oauth2/register", `{"client_name":"X","grant_types":["client_credentials"]}`, "Content-Type: application/json", tc.line)
			if got := decodeAs[struct{ Error string }](t, r); r.status != 400 || got.Error != "invalid_request" {
				t.Errorf("registration: %d %s, want 400 invalid_request", r.status, r.body)
			}
		})
	}
	h.unchanged(t, before, "malformed reasons")

	// Where the body gives a reason too, two different ones are refused.
	r := h.call(t, "POST", "/t/acme/admin/clients/"+id+"/deactivate", map[string]any{"reason": "leaked"}, header(httpapi.ReasonHeader, "rotated"))
	refusedWith(t, "two reasons", r, httpapi.ProblemInvalidParameter, httpapi.ReasonHeader)
	r = h.call(t, "POST", "/admin/tenants/beta/suspend", map[string]any{"reason": "unpaid"}, header(httpapi.ReasonHeader, "fraud"))
	refusedWith(t, "two suspension reasons", r, httpapi.ProblemInvalidParameter, httpapi.ReasonHeader)
	h.unchanged(t, before, "two reasons")

	// The body's reason becomes the events' reason: it follows the
	// header's rules, so that no reason forges a line of the audit log.
	for _, bad := range []string{"routine\n42  2030-01-02T03:04:05Z  root  client.deleted", "a\ttab", "invoice \u202egnp.exe"} {
		for _, path := range []string{"/t/acme/admin/clients/" + id + "/deactivate", "/admin/tenants/beta/suspend"} {
			r := h.call(t, "POST", path, map[string]any{"reason": bad})
			if p := decodeAs[httpapi.Problem](t, r); r.status != 422 || len(p.Errors) != 1 || p.Errors[0].Field != "reason" {
				t.Errorf("POST %s with the reason %q: %d %s, want 422 naming reason", path, bad, r.status, r.body)
			}
		}
	}
	h.unchanged(t, before, "malformed body reasons")
}

// TestBodyAndHeaderReasonAgree: a reason in the header alone is the
// body's too; the same reason in both is accepted.
func TestBodyAndHeaderReasonAgree(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	id := h.createClient(t, "acme", webClient("urn:acme/web"))["client_id"].(string)

	got := h.call(t, "POST", "/t/acme/admin/clients/"+id+"/deactivate", nil, header(httpapi.ReasonHeader, "leaked secret")).want(t, 200).object(t)
	if got["deactivation_reason"] != "leaked secret" {
		t.Errorf("deactivation_reason = %v, want the header's", got["deactivation_reason"])
	}
	if p := h.lastChange(t, "acme", id); p.Reason != "leaked secret" {
		t.Errorf("event reason %q, want the header's", p.Reason)
	}
	h.call(t, "POST", "/t/acme/admin/clients/"+id+"/activate", nil).want(t, 200)
	h.call(t, "POST", "/t/acme/admin/clients/"+id+"/deactivate", map[string]any{"reason": " same "}, header(httpapi.ReasonHeader, "same")).want(t, 200)
	if p := h.lastChange(t, "acme", id); p.Reason != "same" {
		t.Errorf("event reason %q, want same", p.Reason)
	}
	tenant := h.call(t, "POST", "/admin/tenants/acme/suspend", nil, header(httpapi.ReasonHeader, "unpaid")).want(t, 200).object(t)
	if tenant["suspension_reason"] != "unpaid" {
		t.Errorf("suspension_reason = %v, want the header's", tenant["suspension_reason"])
	}
}

// TestRegistrationRecordsWhyAndFromWhere: the registration endpoints keep
// their actors (the initial access token's, then the client's own) and
// record the reason, source and user agent too.
func TestRegistrationRecordsWhyAndFromWhere(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	iat := token(h.accessToken(t, "acme", adminID, adminSecret))
	reg := decodeAs[registration](t, h.call(t, "POST", "/t/acme/oauth2/register", map[string]any{
		"client_name": "Worker", "grant_types": []string{"client_credentials"},
	}, iat, header(httpapi.ReasonHeader, "onboarding"), header("User-Agent", "dcr-tool/1")).want(t, 201))
	wantDiff(t, "registration", provenance{Actor: "client:" + adminID, Reason: "onboarding", Source: "127.0.0.1", UserAgent: "dcr-tool/1"},
		h.lastChange(t, "acme", reg.ClientID))

	h.call(t, "PUT", "/t/acme/oauth2/register/"+reg.ClientID, map[string]any{"client_name": "Worker 2", "grant_types": []string{"client_credentials"}},
		token(*reg.RegistrationAccessToken), header(httpapi.ReasonHeader, "renamed itself"), header("User-Agent", "dcr-tool/2")).want(t, 200)
	wantDiff(t, "re-registration", provenance{Actor: "client:" + reg.ClientID, Reason: "renamed itself", Source: "127.0.0.1", UserAgent: "dcr-tool/2"},
		h.lastChange(t, "acme", reg.ClientID))
}
