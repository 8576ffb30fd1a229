package httpapi_test

import (
	"context"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/eventstore"
	httpapi "github.com/clavisiam/clavis/http"
	"github.com/clavisiam/clavis/tenants"
)

// auditorClient is an m2m client whose only scope is clavis:audit.
func auditorClient(code string) map[string]any {
	return map[string]any{"type": "m2m", "client_name": "Auditor " + code, "code": code,
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:audit"}}
}

// stream reads a client's stored events, with their positions and
// recording times.
func (h *adminHarness) stream(t *testing.T, tenant, id string) []eventstore.Event {
	t.Helper()
	events, err := h.store.ReadStream(context.Background(), tenants.ClientStream(tenant, id), 0)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

// withoutAt decodes a client answer, leaving out the instant it echoes.
func withoutAt(t *testing.T, r response) map[string]any {
	t.Helper()
	m := r.object(t)
	delete(m, "at")
	return m
}

// noSecretMaterial fails when an answer shows a secret, a secret's hash
// or any hash stored in events.
func noSecretMaterial(t *testing.T, what string, r response, hashes []string) {
	t.Helper()
	body := string(r.body)
	for _, bad := range append([]string{`"client_secret"`, `"client_secret_id"`, `"hash"`, "cls_"}, hashes...) {
		if strings.Contains(body, bad) {
			t.Errorf("%s shows secret material %q: %s", what, bad, body)
		}
	}
}

var storedHash = regexp.MustCompile(`"hash":"([^"]+)"`)

// storedHashes lists every secret hash the events of the streams hold.
func storedHashes(events ...[]eventstore.Event) []string {
	var out []string
	for _, list := range events {
		for _, e := range list {
			for _, m := range storedHash.FindAllStringSubmatch(string(e.Data), -1) {
				out = append(out, m[1])
			}
		}
	}
	return out
}

// TestClientAt changes a client through its whole life and asks for it
// at each event's position and at recorded times between events: each
// answer is what the admin GET answered right after that change, but
// for the instant it echoes.
func TestClientAt(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	base := "/t/acme/admin/clients/"

	// The admin GET right after each change, by version.
	seen := map[int64]map[string]any{}
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	id := c.ClientID
	snap := func() {
		t.Helper()
		m := h.call(t, "GET", base+id, nil).want(t, 200).object(t)
		seen[int64(m["version"].(float64))] = m
	}
	snap()
	h.call(t, "PATCH", base+id, map[string]any{"client_name": "Web, renamed", "default_scopes": []string{"openid"}}, contentType("application/merge-patch+json")).want(t, 200)
	snap()
	h.call(t, "POST", base+id+"/secrets/rotate", map[string]any{"overlap_seconds": 3600}).want(t, 200)
	snap()
	h.call(t, "POST", base+id+"/deactivate", map[string]any{"reason": "audit test"}).want(t, 200)
	snap()
	h.call(t, "PATCH", base+id, map[string]any{"client_uri": "https://app.example.com"}, contentType("application/merge-patch+json")).want(t, 200)
	snap()
	last := h.call(t, "GET", base+id, nil).want(t, 200).object(t)
	h.call(t, "DELETE", base+id, nil).want(t, 204)
	h.call(t, "GET", base+id, nil).want(t, 404)

	events := h.stream(t, "acme", id)
	if len(events) != 6 {
		t.Fatalf("the client's stream has %d events, want 6: %v", len(events), events)
	}
	hashes := storedHashes(events)
	if len(hashes) < 2 {
		t.Fatalf("the stream holds %d secret hashes, want the two secrets'", len(hashes))
	}
	tenantEvents, err := h.store.ReadStream(context.Background(), tenants.TenantStream("acme"), 0)
	if err != nil {
		t.Fatal(err)
	}

	paths := map[string]string{"admin": base + id, "audit": "/t/acme/audit/clients/" + id}
	ask := func(t *testing.T, path, at string) response {
		t.Helper()
		r := h.call(t, "GET", path+"?at="+url.QueryEscape(at), nil)
		noSecretMaterial(t, path+"?at="+at, r, hashes)
		return r
	}

	compared := 0
	for _, e := range events[:5] {
		want, ok := seen[e.Version]
		if !ok {
			t.Fatalf("no admin answer recorded for version %d", e.Version)
		}
		instants := map[string]string{"position": e.Position.String(), "recorded time": e.RecordedAt.Format(time.RFC3339Nano)}
		if next := events[e.Version]; next.RecordedAt.Sub(e.RecordedAt) > time.Microsecond {
			between := e.RecordedAt.Add(next.RecordedAt.Sub(e.RecordedAt) / 2)
			instants["time between events"] = between.Format(time.RFC3339Nano)
		}
		for kind, at := range instants {
			for api, path := range paths {
				t.Run(api+" at version "+strconv.FormatInt(e.Version, 10)+" by "+kind, func(t *testing.T) {
					r := ask(t, path, at).want(t, 200)
					if diff := cmp.Diff(want, withoutAt(t, r)); diff != "" {
						t.Errorf("at %s (-admin GET then +answer):\n%s", at, diff)
					}
					if got := r.object(t)["at"]; got != at {
						t.Errorf("at = %v, want %q echoed", got, at)
					}
					if r.header.Get("ETag") != "" {
						t.Errorf("a past state has an ETag: %q", r.header.Get("ETag"))
					}
				})
				compared++
			}
		}
	}
	if compared < 20 {
		t.Errorf("only %d comparisons", compared)
	}

	t.Run("deleted by then: as it was when deleted, marked", func(t *testing.T) {
		del := events[5]
		for _, at := range []string{del.Position.String(), del.RecordedAt.Format(time.RFC3339Nano), "2999-01-01T00:00:00Z", "9223372036854775807.0"} {
			for api, path := range paths {
				got := withoutAt(t, ask(t, path, at).want(t, 200))
				want := map[string]any{}
				for k, v := range last {
					want[k] = v
				}
				var deleted struct{ At time.Time }
				if err := json.Unmarshal(del.Data, &deleted); err != nil {
					t.Fatal(err)
				}
				when := deleted.At.Format(time.RFC3339Nano)
				want["active"], want["version"], want["updated_at"], want["deleted"], want["deleted_at"] = false, float64(6), when, true, when
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s at %s (-last admin GET, deleted +answer):\n%s", api, at, diff)
				}
			}
		}
	})
	t.Run("not created yet, or before the tenant existed: not found", func(t *testing.T) {
		tenantLast := tenantEvents[len(tenantEvents)-1].Position
		if !tenantLast.Less(events[0].Position) {
			t.Fatalf("the tenant's last event %v is not before the client's first %v", tenantLast, events[0].Position)
		}
		for _, at := range []string{tenantLast.String(), events[0].RecordedAt.Add(-time.Microsecond).Format(time.RFC3339Nano),
			tenantEvents[0].RecordedAt.Add(-time.Second).Format(time.RFC3339Nano), "2000-01-01T00:00:00Z", "0.0"} {
			for _, path := range paths {
				checkProblem(t, ask(t, path, at), 404, httpapi.ProblemNotFound, "")
			}
		}
		checkProblem(t, ask(t, "/t/acme/audit/clients/nope", "2999-01-01T00:00:00Z"), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, ask(t, "/t/nope/audit/clients/"+id, "2999-01-01T00:00:00Z"), 404, httpapi.ProblemNotFound, "")
		checkProblem(t, ask(t, "/t/acme/audit/clients", "2000-01-01T00:00:00Z"), 404, httpapi.ProblemNotFound, "")
	})
	t.Run("a malformed instant is a 400 naming at, and changes nothing", func(t *testing.T) {
		before := h.head(t)
		for _, at := range []string{"yesterday", "2030-01-02T03:04:05", "2030-01-02", "2030-01-02T03:04:05 01:00", "1", "1.", ".1", "-1.2", "1.2.3", "0x1.2", "99999999999999999999.0"} {
			for api, path := range map[string]string{"admin": paths["admin"], "audit": paths["audit"], "audit list": "/t/acme/audit/clients"} {
				refusedWith(t, api+" at="+at, ask(t, path, at), httpapi.ProblemInvalidParameter, "at")
			}
		}
		h.unchanged(t, before, "a malformed at")
	})
	t.Run("without at, the admin GET is the read model's and the audit GET is now", func(t *testing.T) {
		live, _ := h.newClient(t, "acme", spaClient("urn:acme/spa"))
		now := h.call(t, "GET", base+live.ClientID, nil).want(t, 200)
		if now.header.Get("ETag") != `"1"` {
			t.Errorf("ETag = %q", now.header.Get("ETag"))
		}
		if _, ok := now.object(t)["at"]; ok {
			t.Errorf("the admin GET without at echoes an instant: %s", now.body)
		}
		for _, at := range []string{"", "2999-01-01T00:00:00Z"} {
			got := h.call(t, "GET", "/t/acme/audit/clients/"+live.ClientID+"?at="+at, nil).want(t, 200)
			if diff := cmp.Diff(now.object(t), withoutAt(t, got)); diff != "" {
				t.Errorf("at %q (-admin GET +audit):\n%s", at, diff)
			}
		}
	})
}

// TestClientsAt lists a tenant's clients at instants: every client
// created by then, each as GET of one client at the same instant shows
// it, deleted ones marked, page after page.
func TestClientsAt(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, _ := h.tenantAdmin(t, "acme")
	var ids []string
	for _, code := range []string{"a", "b", "c", "d"} {
		c, _ := h.newClient(t, "acme", webClient("urn:acme/"+code))
		ids = append(ids, c.ClientID)
	}
	mid := h.stream(t, "acme", ids[3])[0].Position // after a, b, c, d were created
	h.call(t, "DELETE", "/t/acme/admin/clients/"+ids[1], nil).want(t, 204)
	h.call(t, "PATCH", "/t/acme/admin/clients/"+ids[0], map[string]any{"client_name": "A, renamed"}, contentType("application/merge-patch+json")).want(t, 200)
	late, _ := h.newClient(t, "acme", webClient("urn:acme/late"))
	hashes := storedHashes(h.stream(t, "acme", ids[0]), h.stream(t, "acme", ids[1]), h.stream(t, "acme", late.ClientID))

	type item struct {
		ID      string
		Deleted bool
		Version float64
	}
	for _, c := range []struct {
		name string
		at   string
		want []item
	}{
		{"before the changes", mid.String(), []item{{ids[0], false, 1}, {ids[1], false, 1}, {ids[2], false, 1}, {ids[3], false, 1}, {adminID, false, 1}}},
		{"now", "2999-01-01T00:00:00Z", []item{{ids[0], false, 2}, {ids[1], true, 2}, {ids[2], false, 1}, {ids[3], false, 1}, {adminID, false, 1}, {late.ClientID, false, 1}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, limit := range []int{1, 2, 50} {
				var got []item
				after := ""
				for pages := 0; ; pages++ {
					if pages > 10 {
						t.Fatal("the pages do not end")
					}
					r := h.call(t, "GET", "/t/acme/audit/clients?at="+url.QueryEscape(c.at)+"&limit="+strconv.Itoa(limit)+"&after="+after, nil).want(t, 200)
					noSecretMaterial(t, "list", r, hashes)
					var page struct {
						At         string           `json:"at"`
						Clients    []map[string]any `json:"clients"`
						NextCursor *string          `json:"next_cursor"`
					}
					if err := json.Unmarshal(r.body, &page); err != nil {
						t.Fatal(err)
					}
					if page.At != c.at {
						t.Errorf("at = %q, want %q", page.At, c.at)
					}
					for _, m := range page.Clients {
						id := m["client_id"].(string)
						one := withoutAt(t, h.call(t, "GET", "/t/acme/audit/clients/"+id+"?at="+url.QueryEscape(c.at), nil).want(t, 200))
						if diff := cmp.Diff(one, m); diff != "" {
							t.Errorf("%s in the list (-one +list):\n%s", id, diff)
						}
						del, _ := m["deleted"].(bool)
						got = append(got, item{id, del, m["version"].(float64)})
					}
					if page.NextCursor == nil {
						break
					}
					after = url.QueryEscape(*page.NextCursor)
				}
				want := append([]item(nil), c.want...)
				slices.SortFunc(want, func(a, b item) int { return strings.Compare(a.ID, b.ID) })
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("limit %d (-want +got):\n%s", limit, diff)
				}
			}
		})
	}
}

// TestAuditorToken: an m2m client with clavis:audit, which only a token
// holding clavis:audit creates, reads the audit API and nothing else;
// another tenant's auditor sees nothing of this one.
func TestAuditorToken(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	betaID, betaSecret := h.tenantAdmin(t, "beta")
	admin := token(h.accessToken(t, "acme", adminID, adminSecret))
	writer, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Writer", "code": "urn:acme/writer",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:clients:write"}})
	writes := token(h.accessToken(t, "acme", writer.ClientID, writer.ClientSecret))
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))

	t.Run("only a token holding clavis:audit gives a client clavis:audit", func(t *testing.T) {
		before := h.head(t)
		checkProblem(t, h.call(t, "POST", "/t/acme/admin/clients", auditorClient("urn:acme/auditor"), writes), 403, httpapi.ProblemForbidden, "default_scopes")
		h.unchanged(t, before, "clavis:clients:write creating an auditor")
	})
	auditor, _ := h.newClient(t, "acme", auditorClient("urn:acme/auditor"), admin)
	audits := token(h.accessToken(t, "acme", auditor.ClientID, auditor.ClientSecret))
	betaAdmin := token(h.accessToken(t, "beta", betaID, betaSecret))
	betaAuditor, _ := h.newClient(t, "beta", auditorClient("urn:beta/auditor"), betaAdmin)
	betaAudits := token(h.accessToken(t, "beta", betaAuditor.ClientID, betaAuditor.ClientSecret))

	audit := []string{"/t/acme/audit/clients", "/t/acme/audit/clients/" + web.ClientID, "/t/acme/audit/clients/" + web.ClientID + "?at=2999-01-01T00:00:00Z"}
	t.Run("the auditor reads the audit API", func(t *testing.T) {
		for _, path := range audit {
			noSecretMaterial(t, path, h.call(t, "GET", path, nil, audits).want(t, 200), nil)
		}
	})
	t.Run("so does the admin token, and the root token", func(t *testing.T) {
		for _, path := range audit {
			h.call(t, "GET", path, nil, admin).want(t, 200)
			h.call(t, "GET", path, nil).want(t, 200)
		}
	})
	t.Run("clavis:clients:write does not open the audit API", func(t *testing.T) {
		for _, path := range audit {
			r := h.call(t, "GET", path, nil, writes)
			checkProblem(t, r, 403, httpapi.ProblemForbidden, "")
			if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
				t.Errorf("403 without insufficient_scope: %v", r.header)
			}
		}
	})
	t.Run("another tenant's auditor: not found", func(t *testing.T) {
		for _, path := range audit {
			checkProblem(t, h.call(t, "GET", path, nil, betaAudits), 404, httpapi.ProblemNotFound, "")
		}
		h.call(t, "GET", "/t/beta/audit/clients", nil, betaAudits).want(t, 200)
	})
	t.Run("the auditor gets 403 insufficient_scope on every admin and platform route, the login API and registration", func(t *testing.T) {
		before := h.head(t)
		values := map[string]string{"slug": "acme", "tenant": "acme", "client_id": web.ClientID, "secret_id": "sec", "challenge": "ch", "webhook_id": "wh_none"}
		param := regexp.MustCompile(`\{([a-z_]+)\}`)
		checked := 0
		for tpl, item := range h.k.doc["paths"].(map[string]any) {
			if !strings.HasPrefix(tpl, "/admin/") && !strings.HasPrefix(tpl, "/t/{tenant}/admin/") && tpl != "/t/{tenant}/oauth2/register" {
				continue
			}
			path := param.ReplaceAllStringFunc(tpl, func(m string) string { return values[m[1:len(m)-1]] })
			for method := range item.(map[string]any) {
				method = strings.ToUpper(method)
				r := h.call(t, method, path, map[string]any{"client_name": "x"}, audits)
				checkProblem(t, r, 403, httpapi.ProblemForbidden, "")
				if !strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
					t.Errorf("%s %s: 403 without insufficient_scope: %v", method, tpl, r.header)
				}
				checked++
			}
		}
		if checked < 30 {
			t.Errorf("only %d operations checked", checked)
		}
		h.unchanged(t, before, "the auditor's token outside the audit API")
	})
}
