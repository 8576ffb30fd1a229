package tenants_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/tenants"
)

func TestHistory(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "other")
		reg, err := e.clients.Register(ctx, req, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID
		e.clock.Advance(time.Minute)
		added, err := e.clients.AddSecret(ctx, req, "acme", id, "second", nil)
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := e.clients.RotateSecret(ctx, req, "acme", id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.clients.Update(ctx, req, "acme", id, client.Patch{ClientName: ptr("Renamed")}, 0); err != nil {
			t.Fatal(err)
		}
		deactivation := req
		deactivation.Reason = "incident 42"
		if _, err := e.clients.Deactivate(ctx, deactivation, "acme", id, "leaked"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.clients.Delete(ctx, req, "acme", id); err != nil {
			t.Fatal(err)
		}

		h, err := e.clients.History(ctx, "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		for i, entry := range h {
			types = append(types, entry.Type)
			if entry.Version != int64(i+1) || entry.Actor != "root" || entry.CorrelationID != "corr-1" || entry.EventID == "" || entry.Time.IsZero() || entry.RecordedAt.IsZero() {
				t.Errorf("entry %d = %+v", i, entry)
			}
			data := string(entry.Data)
			for _, s := range []string{reg.Secret.Value, added.Secret.Value, rotated.Secret.Value, "cls_", secret.HashPrefix} {
				if strings.Contains(data, s) {
					t.Errorf("%s data holds secret material: %s", entry.Type, data)
				}
			}
			if !json.Valid(entry.Data) {
				t.Errorf("%s data is not JSON", entry.Type)
			}
		}
		want := []string{"client.registered", "client.secret_added", "client.secret_rotated", "client.updated", "client.deactivated", "client.deleted"}
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Errorf("types = %v, want %v", types, want)
		}
		if !strings.Contains(string(h[0].Data), `"hash":"[REDACTED]"`) || !strings.Contains(string(h[1].Data), `"hash":"[REDACTED]"`) ||
			!strings.Contains(string(h[2].Data), `"hash":"[REDACTED]"`) {
			t.Errorf("hashes are not marked redacted: %s %s %s", h[0].Data, h[1].Data, h[2].Data)
		}
		if !h[1].Time.Equal(e.clock.Now()) || !h[0].Time.Equal(e.clock.Now().Add(-time.Minute)) {
			t.Errorf("times = %v, %v", h[0].Time, h[1].Time)
		}
		if h[4].Reason != "incident 42" || !strings.Contains(string(h[4].Data), `"reason":"leaked"`) {
			t.Errorf("deactivation = %+v", h[4])
		}
		if !strings.Contains(string(h[3].Data), `"changed":["client_name"]`) {
			t.Errorf("update data = %s", h[3].Data)
		}

		// The stored events still hold their hashes: redaction is on the
		// way out only.
		stored := e.loadClient(t, "acme", id).Secrets()
		if len(stored) != 3 || !secret.Verify(stored[0].Hash, reg.Secret.Value) ||
			!secret.Verify(stored[1].Hash, added.Secret.Value) || !secret.Verify(stored[2].Hash, rotated.Secret.Value) {
			t.Errorf("the stored hashes changed: %v", stored)
		}

		for _, tc := range []struct{ tenant, id string }{{"other", id}, {"nope", id}, {"acme", "nope"}, {"acme", ""}} {
			if _, err := e.clients.History(ctx, tc.tenant, tc.id); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("history %s/%s: %v, want not found", tc.tenant, tc.id, err)
			}
		}
	})
}

func TestStoreCatalogues(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		e.createTenant(t, "other")
		api := client.DefaultSettings(client.TypeM2M)
		api.ClientName, api.Code, api.APIScopes = "API", "urn:acme/api", []string{"read"}
		reg, err := e.clients.Register(ctx, req, "acme", api)
		if err != nil {
			t.Fatal(err)
		}
		e.settle(t)
		cat, err := tenants.StoreCatalogues(e.store).Catalogue(ctx, "acme")
		if err != nil || !cat.Has("urn:acme/api:read") || !cat.Has("openid") || cat.Has("urn:acme/api:write") {
			t.Fatalf("catalogue = %v, %v", cat.List(), err)
		}
		// Another client may now be given the API's scope; another
		// tenant's client may not.
		web := webApp("urn:acme/web")
		web.DefaultScopes = []string{"urn:acme/api:read"}
		if _, err := e.clients.Register(ctx, req, "acme", web); err != nil {
			t.Fatalf("use the API scope: %v", err)
		}
		e.settle(t)
		_, err = e.clients.Register(ctx, req, "other", web)
		wantProblem(t, err, "default_scopes[0]", "unknown_scope")
		// Once the resource server is deleted, its scopes are gone.
		if _, err := e.clients.Delete(ctx, req, "acme", reg.Client.ClientID); err != nil {
			t.Fatal(err)
		}
		e.settle(t)
		cat, err = tenants.StoreCatalogues(e.store).Catalogue(ctx, "acme")
		if err != nil || cat.Has("urn:acme/api:read") {
			t.Fatalf("catalogue after delete = %v, %v", cat.List(), err)
		}
	})
}

// TestHistoryShowsWhereAChangeCameFrom: a command's source address and
// user agent reach its events; an oversized or malformed user agent is
// kept as valid UTF-8, cut on a character boundary at the limit.
func TestHistoryShowsWhereAChangeCameFrom(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		from := req
		from.Source, from.UserAgent = "2001:db8::7", "curl/8.5.0"
		reg, err := e.clients.Register(ctx, from, "acme", webApp("urn:acme/web"))
		if err != nil {
			t.Fatal(err)
		}
		id := reg.Client.ClientID
		long := req
		long.Source = "203.0.113.7"
		// 511 ASCII bytes, then a two-byte character that would end past
		// the limit: the cut falls before it.
		long.UserAgent = strings.Repeat("a", 511) + "é" + "tail"
		if _, err := e.clients.Update(ctx, long, "acme", id, client.Patch{ClientName: ptr("Renamed")}, 0); err != nil {
			t.Fatal(err)
		}
		bad := req
		bad.UserAgent = "odd\xff\x00agent"
		if _, err := e.clients.Update(ctx, bad, "acme", id, client.Patch{ClientName: ptr("Again")}, 0); err != nil {
			t.Fatal(err)
		}
		h, err := e.clients.History(ctx, "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		type where struct{ Source, UserAgent string }
		var got []where
		for _, entry := range h {
			got = append(got, where{entry.Source, entry.UserAgent})
		}
		want := []where{
			{"2001:db8::7", "curl/8.5.0"},
			{"203.0.113.7", strings.Repeat("a", 511)},
			{"", "odd\uFFFD\uFFFDagent"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("history sources (-want +got):\n%s", diff)
		}
	})
}
