package client_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
)

func TestRegister(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.ClientName = "  Orders Web "
	s.RedirectURIs = []string{"HTTPS://App.Example.com/cb"}
	exp := now.Add(24 * time.Hour)
	initial := client.Secret{ID: "s1", Hash: "sha256$abc", ExpiresAt: &exp, Description: " CI ", CreatedAt: now.Add(-time.Hour)}

	events, err := client.Register("c1", s, cat, &initial, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 {
		t.Fatalf("got %d events, want 1", len(events))
	}
	r, ok := events[0].(client.ClientRegistered)
	if !ok {
		t.Fatalf("event is %T", events[0])
	}
	expUTC := nowUTC.Add(24 * time.Hour)
	wantSecret := client.Secret{ID: "s1", Hash: "sha256$abc", CreatedAt: nowUTC, ExpiresAt: &expUTC, Description: "CI"}
	switch {
	case r.ClientID != "c1" || !r.Active || r.ClonedFrom != "" || !r.At.Equal(nowUTC) || r.At.Location() != time.UTC:
		t.Errorf("registered = %+v", r)
	case r.Settings.ClientName != "Orders Web" || r.Settings.RedirectURIs[0] != "https://app.example.com/cb":
		t.Errorf("settings not normalised: %+v", r.Settings)
	case !reflect.DeepEqual(r.Secrets, []client.Secret{wantSecret}):
		t.Errorf("secrets = %+v, want %+v", r.Secrets, wantSecret)
	}
	if r.At.Nanosecond()%1000 != 0 {
		t.Error("time not truncated to microseconds")
	}
	wantClaims := []domain.Claim{
		{Kind: client.ClaimKindClientID, Value: "c1", Global: true},
		{Kind: client.ClaimKindClientCode, Value: "urn:acme/orders-web"},
	}
	if got := r.Claims(); !reflect.DeepEqual(got, wantClaims) {
		t.Errorf("Claims() = %+v, want %+v", got, wantClaims)
	}

	c, err := client.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID() != "c1" || !c.Active() || c.Deleted() || c.Version() != 1 || !c.State().CreatedAt.Equal(nowUTC) ||
		!c.State().UpdatedAt.Equal(nowUTC) || c.State().ClonedFrom != "" || len(c.Secrets()) != 1 {
		t.Errorf("client = %s active=%v v%d", c.ID(), c.Active(), c.Version())
	}
	if !reflect.DeepEqual(c.Settings(), r.Settings) {
		t.Error("Settings() differs from the registered settings")
	}
}

func TestRegisterSecretRules(t *testing.T) {
	t.Parallel()
	past := now.Add(-time.Second)
	tests := []struct {
		name    string
		id      string
		typ     client.Type
		auth    client.AuthMethod
		initial *client.Secret
		field   string
		code    string
	}{
		{"client id required", "", client.TypeConfidential, "", secretPtr("s1"), "client_id", "required"},
		{"client id with space", "c 1", client.TypeConfidential, "", secretPtr("s1"), "client_id", "invalid_value"},
		{"client id too long", strings.Repeat("c", 129), client.TypeConfidential, "", secretPtr("s1"), "client_id", "invalid_value"},
		{"confidential needs a secret", "c1", client.TypeConfidential, "", nil, "client_secret", "required"},
		{"m2m needs a secret", "c1", client.TypeM2M, "", nil, "client_secret", "required"},
		{"client_secret_post needs a secret", "c1", client.TypeM2M, client.AuthClientSecretPost, nil, "client_secret", "required"},
		{"client_secret_jwt needs a secret", "c1", client.TypeM2M, client.AuthClientSecretJWT, nil, "client_secret", "required"},
		{"expired secret is not usable", "c1", client.TypeConfidential, "", &client.Secret{ID: "s1", Hash: "h", ExpiresAt: &past}, "client_secret.expires_at", "out_of_range"},
		{"expiring now is not usable", "c1", client.TypeConfidential, "", &client.Secret{ID: "s1", Hash: "h", ExpiresAt: &now}, "client_secret.expires_at", "out_of_range"},
		{"public may not have one", "c1", client.TypePublic, "", secretPtr("s1"), "client_secret", "not_allowed"},
		{"secret id required", "c1", client.TypeConfidential, "", &client.Secret{Hash: "h"}, "client_secret.id", "required"},
		{"secret id with space", "c1", client.TypeConfidential, "", &client.Secret{ID: "a b", Hash: "h"}, "client_secret.id", "invalid_value"},
		{"secret id too long", "c1", client.TypeConfidential, "", &client.Secret{ID: strings.Repeat("i", 129), Hash: "h"}, "client_secret.id", "invalid_value"},
		{"secret hash required", "c1", client.TypeConfidential, "", &client.Secret{ID: "s1"}, "client_secret.hash", "required"},
		{"secret hash with space", "c1", client.TypeConfidential, "", &client.Secret{ID: "s1", Hash: "sha256 x"}, "client_secret.hash", "invalid_value"},
		{"secret hash too long", "c1", client.TypeConfidential, "", &client.Secret{ID: "s1", Hash: strings.Repeat("h", 1025)}, "client_secret.hash", "too_long"},
		{"secret description too long", "c1", client.TypeConfidential, "", &client.Secret{ID: "s1", Hash: "h", Description: strings.Repeat("d", 201)}, "client_secret.description", "too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := settingsFor(tt.typ)
			if tt.auth != "" {
				s.TokenEndpointAuthMethod = tt.auth
			}
			events, err := client.Register(tt.id, s, cat, tt.initial, now)
			if events != nil {
				t.Errorf("events = %v, want none", events)
			}
			wantProblem(t, err, tt.field, tt.code)
		})
	}
}

func TestRegisterWithoutSecret(t *testing.T) {
	t.Parallel()
	pub := settingsFor(client.TypePublic)
	keys := settingsFor(client.TypeConfidential)
	keys.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	keys.JWKSURI = "https://app.example.com/jwks"
	for name, s := range map[string]client.Settings{"public": pub, "private_key_jwt": keys} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := client.Register("c1", s, cat, nil, now); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := client.Register("c1", keys, cat, secretPtr("spare"), now); err != nil {
		t.Errorf("a key-based client may hold a spare secret: %v", err)
	}
}

func TestRegisterReportsEveryProblem(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.ClientName = ""
	s.RedirectURIs = []string{"ftp://x"}
	_, err := client.Register("", s, cat, nil, now)
	fields := problems(t, err)
	got := make(map[string]string)
	for _, f := range fields {
		got[f.Field] = f.Code
	}
	want := map[string]string{"client_id": "required", "client_name": "required", "redirect_uris[0]": "not_allowed", "client_secret": "required"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems = %v, want %v", got, want)
	}
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	later := now.Add(time.Hour)

	events, err := c.Update(client.Patch{}, cat, later)
	if err != nil || events != nil {
		t.Fatalf("empty patch: %v, %v", events, err)
	}
	events, err = c.Update(client.Patch{
		ClientName:   ptr(" Orders Web "),
		RedirectURIs: ptr([]string{"HTTPS://APP.EXAMPLE.COM/cb"}),
		GrantTypes:   ptr([]string{"authorization_code", "refresh_token"}),
	}, cat, later)
	if err != nil || events != nil {
		t.Fatalf("patch equal after normalising: %v, %v", events, err)
	}

	events, err = c.Update(client.Patch{
		ClientName:         ptr("Orders"),
		AllowedCORSOrigins: ptr([]string{"HTTPS://App.Example.com:443"}),
		ConsentLifetime:    ptr(3600),
		Metadata:           ptr(map[string]string{"team": "orders"}),
	}, cat, later)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Settings()
	if c.Version() != 1 || c.Settings().ClientName != "Orders Web" {
		t.Fatal("Update changed the aggregate")
	}
	u := events[0].(client.ClientUpdated)
	if want := []string{"allowed_cors_origins", "client_name", "consent_lifetime", "metadata"}; !reflect.DeepEqual(u.Changed, want) {
		t.Errorf("Changed = %q, want %q", u.Changed, want)
	}
	if u.PreviousCode != "" || u.Claims() != nil || !u.At.Equal(nowUTC.Add(time.Hour)) {
		t.Errorf("update = %+v", u)
	}
	apply(t, c, events)
	got := c.Settings()
	if got.ClientName != "Orders" || got.AllowedCORSOrigins[0] != "https://app.example.com" || got.ConsentLifetime != 3600 ||
		got.Metadata["team"] != "orders" || !reflect.DeepEqual(got.RedirectURIs, before.RedirectURIs) {
		t.Errorf("settings after update = %+v", got)
	}
	if c.Version() != 2 || !c.State().UpdatedAt.Equal(nowUTC.Add(time.Hour)) || !c.State().CreatedAt.Equal(nowUTC) {
		t.Errorf("v%d updated %v created %v", c.Version(), c.State().UpdatedAt, c.State().CreatedAt)
	}
}

func TestUpdateValidatesResult(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	_, err := c.Update(client.Patch{
		RedirectURIs:  ptr([]string{}),
		DefaultScopes: ptr([]string{"openid", "nope"}),
	}, cat, now)
	wantProblem(t, err, "redirect_uris", "required")
	wantProblem(t, err, "default_scopes[1]", "unknown_scope")

	_, err = c.Update(client.Patch{TokenEndpointAuthMethod: ptr(client.AuthPrivateKeyJWT)}, cat, now)
	wantProblem(t, err, "jwks", "required")
}

func TestUpdateCode(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	events := applied(t, c)(c.Update(client.Patch{Code: ptr("urn:acme/orders-v2")}, cat, now))
	u := events[0].(client.ClientUpdated)
	if u.PreviousCode != "urn:acme/orders-web" || !reflect.DeepEqual(u.Changed, []string{"code"}) {
		t.Errorf("update = %+v", u)
	}
	want := []domain.Claim{
		{Kind: "client_code", Value: "urn:acme/orders-web", Release: true},
		{Kind: "client_code", Value: "urn:acme/orders-v2"},
	}
	if got := u.Claims(); !reflect.DeepEqual(got, want) {
		t.Errorf("Claims() = %+v, want %+v", got, want)
	}
}

func TestUpdateTypeToConfidentialNeedsSecret(t *testing.T) {
	t.Parallel()
	c := register(t, "c1", settingsFor(client.TypePublic), nil)
	p := client.Patch{Type: ptr(client.TypeConfidential), TokenEndpointAuthMethod: ptr(client.AuthClientSecretBasic)}
	_, err := c.Update(p, cat, now)
	wantProblem(t, err, "client_secret", "required")

	p.NewSecret = secretPtr("s1")
	events := applied(t, c)(c.Update(p, cat, now))
	if len(events) != 2 {
		t.Fatalf("events = %v", events)
	}
	if _, ok := events[0].(client.ClientUpdated); !ok {
		t.Errorf("first event %T", events[0])
	}
	if a, ok := events[1].(client.SecretAdded); !ok || a.Secret.ID != "s1" || !a.Secret.CreatedAt.Equal(nowUTC) {
		t.Errorf("second event %+v", events[1])
	}
	if c.Settings().Type != client.TypeConfidential || len(c.Secrets()) != 1 {
		t.Error("type change not applied")
	}
}

func TestUpdateTypeToPublicRevokesSecrets(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	applied(t, c)(c.AddSecret(secret("s2"), now))
	p := client.Patch{Type: ptr(client.TypePublic), TokenEndpointAuthMethod: ptr(client.AuthNone)}
	events := applied(t, c)(c.Update(p, cat, now))
	want := []domain.Event{
		events[0],
		client.SecretRevoked{SecretID: "s1", At: nowUTC},
		client.SecretRevoked{SecretID: "s2", At: nowUTC},
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events = %+v", events)
	}
	if c.Secrets() != nil || c.Settings().Type != client.TypePublic {
		t.Errorf("after update: %v %v", c.Settings().Type, c.Secrets())
	}
	p.NewSecret = secretPtr("s3")
	p.ClientName = ptr("renamed")
	_, err := c.Update(p, cat, now)
	wantProblem(t, err, "client_secret", "not_allowed")
}

func TestUpdateWithExpiredSecretsStillRenames(t *testing.T) {
	t.Parallel()
	exp := now.Add(time.Hour)
	c := register(t, "c1", settingsFor(client.TypeConfidential), &client.Secret{ID: "s1", Hash: "h", ExpiresAt: &exp})
	later := now.Add(2 * time.Hour)
	if _, err := c.Update(client.Patch{ClientName: ptr("Renamed")}, cat, later); err != nil {
		t.Errorf("rename: %v", err)
	}
	_, err := c.Update(client.Patch{TokenEndpointAuthMethod: ptr(client.AuthClientSecretPost)}, cat, later)
	wantProblem(t, err, "client_secret", "required")
}

func TestUpdateNewSecretOnly(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	events := applied(t, c)(c.Update(client.Patch{NewSecret: secretPtr("s2")}, cat, now))
	if len(events) != 1 {
		t.Fatalf("events = %v", events)
	}
	if _, ok := events[0].(client.SecretAdded); !ok {
		t.Errorf("event %T", events[0])
	}
	_, err := c.Update(client.Patch{NewSecret: secretPtr("s2")}, cat, now)
	wantProblem(t, err, "client_secret.id", "duplicate")
}

func TestAddSecret(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	exp := now.Add(time.Hour)
	events := applied(t, c)(c.AddSecret(client.Secret{ID: "s2", Hash: "h2", ExpiresAt: &exp}, now))
	expUTC := nowUTC.Add(time.Hour)
	want := []domain.Event{client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "h2", CreatedAt: nowUTC, ExpiresAt: &expUTC}, At: nowUTC}}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events = %+v, want %+v", events, want)
	}
	if ids := secretIDs(c); !slices.Equal(ids, []string{"s1", "s2"}) {
		t.Errorf("secrets = %q", ids)
	}
}

func TestAddSecretRules(t *testing.T) {
	t.Parallel()
	past := now.Add(-time.Minute)
	tests := []struct {
		name   string
		secret client.Secret
		field  string
		code   string
	}{
		{"held id", secret("s1"), "client_secret.id", "duplicate"},
		{"revoked id", secret("gone"), "client_secret.id", "duplicate"},
		{"expired", client.Secret{ID: "s9", Hash: "h", ExpiresAt: &past}, "client_secret.expires_at", "out_of_range"},
		{"no hash", client.Secret{ID: "s9"}, "client_secret.hash", "required"},
		{"description control", client.Secret{ID: "s9", Hash: "h", Description: "a\x00"}, "client_secret.description", "invalid_value"},
	}
	c := confidential(t)
	applied(t, c)(c.AddSecret(secret("gone"), now))
	applied(t, c)(c.RevokeSecret("gone", now))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.AddSecret(tt.secret, now)
			wantProblem(t, err, tt.field, tt.code)
		})
	}
}

func TestAddSecretLimit(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	for i := 2; i <= client.MaxSecrets; i++ {
		exp := now.Add(time.Minute)
		applied(t, c)(c.AddSecret(client.Secret{ID: "s" + string(rune('a'+i)), Hash: "h", ExpiresAt: &exp}, now))
	}
	later := now.Add(time.Hour) // every secret but s1 has expired: they still count
	_, err := c.AddSecret(secret("one-too-many"), later)
	wantProblem(t, err, "client_secret", "too_many")
	_, err = c.RotateSecret(secret("one-too-many"), 0, later)
	wantProblem(t, err, "client_secret", "too_many")
	applied(t, c)(c.RevokeSecret("sc", later))
	if _, err := c.AddSecret(secret("fits"), later); err != nil {
		t.Errorf("after revoking an expired secret: %v", err)
	}
}

func TestSecretCommandsRefusePublicClients(t *testing.T) {
	t.Parallel()
	c := register(t, "c1", settingsFor(client.TypePublic), nil)
	_, err := c.AddSecret(secret("s1"), now)
	wantProblem(t, err, "client_secret", "not_allowed")
	_, err = c.RotateSecret(secret("s1"), time.Hour, now)
	wantProblem(t, err, "client_secret", "not_allowed")
	if _, err := c.RevokeSecret("s1", now); !errors.Is(err, domain.ErrSecretNotFound) {
		t.Errorf("RevokeSecret = %v, want domain.ErrSecretNotFound", err)
	}
}

func TestRevokeSecret(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	if _, err := c.RevokeSecret("nope", now); !errors.Is(err, domain.ErrSecretNotFound) {
		t.Errorf("unknown: %v, want domain.ErrSecretNotFound", err)
	}
	if _, err := c.RevokeSecret("s1", now); !errors.Is(err, domain.ErrLastSecret) {
		t.Errorf("last usable: %v, want domain.ErrLastSecret", err)
	}

	exp := now.Add(time.Hour)
	applied(t, c)(c.AddSecret(client.Secret{ID: "s2", Hash: "h", ExpiresAt: &exp}, now))
	later := now.Add(2 * time.Hour) // s2 expired: s1 is the last usable one again
	if _, err := c.RevokeSecret("s1", later); !errors.Is(err, domain.ErrLastSecret) {
		t.Errorf("last usable beside an expired one: %v, want domain.ErrLastSecret", err)
	}
	events := applied(t, c)(c.RevokeSecret("s2", later))
	if want := []domain.Event{client.SecretRevoked{SecretID: "s2", At: nowUTC.Add(2 * time.Hour)}}; !reflect.DeepEqual(events, want) {
		t.Errorf("events = %+v", events)
	}
	if ids := secretIDs(c); !slices.Equal(ids, []string{"s1"}) {
		t.Errorf("secrets = %q", ids)
	}
	if _, err := c.RevokeSecret("s2", later); !errors.Is(err, domain.ErrSecretNotFound) {
		t.Errorf("revoked twice: %v, want domain.ErrSecretNotFound", err)
	}

	applied(t, c)(c.AddSecret(secret("s3"), later))
	applied(t, c)(c.RevokeSecret("s1", later))
	if ids := secretIDs(c); !slices.Equal(ids, []string{"s3"}) {
		t.Errorf("secrets = %q", ids)
	}
}

func TestRevokeLastSecretOfKeyBasedClient(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	s.JWKS = json.RawMessage(testJWKS)
	c := register(t, "c1", s, secretPtr("spare"))
	applied(t, c)(c.RevokeSecret("spare", now))
	if c.Secrets() != nil {
		t.Error("secret not revoked")
	}
}

func TestRotateSecret(t *testing.T) {
	t.Parallel()
	c := confidential(t) // s1, never expires
	soon := now.Add(30 * time.Minute)
	applied(t, c)(c.AddSecret(client.Secret{ID: "soon", Hash: "h", ExpiresAt: &soon}, now))
	late := now.Add(48 * time.Hour)
	applied(t, c)(c.AddSecret(client.Secret{ID: "late", Hash: "h", ExpiresAt: &late}, now))
	gone := now.Add(time.Minute)
	applied(t, c)(c.AddSecret(client.Secret{ID: "gone", Hash: "h", ExpiresAt: &gone}, now))

	rotateAt := now.Add(5 * time.Minute) // "gone" has expired
	events := applied(t, c)(c.RotateSecret(secret("s2"), time.Hour, rotateAt))
	until := nowUTC.Add(65 * time.Minute)
	want := []domain.Event{client.SecretRotated{
		New: client.Secret{ID: "s2", Hash: "sha256$s2-hash", CreatedAt: nowUTC.Add(5 * time.Minute)},
		Expiring: []client.SecretExpiry{
			{SecretID: "s1", ExpiresAt: until},
			{SecretID: "late", ExpiresAt: until},
		},
		At: nowUTC.Add(5 * time.Minute),
	}}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %+v\nwant %+v", events, want)
	}
	byID := make(map[string]client.Secret)
	for _, s := range c.Secrets() {
		byID[s.ID] = s
	}
	if !byID["s1"].ExpiresAt.Equal(until) || !byID["late"].ExpiresAt.Equal(until) ||
		!byID["soon"].ExpiresAt.Equal(soon.Truncate(time.Microsecond)) || byID["s2"].ExpiresAt != nil {
		t.Errorf("secrets after rotation = %+v", c.Secrets())
	}
	if !byID["s1"].UsableAt(now.Add(time.Hour)) || byID["s1"].UsableAt(now.Add(65*time.Minute)) {
		t.Error("s1 should be usable during the overlap only")
	}
}

func TestRotateSecretWithoutOverlap(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	applied(t, c)(c.RotateSecret(secret("s2"), 0, now))
	for _, s := range c.Secrets() {
		if got := s.UsableAt(now); got != (s.ID == "s2") {
			t.Errorf("%s usable = %v", s.ID, got)
		}
	}
	applied(t, c)(c.RevokeSecret("s1", now))
}

func TestRotateSecretRules(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	tests := []struct {
		name    string
		secret  client.Secret
		overlap time.Duration
		field   string
		code    string
	}{
		{"negative overlap", secret("s2"), -time.Second, "overlap", "out_of_range"},
		{"overlap too long", secret("s2"), 30*24*time.Hour + time.Second, "overlap", "out_of_range"},
		{"duplicate id", secret("s1"), time.Hour, "client_secret.id", "duplicate"},
		{"no hash", client.Secret{ID: "s2"}, time.Hour, "client_secret.hash", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.RotateSecret(tt.secret, tt.overlap, now)
			wantProblem(t, err, tt.field, tt.code)
		})
	}
	if _, err := c.RotateSecret(secret("s2"), client.MaxRotationOverlap, now); err != nil {
		t.Errorf("maximum overlap: %v", err)
	}
}

func TestActivateDeactivate(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	if events, err := c.Activate(now); err != nil || events != nil {
		t.Fatalf("activate active: %v, %v", events, err)
	}
	events := applied(t, c)(c.Deactivate(" compromised ", now))
	if want := []domain.Event{client.ClientDeactivated{Reason: "compromised", At: nowUTC}}; !reflect.DeepEqual(events, want) {
		t.Errorf("events = %+v", events)
	}
	if c.Active() || c.State().DeactivationReason != "compromised" {
		t.Error("not deactivated")
	}
	if events, err := c.Deactivate("again", now); err != nil || events != nil {
		t.Fatalf("deactivate inactive: %v, %v", events, err)
	}
	_, err := c.Deactivate(strings.Repeat("r", 501), now)
	wantProblem(t, err, "reason", "too_long")
	_, err = c.Deactivate("a\x00", now)
	wantProblem(t, err, "reason", "invalid_value")

	events = applied(t, c)(c.Activate(now))
	if want := []domain.Event{client.ClientActivated{At: nowUTC}}; !reflect.DeepEqual(events, want) {
		t.Errorf("events = %+v", events)
	}
	if !c.Active() || c.State().DeactivationReason != "" || c.Version() != 3 {
		t.Error("not activated")
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	c := confidential(t)
	applied(t, c)(c.Deactivate("", now))
	events := applied(t, c)(c.Delete(now))
	d := events[0].(client.ClientDeleted)
	if d.Code != "urn:acme/orders-web" || !d.At.Equal(nowUTC) {
		t.Errorf("deleted = %+v", d)
	}
	want := []domain.Claim{{Kind: "client_code", Value: "urn:acme/orders-web", Release: true}}
	if got := d.Claims(); !reflect.DeepEqual(got, want) {
		t.Errorf("Claims() = %+v, want %+v", got, want)
	}
	if !c.Deleted() || c.Active() {
		t.Error("not deleted")
	}
	for name, cmd := range commands(c) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := cmd(); !errors.Is(err, domain.ErrDeleted) {
				t.Errorf("err = %v, want domain.ErrDeleted", err)
			}
		})
	}
	if err := c.Apply(client.ClientActivated{At: nowUTC}); !errors.Is(err, domain.ErrCorruptEvent) {
		t.Errorf("Apply after delete = %v, want domain.ErrCorruptEvent", err)
	}
}

func TestCommandsWithoutHistory(t *testing.T) {
	t.Parallel()
	for name, cmd := range commands(new(client.Client)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := cmd(); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("err = %v, want domain.ErrNotFound", err)
			}
		})
	}
	var nilClient *client.Client
	if _, err := nilClient.Delete(now); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("nil client: %v", err)
	}
}

// commands returns every command of c, with valid arguments.
func commands(c *client.Client) map[string]func() ([]domain.Event, error) {
	return map[string]func() ([]domain.Event, error){
		"update":     func() ([]domain.Event, error) { return c.Update(client.Patch{ClientName: ptr("x")}, cat, now) },
		"add secret": func() ([]domain.Event, error) { return c.AddSecret(secret("new"), now) },
		"revoke":     func() ([]domain.Event, error) { return c.RevokeSecret("s1", now) },
		"rotate":     func() ([]domain.Event, error) { return c.RotateSecret(secret("new"), time.Hour, now) },
		"activate":   func() ([]domain.Event, error) { return c.Activate(now) },
		"deactivate": func() ([]domain.Event, error) { return c.Deactivate("", now) },
		"clone": func() ([]domain.Event, error) {
			return c.Clone("c2", "Copy", "urn:acme/copy", "", cat, secretPtr("x"), now)
		},
		"delete": func() ([]domain.Event, error) { return c.Delete(now) },
	}
}

func TestClone(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.Metadata = map[string]string{"team": "orders"}
	s.APIScopes = []string{"read"}
	src := register(t, "c1", s, secretPtr("s1"))
	applied(t, src)(src.Deactivate("", now))

	_, err := src.Clone("c2", "", "urn:acme/orders-web", "", cat, nil, now)
	wantProblem(t, err, "client_name", "required")
	wantProblem(t, err, "client_secret", "required")

	events, err := src.Clone("c2", " Orders Copy ", "urn:acme/orders-copy", "", cat, secretPtr("s9"), now)
	if err != nil {
		t.Fatal(err)
	}
	r := events[0].(client.ClientRegistered)
	if r.ClientID != "c2" || r.ClonedFrom != "c1" || !r.Active || len(r.Secrets) != 1 || r.Secrets[0].ID != "s9" {
		t.Errorf("clone = %+v", r)
	}
	want := src.Settings()
	want.ClientName, want.Code = "Orders Copy", "urn:acme/orders-copy"
	if !reflect.DeepEqual(r.Settings, want) {
		t.Errorf("clone settings differ beyond name and code")
	}
	clone, err := client.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	if clone.State().ClonedFrom != "c1" {
		t.Errorf("ClonedFrom() = %q", clone.State().ClonedFrom)
	}
	r.Settings.Metadata["team"] = "mutated"
	if src.Settings().Metadata["team"] != "orders" {
		t.Error("clone aliases the source's settings")
	}
	if src.Version() != 2 {
		t.Error("Clone changed the source")
	}
}

func TestGettersReturnCopies(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.Metadata = map[string]string{"team": "orders"}
	s.Properties = map[string]string{"p": "v"}
	s.ScopePermissions = map[string][]string{"openid": {"read"}}
	s.ClientClaims = []client.Claim{{Type: "dau", Value: "x"}}
	s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	s.JWKS = json.RawMessage(testJWKS)
	exp := now.Add(time.Hour)
	c := register(t, "c1", s, &client.Secret{ID: "s1", Hash: "h", ExpiresAt: &exp})
	before := c.Settings()
	beforeSecrets := c.Secrets()

	got := c.Settings()
	got.RedirectURIs[0] = "x"
	got.GrantTypes[0] = "x"
	got.DefaultScopes[0] = "x"
	got.Metadata["team"] = "x"
	got.Properties["p"] = "x"
	got.ScopePermissions["openid"][0] = "x"
	got.ClientClaims[0].Value = "x"
	got.JWKS[0] = 'x'
	secrets := c.Secrets()
	secrets[0].ID = "x"
	*secrets[0].ExpiresAt = time.Time{}

	if !reflect.DeepEqual(c.Settings(), before) {
		t.Error("mutating Settings() changed the client")
	}
	if !reflect.DeepEqual(c.Secrets(), beforeSecrets) {
		t.Error("mutating Secrets() changed the client")
	}
}

func TestApplyCopiesEvents(t *testing.T) {
	t.Parallel()
	events, err := client.Register("c1", settingsFor(client.TypeConfidential), cat, secretPtr("s1"), now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Settings()
	r := events[0].(client.ClientRegistered)
	r.Settings.RedirectURIs[0] = "x"
	r.Secrets[0].ID = "x"
	if !reflect.DeepEqual(c.Settings(), before) || c.Secrets()[0].ID != "s1" {
		t.Error("the client aliases the event it applied")
	}
}

func secretIDs(c *client.Client) []string {
	var ids []string
	for _, s := range c.Secrets() {
		ids = append(ids, s.ID)
	}
	return ids
}
