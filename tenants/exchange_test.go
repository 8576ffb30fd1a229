package tenants_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/client/secret"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/tenants"
)

// seedTenant makes tenant slug with a few clients of every kind, one of
// them inactive and one deleted, and a resource server whose API scope
// another client uses.
func (e *env) seedTenant(t *testing.T, slug string) {
	t.Helper()
	ctx := t.Context()
	e.createTenant(t, slug)
	api := client.DefaultSettings(client.TypeM2M)
	api.ClientName, api.Code, api.APIScopes = "Orders API", "urn:"+slug+"/orders", []string{"read", "write"}
	if _, err := e.clients.Register(ctx, req, slug, api); err != nil {
		t.Fatal(err)
	}
	e.settle(t) // the catalogue is read from the store
	web := webApp("urn:" + slug + "/web")
	web.DefaultScopes = append(web.DefaultScopes, "urn:"+slug+"/orders:read")
	web.PairwiseSubjectSalt = "pepper"
	if _, err := e.clients.Register(ctx, req, slug, web); err != nil {
		t.Fatal(err)
	}
	s, err := e.clients.Register(ctx, req, slug, spa("urn:"+slug+"/spa"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.clients.Deactivate(ctx, req, slug, s.Client.ClientID, "paused"); err != nil {
		t.Fatal(err)
	}
	gone, err := e.clients.Register(ctx, req, slug, spa("urn:"+slug+"/gone"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.clients.Delete(ctx, req, slug, gone.Client.ClientID); err != nil {
		t.Fatal(err)
	}
	e.settle(t)
}

func TestExport(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		e.seedTenant(t, "acme")
		pkg, err := e.clients.Export(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if pkg.Format != tenants.PackageFormat || pkg.Tenant != "acme" || !pkg.ExportedAt.Equal(e.clock.Now()) {
			t.Errorf("package header = %s %s %v", pkg.Format, pkg.Tenant, pkg.ExportedAt)
		}
		var codes []string
		for _, c := range pkg.Clients {
			codes = append(codes, c.Settings.Code)
			if c.Settings.Code == "urn:acme/spa" && c.Active {
				t.Error("the inactive client is exported active")
			}
		}
		if want := []string{"urn:acme/orders", "urn:acme/web", "urn:acme/spa"}; !slices.Equal(codes, want) {
			t.Errorf("exported codes = %v, want %v (live clients but the admin client, registration order)", codes, want)
		}
		data, err := json.Marshal(pkg)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"cls_", secret.HashPrefix, `"hash"`, `"secrets"`, "sec_"} {
			if strings.Contains(string(data), bad) {
				t.Errorf("the export holds %q: %s", bad, data)
			}
		}
		var generic map[string]any
		if err := json.Unmarshal(data, &generic); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"format", "tenant", "exported_at", "clients"} {
			if _, ok := generic[k]; !ok {
				t.Errorf("the export has no %q", k)
			}
		}
		if _, err := e.clients.Export(t.Context(), "nope"); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("export an unknown tenant: %v", err)
		}
	})
}

func TestImportIsIdempotent(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.seedTenant(t, "acme")
		e.createTenant(t, "beta")
		pkg, err := e.clients.Export(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := json.Marshal(pkg)

		// Into the same tenant: nothing to do.
		before := e.head(t)
		rep, err := importJSON(ctx, e.clients.Import, "acme", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Clients {
			if r.Action != tenants.ActionUnchanged || r.Secret != nil || len(r.Changed) != 0 {
				t.Errorf("re-import into the source: %+v", r)
			}
		}
		if rep.Format != tenants.PackageFormat || !rep.Position.IsZero() || len(rep.Clients) != 3 {
			t.Errorf("report = %+v", rep)
		}
		e.unchanged(t, before)

		// Into another tenant: created with new ids, secrets where needed,
		// the inactive one inactive.
		rep, err = importJSON(ctx, e.clients.Import, "beta", data)
		if err != nil {
			t.Fatal(err)
		}
		byCode := map[string]tenants.ImportResult{}
		for _, r := range rep.Clients {
			byCode[r.Code] = r
		}
		for _, code := range []string{"urn:acme/orders", "urn:acme/web", "urn:acme/spa"} {
			r := byCode[code]
			if r.Action != tenants.ActionCreate || r.ClientID == "" || r.Version == 0 {
				t.Errorf("%s: %+v", code, r)
			}
			for _, src := range pkg.Clients {
				if src.Settings.Code == code && src.ClientID == r.ClientID {
					t.Errorf("%s kept its id %s: ids are never reused", code, r.ClientID)
				}
			}
			stored := e.loadClient(t, "beta", r.ClientID)
			if code == "urn:acme/spa" {
				if r.Secret != nil || stored.Active() {
					t.Errorf("spa: secret %v, active %v", r.Secret, stored.Active())
				}
				continue
			}
			if r.Secret == nil || !secret.Verify(stored.Secrets()[0].Hash, r.Secret.Value) {
				t.Errorf("%s: no usable new secret", code)
			}
		}
		if got := e.loadClient(t, "beta", byCode["urn:acme/web"].ClientID).Settings(); len(got.PairwiseSubjectSalt) < 22 || got.PairwiseSubjectSalt == "pepper" || !slices.Contains(got.DefaultScopes, "urn:acme/orders:read") {
			// Pairwise subjects travel, the secret salt does not: the new
			// client has one of its own.
			t.Errorf("web settings did not travel: %+v", got)
		}

		// Twice: nothing.
		before = e.head(t)
		rep, err = importJSON(ctx, e.clients.Import, "beta", data)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Clients {
			if r.Action != tenants.ActionUnchanged {
				t.Errorf("second import: %+v", r)
			}
		}
		e.unchanged(t, before)
	})
}

func TestImportUpdatesAndDryRun(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.seedTenant(t, "acme")
		pkg, err := e.clients.Export(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		var webID string
		for i := range pkg.Clients {
			c := &pkg.Clients[i]
			switch c.Settings.Code {
			case "urn:acme/web":
				webID = c.ClientID
				c.Settings.ClientName = "Web, renamed"
				c.Settings.AccessTokenLifetime = 600
			case "urn:acme/spa":
				c.Active = true
			}
		}
		newClient := webApp("urn:acme/new")
		pkg.Clients = append(pkg.Clients, tenants.PackageClient{Settings: newClient, Active: true})
		data, _ := json.Marshal(pkg)

		before := e.head(t)
		dry, err := importJSON(ctx, e.clients.DryRunImport, "acme", data)
		if err != nil {
			t.Fatal(err)
		}
		e.unchanged(t, before)
		want := map[string]struct {
			action  string
			changed []string
		}{
			"urn:acme/orders": {tenants.ActionUnchanged, nil},
			"urn:acme/web":    {tenants.ActionUpdate, []string{"access_token_lifetime", "client_name"}},
			"urn:acme/spa":    {tenants.ActionUpdate, []string{"active"}},
			"urn:acme/new":    {tenants.ActionCreate, nil},
		}
		check := func(rep tenants.ImportReport, dryRun bool) {
			t.Helper()
			if rep.DryRun != dryRun || len(rep.Clients) != len(want) {
				t.Fatalf("report = %+v", rep)
			}
			for _, r := range rep.Clients {
				w := want[r.Code]
				if r.Action != w.action || !slices.Equal(r.Changed, w.changed) {
					t.Errorf("%s: %s %v, want %s %v", r.Code, r.Action, r.Changed, w.action, w.changed)
				}
				if dryRun && r.Secret != nil {
					t.Errorf("%s: a dry run made a secret", r.Code)
				}
			}
		}
		check(dry, true)

		rep, err := importJSON(ctx, e.clients.Import, "acme", data)
		if err != nil {
			t.Fatal(err)
		}
		check(rep, false)
		if rep.Position != e.head(t) {
			t.Errorf("position %v, head %v", rep.Position, e.head(t))
		}
		web := e.loadClient(t, "acme", webID)
		if web.Settings().ClientName != "Web, renamed" || web.Settings().AccessTokenLifetime != 600 {
			t.Errorf("web = %+v", web.Settings())
		}
		for _, r := range rep.Clients {
			if r.Code == "urn:acme/spa" && !e.loadClient(t, "acme", r.ClientID).Active() {
				t.Error("spa is still inactive")
			}
			if r.Code == "urn:acme/new" && (r.Secret == nil || r.ClientID == "") {
				t.Errorf("new client: %+v", r)
			}
		}
	})
}

func TestImportRefuses(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.seedTenant(t, "acme")
		before := e.head(t)
		tests := []struct {
			name        string
			data        string
			field, code string // a validation problem
			jsonField   string // or a JSON error at this field
		}{
			{"wrong format", `{"format":"clavis.clients/v2","clients":[]}`, "format", "invalid_value", ""},
			{"not an object", `"x"`, "format", "invalid_value", ""},
			{"invalid settings", `{"format":"clavis.clients/v1","clients":[{"settings":{"type":"public","client_name":"X","code":"urn:acme/x","redirect_uris":["http://evil.example/cb"]}}]}`, "clients[0].redirect_uris[0]", "not_allowed", ""},
			{"duplicate code", `{"format":"clavis.clients/v1","clients":[{"settings":{"type":"m2m","client_name":"X","code":"urn:acme/x"}},{"settings":{"type":"m2m","client_name":"Y","code":"urn:acme/x"}}]}`, "clients[1].code", "duplicate", ""},
			{"unknown member", `{"format":"clavis.clients/v1","clients":[],"secrets":[]}`, "", "", "secrets"},
			{"unknown setting", `{"format":"clavis.clients/v1","clients":[{"settings":{"type":"m2m","client_secret":"x"}}]}`, "", "", "clients[0].settings.client_secret"},
			{"malformed", `{"format":`, "", "", ""},
			{"trailing data", `{"format":"clavis.clients/v1","clients":[]} {}`, "", "", ""},
			{"IdentityServer unknown grant", `[{"ClientId":"x","AllowedGrantTypes":["password"]}]`, "clients[0].AllowedGrantTypes[0]", "not_allowed", ""},
			{"IdentityServer unknown member", `[{"ClientId":"x","Colour":"blue"}]`, "", "", "clients[0].Colour"},
			{"IdentityServer DPoP", `[{"ClientId":"x","AllowedGrantTypes":["client_credentials"],"RequireDPoP":true}]`, "clients[0].RequireDPoP", "not_allowed", ""},
			{"IdentityServer bad enum", `[{"ClientId":"x","AllowedGrantTypes":["client_credentials"],"AccessTokenType":7}]`, "clients[0].AccessTokenType", "invalid_value", ""},
			{"IdentityServer no ClientId", `[{"AllowedGrantTypes":["client_credentials"]}]`, "clients[0].ClientId", "required", ""},
		}
		for _, tt := range tests {
			for _, run := range []importFunc{e.clients.DryRunImport, e.clients.Import} {
				_, err := importJSON(ctx, run, "acme", []byte(tt.data))
				if tt.field != "" {
					wantProblem(t, err, tt.field, tt.code)
					continue
				}
				var je *jsonbody.Error
				if !errors.As(err, &je) {
					t.Errorf("%s: %v, want a JSON error", tt.name, err)
					continue
				}
				if tt.jsonField != "" && (je.Field != tt.jsonField || !je.Unknown) {
					t.Errorf("%s: JSON error at %q (unknown %v), want unknown %q", tt.name, je.Field, je.Unknown, tt.jsonField)
				}
			}
		}
		if _, err := importJSON(ctx, e.clients.Import, "nope", []byte(`[]`)); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("unknown tenant: %v", err)
		}
		e.unchanged(t, before)
	})
}

// identityServerSample is the sample client of the IdentityServer-based
// product whose client model this project follows, with its placeholders
// filled in.
func identityServerSample(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("testdata/identityserver-sample.json")
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer(
		"__SecurityApiUrlExternal__", "https://security-api.example.com",
		"__SecurityAdminUrlExternal__", "https://security-admin.example.com",
		"__ClientSecretHash__", "K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols=",
	).Replace(string(raw))
}

func TestImportIdentityServerSample(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		e.createTenant(t, "acme")
		sample := identityServerSample(t)
		before := e.head(t)

		// As published, the sample cannot be imported, and the errors say
		// why: its redirect URIs carry fragments (RFC 6749 §3.1.2 forbids
		// them), and its API scopes are not in the tenant's catalogue.
		_, err := importJSON(ctx, e.clients.Import, "acme", []byte(sample))
		for _, p := range []struct{ field, code string }{
			{"clients[0].redirect_uris[0]", "invalid_uri"},
			{"clients[0].redirect_uris[1]", "invalid_uri"},
			{"clients[0].default_scopes[0]", "unknown_scope"},
			{"clients[0].default_scopes[1]", "unknown_scope"},
		} {
			wantProblem(t, err, p.field, p.code)
		}
		e.unchanged(t, before)

		// What an operator does about it: a resource server that defines
		// the API scopes, the scope names it gives them, and redirect URIs
		// on paths rather than in fragments.
		api := client.DefaultSettings(client.TypeM2M)
		api.ClientName, api.Code, api.APIScopes = "Security API", "urn:acme/sec", []string{"api", "authorization"}
		if _, err := e.clients.Register(ctx, req, "acme", api); err != nil {
			t.Fatal(err)
		}
		adapted := strings.NewReplacer(
			`"sec.api"`, `"urn:acme/sec:api"`,
			`"sec.authorization"`, `"urn:acme/sec:authorization"`,
			`/#/callback#`, `/callback`,
			`/#/silentrefresh#`, `/silentrefresh`,
		).Replace(sample)
		e.settle(t)

		before = e.head(t)
		dry, err := importJSON(ctx, e.clients.DryRunImport, "acme", []byte(adapted))
		if err != nil {
			t.Fatal(err)
		}
		e.unchanged(t, before)
		if len(dry.Clients) != 1 || dry.Clients[0].Action != tenants.ActionCreate || dry.Format != tenants.FormatIdentityServer {
			t.Fatalf("dry run = %+v", dry)
		}

		rep, err := importJSON(ctx, e.clients.Import, "acme", []byte(adapted))
		if err != nil {
			t.Fatal(err)
		}
		r := rep.Clients[0]
		if r.Action != tenants.ActionCreate || r.Code != "urn:acme/sec.app.admin" || r.SourceID != "sec.app.admin" || r.Secret != nil {
			t.Fatalf("import = %+v", r)
		}
		c := e.loadClient(t, "acme", r.ClientID)
		s := c.Settings()
		checks := []struct {
			name      string
			got, want any
		}{
			{"type", s.Type, client.TypePublic}, // RequireClientSecret false, no client_credentials
			{"auth method", s.TokenEndpointAuthMethod, client.AuthNone},
			{"secrets", len(c.Secrets()), 0}, // ClientSecrets are never imported
			{"name", s.ClientName, "Security Admin App"},
			{"grants", s.GrantTypes, []string{"authorization_code", "refresh_token"}}, // AllowOfflineAccess
			{"response types", s.ResponseTypes, []string{"code"}},
			{"offline", s.AllowOfflineAccess, true},
			{"redirect URIs", s.RedirectURIs, []string{"https://security-admin.example.com/callback", "https://security-admin.example.com/silentrefresh"}},
			{"post-logout URIs", s.PostLogoutRedirectURIs, []string{"https://security-admin.example.com"}},
			{"origins", s.AllowedCORSOrigins, []string{"https://security-api.example.com"}},
			{"scopes", s.DefaultScopes, []string{"urn:acme/sec:api", "urn:acme/sec:authorization", "openid", "profile"}},
			{"pkce", s.RequirePKCE, true},
			{"plain pkce", s.AllowPlainPKCE, false},
			{"consent", s.ConsentRequired, false},
			{"remember consent", s.AllowRememberConsent, true},
			{"consent lifetime", s.ConsentLifetime, 0},
			{"id token lifetime", s.IDTokenLifetime, 300},
			{"access token lifetime", s.AccessTokenLifetime, 3600},
			{"code lifetime", s.AuthorizationCodeLifetime, 300},
			{"absolute refresh", s.RefreshTokenAbsoluteLifetime, 2592000},
			{"sliding refresh", s.RefreshTokenSlidingLifetime, 1296000},
			{"refresh usage", s.RefreshTokenUsage, client.RefreshOneTime},
			{"refresh expiration", s.RefreshTokenExpiration, client.RefreshAbsolute},
			{"access token type", s.AccessTokenType, client.AccessTokenJWT},
			{"claims on refresh", s.UpdateAccessTokenClaimsOnRefresh, false},
			{"always send claims", s.AlwaysSendClientClaims, true},
			{"claims prefix", s.ClientClaimsPrefix, "client_"},
			{"user claims in id token", s.AlwaysIncludeUserClaimsInIDToken, true},
			{"tokens via browser", s.AllowAccessTokensViaBrowser, true},
			{"jti", s.IncludeJWTID, true},
			{"local login", s.EnableLocalLogin, true},
			{"front-channel session", s.FrontchannelLogoutSessionRequired, true},
			{"back-channel session", s.BackchannelLogoutSessionRequired, true},
			{"back-channel URI", s.BackchannelLogoutURI, ""},
			{"active", c.Active(), true},
		}
		for _, ck := range checks {
			if g, _ := json.Marshal(ck.got); string(g) != mustJSON(ck.want) {
				t.Errorf("%s = %s, want %s", ck.name, g, mustJSON(ck.want))
			}
		}

		// Importing it again changes nothing.
		before = e.head(t)
		again, err := importJSON(ctx, e.clients.Import, "acme", []byte(adapted))
		if err != nil || again.Clients[0].Action != tenants.ActionUnchanged || again.Clients[0].ClientID != r.ClientID {
			t.Fatalf("second import = %+v, %v", again, err)
		}
		e.unchanged(t, before)

		// A disabled confidential hybrid client with a claim and a secret.
		hybrid := `[{"ClientId":"Workflow MVC","ClientName":"Workflow","Enabled":false,
			"ClientSecrets":[{"Value":"plain-secret-that-must-not-travel","Type":"SharedSecret"}],
			"AllowedGrantTypes":["hybrid","client_credentials"],"RedirectUris":["https://wf.example.com/signin-oidc"],
			"AllowedScopes":["openid","profile","urn:acme/sec:api"],"RefreshTokenUsage":0,"RefreshTokenExpiration":"Sliding",
			"AccessTokenType":1,"Claims":[{"Type":"dau","Value":"wf","ValueType":"string"}],"ClientClaimsPrefix":null,
			"IdentityProviderRestrictions":[],"Properties":{"team":"wf"},"PairWiseSubjectSalt":"salt","Id":42}]`
		rep, err = importJSON(ctx, e.clients.Import, "acme", []byte(hybrid))
		if err != nil {
			t.Fatal(err)
		}
		h := rep.Clients[0]
		hc := e.loadClient(t, "acme", h.ClientID)
		hs := hc.Settings()
		if h.Code != "urn:acme/workflow-mvc" || hs.Type != client.TypeConfidential || h.Secret == nil ||
			!secret.Verify(hc.Secrets()[0].Hash, h.Secret.Value) || hc.Active() ||
			!slices.Equal(hs.GrantTypes, []string{"authorization_code", "implicit", "client_credentials"}) ||
			!slices.Equal(hs.ResponseTypes, []string{"code id_token"}) ||
			hs.RefreshTokenUsage != client.RefreshReuse || hs.RefreshTokenExpiration != client.RefreshSliding ||
			hs.AccessTokenType != client.AccessTokenReference || hs.ClientClaimsPrefix != "" ||
			!slices.Equal(hs.ClientClaims, []client.Claim{{Type: "dau", Value: "wf"}}) ||
			len(hs.IdentityProviderRestrictions) != 0 || hs.Properties["team"] != "wf" || hs.PairwiseSubjectSalt != "salt" {
			t.Errorf("hybrid client = %+v %+v", h, hs)
		}
		for _, ev := range e.events(t) {
			if strings.Contains(string(ev.Data), "plain-secret-that-must-not-travel") || strings.Contains(string(ev.Data), "K7gNU3sdo") {
				t.Errorf("%s holds an imported secret", ev.Type)
			}
		}
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// importFunc is [tenants.Clients.Import] or [tenants.Clients.DryRunImport].
type importFunc func(context.Context, tenants.Request, string, tenants.ImportBatch) (tenants.ImportReport, error)

// importJSON reads data as the admin API reads an import's body, and runs
// the batch with run.
func importJSON(ctx context.Context, run importFunc, tenant string, data []byte) (tenants.ImportReport, error) {
	b, err := jsonbody.Import(tenant, data)
	if err != nil {
		return tenants.ImportReport{}, err
	}
	return run(ctx, req, tenant, b)
}
