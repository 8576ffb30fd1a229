package client_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
)

// A preset never contradicts what the caller wrote: the defaults of the
// members not given follow those given, and only what the caller wrote
// can be refused.
func TestDeriveFollowsWhatWasGiven(t *testing.T) {
	t.Parallel()
	type want struct {
		grants, responses []string
		auth              client.AuthMethod
		viaBrowser        bool
		sliding           int
	}
	for _, tt := range []struct {
		name string
		typ  client.Type
		json string // what the caller wrote, decoded over the preset
		want want
		// field and code of the one problem the caller's own contradiction
		// yields; empty when the result must validate.
		field, code string
	}{
		{name: "confidential with client_credentials only", typ: client.TypeConfidential,
			json: `{"grant_types":["client_credentials"]}`,
			want: want{grants: []string{"client_credentials"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},
		{name: "confidential preset", typ: client.TypeConfidential,
			json: `{"redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"authorization_code", "refresh_token"}, responses: []string{"code"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},
		{name: "confidential with client_credentials and a code flow", typ: client.TypeConfidential,
			json: `{"grant_types":["authorization_code","client_credentials"],"redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"authorization_code", "client_credentials"}, responses: []string{"code"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},
		{name: "implicit only", typ: client.TypeConfidential,
			json: `{"grant_types":["implicit"],"redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"implicit"}, responses: []string{"id_token"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},
		{name: "hybrid response type brings its grants", typ: client.TypeConfidential,
			json: `{"response_types":["code id_token"],"redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"authorization_code", "refresh_token", "implicit"}, responses: []string{"code id_token"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},
		{name: "a token response type allows tokens via the browser", typ: client.TypePublic,
			json: `{"response_types":["id_token token"],"redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"implicit"}, responses: []string{"id_token token"}, auth: client.AuthNone, viaBrowser: true, sliding: 1296000}},
		{name: "FAPI takes a key-based method", typ: client.TypeConfidential,
			json: `{"fapi":true,"jwks_uri":"https://app.example.com/jwks.json","redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"authorization_code", "refresh_token"}, responses: []string{"code"}, auth: client.AuthPrivateKeyJWT, sliding: 1296000}},
		{name: "a short absolute refresh lifetime bounds the sliding one", typ: client.TypeConfidential,
			json: `{"refresh_token_absolute_lifetime":7200,"redirect_uris":["https://app.example.com/cb"]}`,
			want: want{grants: []string{"authorization_code", "refresh_token"}, responses: []string{"code"}, auth: client.AuthClientSecretBasic, sliding: 7200}},
		{name: "m2m keeps client_credentials", typ: client.TypeM2M,
			json: `{}`,
			want: want{grants: []string{"client_credentials"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},
		{name: "null is not written", typ: client.TypeConfidential,
			json: `{"grant_types":["client_credentials"],"response_types":null}`,
			want: want{grants: []string{"client_credentials"}, auth: client.AuthClientSecretBasic, sliding: 1296000}},

		// Contradictions the caller wrote are still refused.
		{name: "written response type without its grant", typ: client.TypeConfidential,
			json:  `{"grant_types":["client_credentials"],"response_types":["code"]}`,
			want:  want{grants: []string{"client_credentials"}, responses: []string{"code"}, auth: client.AuthClientSecretBasic, sliding: 1296000},
			field: "response_types[0]", code: "conflict"},
		{name: "written token response type without the browser flag", typ: client.TypePublic,
			json:  `{"response_types":["token"],"allow_access_tokens_via_browser":false,"redirect_uris":["https://app.example.com/cb"]}`,
			want:  want{grants: []string{"implicit"}, responses: []string{"token"}, auth: client.AuthNone, sliding: 1296000},
			field: "allow_access_tokens_via_browser", code: "required"},
		{name: "m2m with a written response type", typ: client.TypeM2M,
			json:  `{"response_types":["code"]}`,
			want:  want{grants: []string{"client_credentials"}, responses: []string{"code"}, auth: client.AuthClientSecretBasic, sliding: 1296000},
			field: "response_types", code: "not_allowed"},
		{name: "written sliding lifetime above the absolute one", typ: client.TypeConfidential,
			json:  `{"refresh_token_absolute_lifetime":7200,"refresh_token_sliding_lifetime":9000,"redirect_uris":["https://app.example.com/cb"]}`,
			want:  want{grants: []string{"authorization_code", "refresh_token"}, responses: []string{"code"}, auth: client.AuthClientSecretBasic, sliding: 9000},
			field: "refresh_token_sliding_lifetime", code: "out_of_range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := client.DefaultSettings(tt.typ)
			s.ClientName, s.Code = "Orders", "urn:acme/orders-web"
			if err := json.Unmarshal([]byte(tt.json), &s); err != nil {
				t.Fatal(err)
			}
			var members map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tt.json), &members); err != nil {
				t.Fatal(err)
			}
			d := s.Derive(func(m string) bool { v, ok := members[m]; return ok && string(v) != "null" })
			got := want{grants: d.GrantTypes, responses: d.ResponseTypes, auth: d.TokenEndpointAuthMethod,
				viaBrowser: d.AllowAccessTokensViaBrowser, sliding: d.RefreshTokenSlidingLifetime}
			if !slices.Equal(got.grants, tt.want.grants) || !slices.Equal(got.responses, tt.want.responses) ||
				got.auth != tt.want.auth || got.viaBrowser != tt.want.viaBrowser || got.sliding != tt.want.sliding {
				t.Errorf("derived %+v, want %+v", got, tt.want)
			}
			err := d.Normalize().Validate(cat)
			if tt.field == "" {
				if err != nil {
					t.Errorf("Validate: %v", err)
				}
				return
			}
			wantProblem(t, err, tt.field, tt.code)
		})
	}
}
