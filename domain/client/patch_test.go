package client_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
)

// TestPatchMirrorsSettings keeps Patch in step with Settings: every setting
// has a pointer field of the same name and JSON name, and nothing else but
// NewSecret.
func TestPatchMirrorsSettings(t *testing.T) {
	t.Parallel()
	st := reflect.TypeFor[client.Settings]()
	pt := reflect.TypeFor[client.Patch]()
	for i := range st.NumField() {
		sf := st.Field(i)
		pf, ok := pt.FieldByName(sf.Name)
		if !ok {
			t.Errorf("Patch lacks %s", sf.Name)
			continue
		}
		if pf.Type != reflect.PointerTo(sf.Type) {
			t.Errorf("Patch.%s is %v, want *%v", sf.Name, pf.Type, sf.Type)
		}
		sName, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		pName, _, _ := strings.Cut(pf.Tag.Get("json"), ",")
		if sName != pName {
			t.Errorf("Patch.%s JSON name %q, Settings has %q", sf.Name, pName, sName)
		}
	}
	if pt.NumField() != st.NumField()+1 {
		t.Errorf("Patch has %d fields, want %d", pt.NumField(), st.NumField()+1)
	}
}

func TestPatchJSONMergeSemantics(t *testing.T) {
	t.Parallel()
	var p client.Patch
	err := json.Unmarshal([]byte(`{
		"client_name": "New",
		"redirect_uris": [],
		"metadata": null,
		"access_token_lifetime": null,
		"jwks": null,
		"require_pkce": false,
		"scope_permissions": {"openid": ["read"]}
	}`), &p)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case p.ClientName == nil || *p.ClientName != "New":
		t.Error("client_name not set")
	case p.RedirectURIs == nil || *p.RedirectURIs == nil || len(*p.RedirectURIs) != 0:
		t.Error("an empty list must be a non-nil pointer to an empty list")
	case p.Metadata == nil || *p.Metadata != nil:
		t.Error("null metadata must be a pointer to a nil map")
	case p.AccessTokenLifetime == nil || *p.AccessTokenLifetime != 0:
		t.Error("null lifetime must be a pointer to zero")
	case p.JWKS == nil || *p.JWKS != nil:
		t.Error("null jwks must be a pointer to nil")
	case p.RequirePKCE == nil || *p.RequirePKCE:
		t.Error("require_pkce false not set")
	case p.Description != nil || p.GrantTypes != nil || p.NewSecret != nil:
		t.Error("absent members must stay nil")
	}
	if p.IsZero() {
		t.Error("IsZero() = true for a non-empty patch")
	}
	var empty client.Patch
	if err := json.Unmarshal([]byte(`{}`), &empty); err != nil || !empty.IsZero() {
		t.Errorf("empty patch: %v, IsZero %v", err, empty.IsZero())
	}
}

func TestPatchRefusesUnknownMembers(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{`{"client_secret":"x"}`, `{"NewSecret":{"id":"a"}}`, `{"client_name":1}`, `[]`, `{`} {
		var p client.Patch
		if err := json.Unmarshal([]byte(doc), &p); err == nil {
			t.Errorf("Unmarshal(%s) accepted", doc)
		}
	}
}

func TestUpdateWithJSONPatch(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.Metadata = map[string]string{"team": "orders"}
	s.AccessTokenLifetime = 600
	s.AllowedCORSOrigins = []string{"https://app.example.com"}
	c := register(t, "c1", s, secretPtr("s1"))

	var p client.Patch
	if err := json.Unmarshal([]byte(`{"metadata":null,"access_token_lifetime":null,"allowed_cors_origins":[],"description":"hello"}`), &p); err != nil {
		t.Fatal(err)
	}
	events := applied(t, c)(c.Update(p, cat, now))
	u := events[0].(client.ClientUpdated)
	want := []string{"access_token_lifetime", "allowed_cors_origins", "description", "metadata"}
	if !reflect.DeepEqual(u.Changed, want) {
		t.Errorf("Changed = %q, want %q", u.Changed, want)
	}
	got := c.Settings()
	if got.Metadata != nil || got.AccessTokenLifetime != client.DefaultAccessTokenLifetime || got.AllowedCORSOrigins != nil || got.Description != "hello" {
		t.Errorf("settings after patch = %+v", got)
	}
}
