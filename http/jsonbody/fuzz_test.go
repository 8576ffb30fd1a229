package jsonbody_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/tenants"
)

// settingsSeeds are client settings bodies as the admin API's tests send
// them, good and bad.
var settingsSeeds = []string{
	`{"type":"M2M","client_name":"Orders","code":"urn:acme/orders"}`,
	`{"type":"public","client_name":"SPA","code":"urn:acme/spa","redirect_uris":["https://app.example.com/cb"],"allowed_cors_origins":["https://app.example.com"]}`,
	`{"type":"confidential","client_name":"Web","code":"urn:acme/web","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"openid","default_scopes":["openid"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
	`{"type":" Public ","metadata":{"team":"a"},"properties":{"k":"v"},"access_token_lifetime":3600}`,
	`{"type":7}`,
	`{"colour":"blue"}`,
	`{"DEFAULT_SCOPES":["x"]}`,
	`{"redirect_uris":null,"jwks":null}`,
	`{"client_name":"x"} {}`,
	`{"client_name":`,
	`[]`,
	`null`,
}

// reencode is settings as JSON, with nil and empty lists and maps alike
// and key sets compacted: two settings that encode alike are the same.
func reencode(t *testing.T, s client.Settings) []byte {
	t.Helper()
	b, err := json.Marshal(jsonbody.EmptyNotNull(s))
	if err != nil {
		t.Fatalf("encode accepted settings: %v", err)
	}
	return b
}

// FuzzSettings checks the admin API's client bodies (create, the import
// package's settings): a body Settings refuses gets a *jsonbody.Error,
// and settings it accepts, encoded as the API shows them, decode to the
// same settings.
func FuzzSettings(f *testing.F) {
	for _, s := range settingsSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := jsonbody.Settings(data)
		if err != nil {
			var je *jsonbody.Error
			if !errors.As(err, &je) {
				t.Fatalf("Settings(%q) = %T %v, want a *jsonbody.Error", data, err, err)
			}
			return
		}
		first := reencode(t, s)
		again, err := jsonbody.Settings(first)
		if err != nil {
			t.Fatalf("Settings(%q) accepted, its encoding %s refused: %v", data, first, err)
		}
		if second := reencode(t, again); !bytes.Equal(first, second) {
			t.Fatalf("Settings(%q) does not survive encoding:\n%s\n%s", data, first, second)
		}
	})
}

// importSeeds are import bodies of both formats, from the import tests.
var importSeeds = []string{
	`{"format":"clavis.clients/v1","tenant":"other","exported_at":"2026-01-02T03:04:05Z","clients":[{"client_id":"c1","settings":{"type":"m2m","client_name":"X","code":"urn:acme/x"},"active":false}]}`,
	`{"format":"clavis.clients/v1","clients":[{"settings":{"type":"public","client_name":"X","code":"urn:acme/x","redirect_uris":["http://evil.example/cb"]}}]}`,
	`{"format":"clavis.clients/v1","clients":[{"settings":null},{}]}`,
	`{"format":"clavis.clients/v2","clients":[]}`,
	`{"format":"clavis.clients/v1","clients":[],"secrets":[]}`,
	`{"format":"clavis.clients/v1","clients":[{"settings":{"type":"m2m","client_secret":"x"}}]}`,
	`{"FORMAT":"clavis.clients/v1","clients":[]}`,
	`{"format":`,
	`{"format":"clavis.clients/v1","clients":[]} {}`,
	`[{"ClientId":"reports","ClientName":"Reports","AllowedGrantTypes":["client_credentials"]}]`,
	`[{"ClientId":"x","AllowedGrantTypes":["password"]}]`,
	`[{"ClientId":"x","Colour":"blue"}]`,
	`[{"ClientId":"x","AllowedGrantTypes":["client_credentials"],"RequireDPoP":true}]`,
	`[{"ClientId":"x","AllowedGrantTypes":["client_credentials"],"AccessTokenType":7}]`,
	`[{"AllowedGrantTypes":["client_credentials"]}]`,
	`[{"clientId":"spa","allowedGrantTypes":["authorization_code"],"requirePkce":true,"redirectUris":["https://spa.example.com/cb"],"allowedCorsOrigins":["https://spa.example.com"],"requireClientSecret":false}]`,
	`[{"ClientId":"Workflow MVC","ClientName":"Workflow","Enabled":false,
		"ClientSecrets":[{"Value":"plain-secret-that-must-not-travel","Type":"SharedSecret"}],
		"AllowedGrantTypes":["hybrid","client_credentials"],"RedirectUris":["https://wf.example.com/signin-oidc"],
		"AllowedScopes":["openid","profile","urn:acme/sec:api"],"RefreshTokenUsage":0,"RefreshTokenExpiration":"Sliding",
		"AccessTokenType":1,"Claims":[{"Type":"dau","Value":"wf","ValueType":"string"}],"ClientClaimsPrefix":null,
		"IdentityProviderRestrictions":[],"Properties":{"team":"wf"},"PairWiseSubjectSalt":"salt","Id":42}]`,
	`"clients"`,
	``,
}

// FuzzImport checks the import endpoint's decoder, both formats: a
// refusal is a *jsonbody.Error (malformed) or a *domain.ValidationError
// (does not map), never anything else; what it accepts, written as an
// export writes it, imports as the same clients.
func FuzzImport(f *testing.F) {
	for _, s := range importSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := jsonbody.Import("acme", data)
		if err != nil {
			var je *jsonbody.Error
			var ve *domain.ValidationError
			if !errors.As(err, &je) && !errors.As(err, &ve) {
				t.Fatalf("Import(%q) = %T %v, want a *jsonbody.Error or *domain.ValidationError", data, err, err)
			}
			return
		}
		if b.Format != tenants.PackageFormat && b.Format != tenants.FormatIdentityServer {
			t.Fatalf("Import(%q) format %q", data, b.Format)
		}
		pkg := tenants.Package{Format: tenants.PackageFormat, Tenant: "acme", ExportedAt: time.Unix(0, 0).UTC()}
		for _, c := range b.Clients {
			pkg.Clients = append(pkg.Clients, tenants.PackageClient{ClientID: c.SourceID, Settings: c.Settings, Active: c.Active})
		}
		exported, err := jsonbody.EncodePackage(pkg)
		if err != nil {
			t.Fatalf("Import(%q) accepted clients that do not export: %v", data, err)
		}
		again, err := jsonbody.Import("acme", exported)
		if err != nil {
			t.Fatalf("Import(%q) accepted, its export %s refused: %v", data, exported, err)
		}
		if len(again.Clients) != len(b.Clients) {
			t.Fatalf("Import(%q): %d clients, its export %d", data, len(b.Clients), len(again.Clients))
		}
		for i, c := range again.Clients {
			want, got := reencode(t, b.Clients[i].Settings), reencode(t, c.Settings)
			if c.SourceID != b.Clients[i].SourceID || c.Active != b.Clients[i].Active || !bytes.Equal(want, got) {
				t.Fatalf("Import(%q) client %d does not survive export:\n%+v %s\n%+v %s", data, i, b.Clients[i], want, c, got)
			}
		}
	})
}
