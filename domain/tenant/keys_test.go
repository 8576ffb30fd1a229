package tenant_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/eventtest"
	"github.com/clavisiam/clavis/domain/tenant"
)

// newKey is a valid key as the caller would generate it; its sealed
// private key is "sealed:{kid}".
func newKey(kid string) tenant.NewKey {
	return tenant.NewKey{
		KID:       kid,
		Alg:       tenant.AlgES256,
		PublicJWK: json.RawMessage(`{"kty":"EC","crv":"P-256","kid":"` + kid + `","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`),
		Sealed:    "sealed:" + kid,
	}
}

// added is the event that adding newKey(kid) records.
func added(kid string, activeFrom, at time.Time) tenant.SigningKeyAdded {
	k := newKey(kid)
	return tenant.SigningKeyAdded{KID: kid, Alg: k.Alg, PublicJWK: k.PublicJWK, Sealed: k.Sealed, ActiveFrom: activeFrom, At: at}
}

// kids lists the ids of keys, in order.
func kids(keys []tenant.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.KID
	}
	return out
}

// signer returns the kid of the key that signs at t, or "" when none does.
func signer(tn *tenant.Tenant, t time.Time) string {
	k, ok := tn.SigningKey(t)
	if !ok {
		return ""
	}
	return k.KID
}

// keyHistory is a valid tenant history with two rotations, the second
// before the first one's lead time is over.
func keyHistory() []domain.Event {
	at := nowUTC
	return []domain.Event{
		tenant.TenantCreated{Slug: "acme", Name: "Acme", At: at},
		added("k1", at, at),
		added("k2", at.Add(2*time.Hour), at.Add(time.Hour)),
		tenant.SigningKeyRetired{KID: "k1", SignsUntil: at.Add(2 * time.Hour), PublishedUntil: at.Add(3 * time.Hour), At: at.Add(time.Hour)},
		tenant.TenantSuspended{Reason: "audit", At: at.Add(90 * time.Minute)},
		added("k3", at.Add(100*time.Minute), at.Add(90*time.Minute)),
		tenant.SigningKeyRetired{KID: "k2", SignsUntil: at.Add(100 * time.Minute), PublishedUntil: at.Add(160 * time.Minute), At: at.Add(90 * time.Minute)},
	}
}

func TestCreateAddsSigningKey(t *testing.T) {
	t.Parallel()
	key := newKey("k1")
	key.PublicJWK = json.RawMessage(" {\n  \"kty\": \"OKP\",\n  \"crv\": \"Ed25519\",\n  \"x\": \"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"\n}\n")
	key.Alg = tenant.AlgEdDSA
	events, err := tenant.Create("acme", "Acme", key, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC},
		tenant.SigningKeyAdded{
			KID: "k1", Alg: tenant.AlgEdDSA, Sealed: "sealed:k1", ActiveFrom: nowUTC, At: nowUTC,
			PublicJWK: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`),
		},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %#v, want %#v", events, want)
	}
	tn, err := tenant.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	k, ok := tn.SigningKey(now)
	if !ok || k.KID != "k1" || k.Alg != tenant.AlgEdDSA || k.Sealed != "sealed:k1" ||
		!k.AddedAt.Equal(nowUTC) || !k.ActiveFrom.Equal(nowUTC) || !k.SignsUntil.IsZero() || !k.PublishedUntil.IsZero() {
		t.Fatalf("SigningKey(now) = %v, %v", k, ok)
	}
	if got := kids(tn.Keys()); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("Keys() = %q", got)
	}
	if got := kids(tn.PublishedKeys(now.Add(365 * 24 * time.Hour))); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("PublishedKeys a year later = %q", got)
	}
	if _, ok := tn.SigningKey(nowUTC.Add(-time.Microsecond)); ok {
		t.Error("a key signs before it was added")
	}
	if tn.Version() != 2 || !tn.UpdatedAt().Equal(nowUTC) {
		t.Errorf("version %d, updated %v", tn.Version(), tn.UpdatedAt())
	}
}

func TestCreateAcceptsEveryAlg(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{tenant.AlgES256, tenant.AlgRS256, tenant.AlgEdDSA} {
		key := newKey("k1")
		key.Alg = alg
		if _, err := tenant.Create("acme", "Acme", key, now); err != nil {
			t.Errorf("Create with %s: %v", alg, err)
		}
	}
	key := newKey(strings.Repeat("a", tenant.MaxKIDLength))
	key.KID = "A-z_0" + key.KID[5:]
	if _, err := tenant.Create("acme", "Acme", key, now); err != nil {
		t.Errorf("Create with a %d-character kid: %v", len(key.KID), err)
	}
}

// badKeys are invalid keys and the problem each one causes, in Create and
// in RotateKey alike.
func badKeys() []struct {
	name        string
	key         tenant.NewKey
	field, code string
} {
	with := func(f func(*tenant.NewKey)) tenant.NewKey {
		k := newKey("k9")
		f(&k)
		return k
	}
	jwk := func(s string) tenant.NewKey {
		return with(func(k *tenant.NewKey) { k.PublicJWK = json.RawMessage(s) })
	}
	return []struct {
		name        string
		key         tenant.NewKey
		field, code string
	}{
		{"empty kid", with(func(k *tenant.NewKey) { k.KID = "" }), "signing_key.kid", "required"},
		{"kid too long", with(func(k *tenant.NewKey) { k.KID = strings.Repeat("a", 129) }), "signing_key.kid", "too_long"},
		{"kid with space", with(func(k *tenant.NewKey) { k.KID = "k 1" }), "signing_key.kid", "invalid_value"},
		{"kid with dot", with(func(k *tenant.NewKey) { k.KID = "k.1" }), "signing_key.kid", "invalid_value"},
		{"kid with slash", with(func(k *tenant.NewKey) { k.KID = "k/1" }), "signing_key.kid", "invalid_value"},
		{"kid not ASCII", with(func(k *tenant.NewKey) { k.KID = "clé" }), "signing_key.kid", "invalid_value"},
		{"empty alg", with(func(k *tenant.NewKey) { k.Alg = "" }), "signing_key.alg", "required"},
		{"unknown alg", with(func(k *tenant.NewKey) { k.Alg = "HS256" }), "signing_key.alg", "invalid_value"},
		{"alg none", with(func(k *tenant.NewKey) { k.Alg = "none" }), "signing_key.alg", "invalid_value"},
		{"alg in lowercase", with(func(k *tenant.NewKey) { k.Alg = "es256" }), "signing_key.alg", "invalid_value"},
		{"no JWK", jwk(""), "signing_key.public_jwk", "required"},
		{"blank JWK", jwk(" \n"), "signing_key.public_jwk", "required"},
		{"JWK array", jwk(`[{"kty":"EC"}]`), "signing_key.public_jwk", "invalid_value"},
		{"JWK string", jwk(`"EC"`), "signing_key.public_jwk", "invalid_value"},
		{"JWK null", jwk(`null`), "signing_key.public_jwk", "invalid_value"},
		{"JWK not JSON", jwk(`{"kty":`), "signing_key.public_jwk", "invalid_value"},
		{"JWK with d", jwk(`{"kty":"EC","crv":"P-256","x":"x","y":"y","d":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"JWK with p", jwk(`{"kty":"RSA","n":"n","e":"AQAB","p":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"JWK with q", jwk(`{"kty":"RSA","n":"n","e":"AQAB","q":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"JWK with dp", jwk(`{"kty":"RSA","n":"n","e":"AQAB","dp":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"JWK with dq", jwk(`{"kty":"RSA","n":"n","e":"AQAB","dq":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"JWK with qi", jwk(`{"kty":"RSA","n":"n","e":"AQAB","qi":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"JWK with oth", jwk(`{"kty":"RSA","n":"n","e":"AQAB","oth":[]}`), "signing_key.public_jwk", "not_allowed"},
		{"symmetric JWK", jwk(`{"kty":"oct","k":"secret"}`), "signing_key.public_jwk", "not_allowed"},
		{"empty sealed key", with(func(k *tenant.NewKey) { k.Sealed = "" }), "signing_key.sealed_private_key", "required"},
	}
}

func TestCreateKeyValidation(t *testing.T) {
	t.Parallel()
	for _, tt := range badKeys() {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, err := tenant.Create("acme", "Acme", tt.key, now)
			if events != nil {
				t.Errorf("events = %v, want none", events)
			}
			wantProblem(t, err, tt.field, tt.code)
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "sealed:") {
				t.Errorf("error %q shows key material", err)
			}
		})
	}
}

func TestCreateReportsKeyProblemsWithTheOthers(t *testing.T) {
	t.Parallel()
	_, err := tenant.Create("Admin!", "", tenant.NewKey{PublicJWK: json.RawMessage(`[]`)}, now)
	for _, f := range []struct{ field, code string }{
		{"slug", "invalid_value"},
		{"name", "required"},
		{"signing_key.kid", "required"},
		{"signing_key.alg", "required"},
		{"signing_key.public_jwk", "invalid_value"},
		{"signing_key.sealed_private_key", "required"},
	} {
		wantProblem(t, err, f.field, f.code)
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) && len(ve.Fields) != 6 {
		t.Errorf("%d problems, want 6 (one per field): %v", len(ve.Fields), err)
	}
}

func TestRotateKey(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	const lead, lifetime = 10 * time.Minute, time.Hour
	rotated := nowUTC.Add(time.Hour)
	switchAt := rotated.Add(lead)

	events, err := tn.RotateKey(newKey("k2"), lead, lifetime, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		added("k2", switchAt, rotated),
		tenant.SigningKeyRetired{KID: "k1", SignsUntil: switchAt, PublishedUntil: switchAt.Add(lifetime), At: rotated},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %v, want %v", events, want)
	}
	if tn.Version() != 2 || len(tn.Keys()) != 1 || tn.Keys()[0].Retired() {
		t.Fatal("RotateKey changed the aggregate")
	}
	apply(t, tn, events)
	if tn.Version() != 4 || !tn.UpdatedAt().Equal(rotated) {
		t.Errorf("after apply: v%d, updated %v", tn.Version(), tn.UpdatedAt())
	}

	tests := []struct {
		name      string
		at        time.Time
		signer    string
		published []string
	}{
		{"at rotation", rotated, "k1", []string{"k1", "k2"}},
		{"just before the switch", switchAt.Add(-time.Microsecond), "k1", []string{"k1", "k2"}},
		{"at the switch", switchAt, "k2", []string{"k1", "k2"}},
		{"just before the old key leaves", switchAt.Add(lifetime - time.Nanosecond), "k2", []string{"k1", "k2"}},
		{"when the old key leaves", switchAt.Add(lifetime), "k2", []string{"k2"}},
		{"a year later", switchAt.Add(365 * 24 * time.Hour), "k2", []string{"k2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := signer(tn, tt.at); got != tt.signer {
				t.Errorf("SigningKey = %q, want %q", got, tt.signer)
			}
			if got := kids(tn.PublishedKeys(tt.at)); !slices.Equal(got, tt.published) {
				t.Errorf("PublishedKeys = %q, want %q", got, tt.published)
			}
		})
	}

	keys := tn.Keys()
	old, next := keys[0], keys[1]
	if !old.Retired() || !old.SignsUntil.Equal(switchAt) || !old.PublishedUntil.Equal(switchAt.Add(lifetime)) {
		t.Errorf("old key = %v", old)
	}
	if next.Retired() || !next.AddedAt.Equal(rotated) || !next.ActiveFrom.Equal(switchAt) || next.Sealed != "sealed:k2" {
		t.Errorf("new key = %v", next)
	}
}

func TestRotateKeyWithoutLead(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	events, err := tn.RotateKey(newKey("k2"), 0, time.Minute, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tn, events)
	if got := signer(tn, now); got != "k2" {
		t.Errorf("SigningKey(now) = %q, want k2 at once", got)
	}
	if got := kids(tn.PublishedKeys(now)); !slices.Equal(got, []string{"k1", "k2"}) {
		t.Errorf("PublishedKeys(now) = %q", got)
	}
}

func TestRotateKeyTruncatesTimes(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	events, err := tn.RotateKey(newKey("k2"), time.Second+999*time.Nanosecond, time.Minute+999*time.Nanosecond, now)
	if err != nil {
		t.Fatal(err)
	}
	a, r := events[0].(tenant.SigningKeyAdded), events[1].(tenant.SigningKeyRetired)
	for name, ts := range map[string]time.Time{"at": a.At, "active_from": a.ActiveFrom, "signs_until": r.SignsUntil, "published_until": r.PublishedUntil} {
		if ts.Location() != time.UTC || ts.Nanosecond()%1000 != 0 {
			t.Errorf("%s = %v, want UTC in whole microseconds", name, ts)
		}
	}
	if !a.ActiveFrom.Equal(nowUTC.Add(time.Second)) || !r.SignsUntil.Equal(a.ActiveFrom) ||
		!r.PublishedUntil.Equal(nowUTC.Add(time.Second+time.Minute+time.Microsecond)) {
		t.Errorf("active_from %v, signs_until %v, published_until %v", a.ActiveFrom, r.SignsUntil, r.PublishedUntil)
	}
}

func TestRotateKeyTwice(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	const lifetime = time.Hour
	t1 := nowUTC.Add(time.Hour)
	first, err := tn.RotateKey(newKey("k2"), time.Hour, lifetime, t1)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tn, first)

	// Ten minutes later, before k2 ever signed, k2 is replaced by k3.
	t2 := t1.Add(10 * time.Minute)
	second, err := tn.RotateKey(newKey("k3"), 5*time.Minute, lifetime, t2)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		added("k3", t2.Add(5*time.Minute), t2),
		tenant.SigningKeyRetired{KID: "k2", SignsUntil: t2.Add(5 * time.Minute), PublishedUntil: t2.Add(5*time.Minute + lifetime), At: t2},
	}
	if !reflect.DeepEqual(second, want) {
		t.Fatalf("second rotation = %v, want %v (k1 is already retired)", second, want)
	}
	apply(t, tn, second)

	tests := []struct {
		at        time.Time
		signer    string
		published []string
	}{
		{t2, "k1", []string{"k1", "k2", "k3"}},
		{t2.Add(5 * time.Minute), "k3", []string{"k1", "k2", "k3"}},
		{t1.Add(time.Hour), "k3", []string{"k1", "k2", "k3"}},
		{t2.Add(5*time.Minute + lifetime), "k3", []string{"k1", "k3"}},
		{t1.Add(time.Hour + lifetime), "k3", []string{"k3"}},
	}
	for _, tt := range tests {
		if got := signer(tn, tt.at); got != tt.signer {
			t.Errorf("SigningKey(%v) = %q, want %q", tt.at, got, tt.signer)
		}
		if got := kids(tn.PublishedKeys(tt.at)); !slices.Equal(got, tt.published) {
			t.Errorf("PublishedKeys(%v) = %q, want %q", tt.at, got, tt.published)
		}
	}
	// k2 was retired before its start: it never signs.
	for at := t1; at.Before(t1.Add(3 * time.Hour)); at = at.Add(time.Minute) {
		if signer(tn, at) == "k2" {
			t.Fatalf("k2 signs at %v", at)
		}
	}

	third, err := tn.RotateKey(newKey("k4"), 0, lifetime, t2.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(third) != 2 || third[1].(tenant.SigningKeyRetired).KID != "k3" {
		t.Errorf("third rotation = %v, want k4 added and only k3 retired", third)
	}
}

func TestSigningKeyPrefersTheLatestStart(t *testing.T) {
	t.Parallel()
	at := nowUTC
	tn, err := tenant.Replay([]domain.Event{
		tenant.TenantCreated{Slug: "acme", Name: "Acme", At: at},
		added("early", at, at),
		added("same-a", at.Add(time.Hour), at),
		added("same-b", at.Add(time.Hour), at),
		added("later", at.Add(3*time.Hour), at),
		tenant.SigningKeyRetired{KID: "later", SignsUntil: at.Add(3 * time.Hour), PublishedUntil: at.Add(4 * time.Hour), At: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{at.Add(-time.Second), ""},
		{at, "early"},
		{at.Add(time.Hour), "same-b"},
		{at.Add(5 * time.Hour), "same-b"},
	} {
		if got := signer(tn, tt.at); got != tt.want {
			t.Errorf("SigningKey(%v) = %q, want %q", tt.at, got, tt.want)
		}
	}
}

func TestRotateKeyValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		key            tenant.NewKey
		lead, lifetime time.Duration
		field, code    string
	}{
		{"negative lead", newKey("k9"), -time.Nanosecond, time.Hour, "lead", "out_of_range"},
		{"zero lifetime", newKey("k9"), time.Minute, 0, "token_lifetime", "out_of_range"},
		{"negative lifetime", newKey("k9"), time.Minute, -time.Hour, "token_lifetime", "out_of_range"},
		{"kid of the current key", newKey("k1"), time.Minute, time.Hour, "signing_key.kid", "duplicate"},
		{"kid of the scheduled key", newKey("k3"), time.Minute, time.Hour, "signing_key.kid", "duplicate"},
		{"kid of a retired key", newKey("k2"), time.Minute, time.Hour, "signing_key.kid", "duplicate"},
	}
	for _, bad := range badKeys() {
		tests = append(tests, struct {
			name           string
			key            tenant.NewKey
			lead, lifetime time.Duration
			field, code    string
		}{bad.name, bad.key, time.Minute, time.Hour, bad.field, bad.code})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// k1 retired by k2, k2 retired by k3, which has not started yet.
			tn := created(t, "acme", "Acme")
			for _, r := range []struct {
				kid  string
				lead time.Duration
			}{{"k2", 0}, {"k3", 24 * time.Hour}} {
				events, err := tn.RotateKey(newKey(r.kid), r.lead, time.Hour, now)
				if err != nil {
					t.Fatal(err)
				}
				apply(t, tn, events)
			}
			before, keys := *tn, tn.Keys()

			events, err := tn.RotateKey(tt.key, tt.lead, tt.lifetime, now)
			if events != nil {
				t.Errorf("events = %v, want none", events)
			}
			wantProblem(t, err, tt.field, tt.code)
			if !reflect.DeepEqual(*tn, before) || !reflect.DeepEqual(tn.Keys(), keys) {
				t.Error("a refused rotation changed the tenant")
			}
		})
	}
}

func TestRotateKeyReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	_, err := tn.RotateKey(tenant.NewKey{KID: "k1", Alg: "RS512", PublicJWK: json.RawMessage(`{"d":"x"}`)}, -1, 0, now)
	for _, f := range []struct{ field, code string }{
		{"signing_key.kid", "duplicate"},
		{"signing_key.alg", "invalid_value"},
		{"signing_key.public_jwk", "not_allowed"},
		{"signing_key.sealed_private_key", "required"},
		{"lead", "out_of_range"},
		{"token_lifetime", "out_of_range"},
	} {
		wantProblem(t, err, f.field, f.code)
	}
}

func TestRotateKeyWhileSuspended(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	events, err := tn.Suspend("audit", now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tn, events)
	events, err = tn.RotateKey(newKey("k2"), 0, time.Hour, now)
	if err != nil || len(events) != 2 {
		t.Fatalf("RotateKey on a suspended tenant = %v, %v", events, err)
	}
	apply(t, tn, events)
	if !tn.Suspended() || signer(tn, now) != "k2" {
		t.Errorf("suspended=%v signer=%q", tn.Suspended(), signer(tn, now))
	}
}

// A tenant created before tenants had signing keys gets its first one by
// rotating: nothing is retired.
func TestRotateKeyGivesAKeylessTenantItsFirstKey(t *testing.T) {
	t.Parallel()
	tn, err := tenant.Replay(history())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tn.SigningKey(now); ok || tn.Keys() != nil || tn.PublishedKeys(now) != nil {
		t.Fatal("a keyless tenant reports keys")
	}
	events, err := tn.RotateKey(newKey("k1"), time.Minute, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{added("k1", nowUTC.Add(time.Minute), nowUTC)}; !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %v, want %v", events, want)
	}
	apply(t, tn, events)
	if signer(tn, now) != "" || signer(tn, now.Add(time.Minute)) != "k1" {
		t.Error("the first key does not sign from now+lead")
	}
	if got := kids(tn.PublishedKeys(now)); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("PublishedKeys(now) = %q, want the new key before it signs", got)
	}
}

func TestKeysAreCopies(t *testing.T) {
	t.Parallel()
	e := added("k1", nowUTC, nowUTC)
	tn, err := tenant.Replay([]domain.Event{tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC}, &e})
	if err != nil {
		t.Fatal(err)
	}
	want := tn.Keys()
	e.PublicJWK[0] = 'X'
	keys := tn.Keys()
	keys[0].KID, keys[0].PublicJWK[0] = "mutated", 'X'
	k, _ := tn.SigningKey(now)
	k.PublicJWK[0] = 'X'
	tn.PublishedKeys(now)[0].PublicJWK[0] = 'X'
	if got := tn.Keys(); !reflect.DeepEqual(got, want) || got[0].PublicJWK[0] != '{' {
		t.Errorf("Keys() = %v, changed through an event or a returned key", got)
	}
}

// A copied Tenant value is a snapshot: applying to the original does not
// reach it.
func TestTenantCopyIsASnapshot(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	snapshot := *tn
	events, err := tn.RotateKey(newKey("k2"), 0, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tn, events)
	if got := kids(snapshot.Keys()); !slices.Equal(got, []string{"k1"}) || snapshot.Keys()[0].Retired() {
		t.Errorf("snapshot keys = %v", snapshot.Keys())
	}
}

func TestApplyRefusesImpossibleKeyEvents(t *testing.T) {
	t.Parallel()
	at := nowUTC
	createdEvent := tenant.TenantCreated{Slug: "acme", Name: "Acme", At: at}
	withKeys := []domain.Event{createdEvent, added("k1", at, at), added("k2", at, at)}
	retired := tenant.SigningKeyRetired{KID: "k1", SignsUntil: at, PublishedUntil: at.Add(time.Hour), At: at}
	tests := []struct {
		name    string
		history []domain.Event
		next    domain.Event
		want    error
	}{
		{"key added before create", nil, added("k1", at, at), domain.ErrCorruptEvent},
		{"key retired before create", nil, retired, domain.ErrCorruptEvent},
		{"kid added twice", withKeys, added("k1", at.Add(time.Hour), at.Add(time.Hour)), domain.ErrCorruptEvent},
		{"kid added twice by pointer", withKeys, &tenant.SigningKeyAdded{KID: "k2", At: at}, domain.ErrCorruptEvent},
		{"retired key added again", append(slices.Clone(withKeys), retired), added("k1", at, at), domain.ErrCorruptEvent},
		{"unknown kid retired", withKeys, tenant.SigningKeyRetired{KID: "k9", SignsUntil: at, PublishedUntil: at, At: at}, domain.ErrCorruptEvent},
		{"key retired twice", append(slices.Clone(withKeys), retired), retired, domain.ErrCorruptEvent},
		{"signs after it leaves the JWKS", withKeys, tenant.SigningKeyRetired{KID: "k1", SignsUntil: at.Add(time.Hour), PublishedUntil: at, At: at}, domain.ErrCorruptEvent},
		{"no signs_until", withKeys, tenant.SigningKeyRetired{KID: "k1", PublishedUntil: at, At: at}, domain.ErrCorruptEvent},
		{"no published_until", withKeys, tenant.SigningKeyRetired{KID: "k1", SignsUntil: at, At: at}, domain.ErrCorruptEvent},
		{"nil added pointer", withKeys, (*tenant.SigningKeyAdded)(nil), domain.ErrUnknownEvent},
		{"nil retired pointer", withKeys, (*tenant.SigningKeyRetired)(nil), domain.ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn, err := tenant.Replay(tt.history)
			if err != nil {
				t.Fatal(err)
			}
			before, keys := *tn, tn.Keys()
			if err := tn.Apply(tt.next); !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(*tn, before) || !reflect.DeepEqual(tn.Keys(), keys) {
				t.Error("a refused event changed the tenant")
			}
			if _, err := tenant.Replay(append(slices.Clone(tt.history), tt.next)); !errors.Is(err, tt.want) {
				t.Errorf("Replay = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestApplyKeyEventsAcceptsPointers(t *testing.T) {
	t.Parallel()
	a := added("k1", nowUTC, nowUTC)
	r := tenant.SigningKeyRetired{KID: "k1", SignsUntil: nowUTC, PublishedUntil: nowUTC, At: nowUTC.Add(time.Second)}
	tn, err := tenant.Replay([]domain.Event{&tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC}, &a, &r})
	if err != nil {
		t.Fatal(err)
	}
	if keys := tn.Keys(); len(keys) != 1 || !keys[0].Retired() || tn.Version() != 3 || !tn.UpdatedAt().Equal(nowUTC.Add(time.Second)) {
		t.Errorf("keys %v, v%d, updated %v", keys, tn.Version(), tn.UpdatedAt())
	}
}

// TestReplayWithRotations drives a tenant through commands, applying each
// event as it is returned, and checks that replaying the stored history
// (encoded and decoded, as the event store would) gives the same tenant.
func TestReplayWithRotations(t *testing.T) {
	t.Parallel()
	var (
		live    tenant.Tenant
		history []domain.Event
	)
	step := func(events []domain.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if err := live.Apply(e); err != nil {
				t.Fatalf("Apply(%v): %v", e, err)
			}
			data, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := tenant.Decode(e.EventType(), e.SchemaVersion(), data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			history = append(history, stored)
		}
	}
	clock := now
	tick := func() time.Time { clock = clock.Add(time.Hour); return clock }
	step(tenant.Create("acme", "Acme", newKey("k1"), clock))
	step(live.RotateKey(newKey("k2"), time.Hour, 2*time.Hour, tick()))
	step(live.RotateKey(newKey("k3"), 0, 2*time.Hour, clock.Add(time.Minute)))
	step(live.Suspend("audit", tick()))
	step(live.RotateKey(newKey("k4"), 30*time.Minute, time.Hour, tick()))
	step(live.Rename("Acme Inc.", tick()))

	replayed, err := tenant.Replay(history)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replayed.Keys(), live.Keys()) {
		t.Errorf("replayed keys = %v\nlive keys     = %v", replayed.Keys(), live.Keys())
	}
	if !reflect.DeepEqual(*replayed, live) {
		t.Error("replayed tenant differs from the live one")
	}
	if got := kids(replayed.Keys()); !slices.Equal(got, []string{"k1", "k2", "k3", "k4"}) {
		t.Errorf("Keys() = %q", got)
	}
	if replayed.Version() != int64(len(history)) || replayed.Name() != "Acme Inc." || !replayed.Suspended() {
		t.Errorf("replayed: v%d of %d, %q, suspended=%v", replayed.Version(), len(history), replayed.Name(), replayed.Suspended())
	}
	for _, k := range replayed.Keys()[:3] {
		if !k.Retired() {
			t.Errorf("key %s not retired", k.KID)
		}
	}
}

func TestKeyEventsRoundTrip(t *testing.T) {
	t.Parallel()
	eventtest.RoundTrip(t, keyHistory(), tenant.Decode)
}

// Events that commands return decode to themselves, whatever the caller's
// JWK formatting.
func TestCommandKeyEventsRoundTrip(t *testing.T) {
	t.Parallel()
	key := newKey("k1")
	key.PublicJWK = json.RawMessage("{ \"kty\" : \"RSA\",\n\t\"n\": \"<&>\", \"e\": \"AQAB\", \"x5u\": \"\u2028\" }")
	events, err := tenant.Create("acme", "Acme", key, now)
	if err != nil {
		t.Fatal(err)
	}
	tn, err := tenant.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	more, err := tn.RotateKey(newKey("k2"), time.Minute, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	eventtest.RoundTrip(t, append(events, more...), tenant.Decode)
}

func TestKeyEventJSONNames(t *testing.T) {
	t.Parallel()
	a := tenant.SigningKeyAdded{KID: "k1", Alg: "ES256", PublicJWK: json.RawMessage(`{"kty":"EC"}`), Sealed: "s", ActiveFrom: nowUTC, At: nowUTC}
	r := tenant.SigningKeyRetired{KID: "k1", SignsUntil: nowUTC, PublishedUntil: nowUTC, At: nowUTC}
	for _, tt := range []struct {
		e    domain.Event
		typ  string
		want string
	}{
		{a, "tenant.signing_key_added", `{"kid":"k1","alg":"ES256","public_jwk":{"kty":"EC"},"sealed_private_key":"s","active_from":"2025-03-14T14:09:26.535897Z","at":"2025-03-14T14:09:26.535897Z"}`},
		{r, "tenant.signing_key_retired", `{"kid":"k1","signs_until":"2025-03-14T14:09:26.535897Z","published_until":"2025-03-14T14:09:26.535897Z","at":"2025-03-14T14:09:26.535897Z"}`},
	} {
		if tt.e.EventType() != tt.typ {
			t.Errorf("EventType() = %q, want %q", tt.e.EventType(), tt.typ)
		}
		if data, _ := json.Marshal(tt.e); string(data) != tt.want {
			t.Errorf("JSON = %s, want %s", data, tt.want)
		}
	}
}

func TestDecodeKeyEventsCorrupt(t *testing.T) {
	t.Parallel()
	const ts = `"2025-01-01T00:00:00Z"`
	tests := []struct {
		name, typ, data string
	}{
		{"added unknown field", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":{},"sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `,"d":"x"}`},
		{"added missing kid", "tenant.signing_key_added", `{"alg":"ES256","public_jwk":{},"sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `}`},
		{"added missing alg", "tenant.signing_key_added", `{"kid":"k","public_jwk":{},"sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `}`},
		{"added missing sealed key", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":{},"active_from":` + ts + `,"at":` + ts + `}`},
		{"added missing active_from", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":{},"sealed_private_key":"s","at":` + ts + `}`},
		{"added missing at", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":{},"sealed_private_key":"s","active_from":` + ts + `}`},
		{"added missing JWK", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `}`},
		{"added null JWK", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":null,"sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `}`},
		{"added JWK array", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":[],"sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `}`},
		{"added JWK string", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":"{}","sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `}`},
		{"added trailing data", "tenant.signing_key_added", `{"kid":"k","alg":"ES256","public_jwk":{},"sealed_private_key":"s","active_from":` + ts + `,"at":` + ts + `} {}`},
		{"retired unknown field", "tenant.signing_key_retired", `{"kid":"k","signs_until":` + ts + `,"published_until":` + ts + `,"at":` + ts + `,"x":1}`},
		{"retired missing kid", "tenant.signing_key_retired", `{"signs_until":` + ts + `,"published_until":` + ts + `,"at":` + ts + `}`},
		{"retired missing signs_until", "tenant.signing_key_retired", `{"kid":"k","published_until":` + ts + `,"at":` + ts + `}`},
		{"retired missing published_until", "tenant.signing_key_retired", `{"kid":"k","signs_until":` + ts + `,"at":` + ts + `}`},
		{"retired missing at", "tenant.signing_key_retired", `{"kid":"k","signs_until":` + ts + `,"published_until":` + ts + `}`},
		{"retired wrong type", "tenant.signing_key_retired", `{"kid":7,"signs_until":` + ts + `,"published_until":` + ts + `,"at":` + ts + `}`},
		{"retired array", "tenant.signing_key_retired", `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := tenant.Decode(tt.typ, 1, []byte(tt.data))
			if !errors.Is(err, domain.ErrCorruptEvent) || e != nil {
				t.Errorf("Decode = %v, %v; want domain.ErrCorruptEvent", e, err)
			}
		})
	}
	for _, typ := range []string{"tenant.signing_key_added", "tenant.signing_key_retired"} {
		if _, err := tenant.Decode(typ, 2, []byte(`{}`)); !errors.Is(err, domain.ErrUnknownEvent) {
			t.Errorf("Decode(%s, 2) = %v, want domain.ErrUnknownEvent", typ, err)
		}
	}
}

// Printing or logging a key, or the event that adds one, never shows the
// sealed private key.
func TestKeysRedactSealedPrivateKey(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	events, err := tn.RotateKey(newKey("k2"), 0, time.Hour, now)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tn, events)
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	for _, v := range []any{newKey("k1"), tn.Keys()[0], tn.Keys()[1], events[0], events} {
		for _, format := range []string{"%v", "%+v", "%s"} {
			if s := fmt.Sprintf(format, v); strings.Contains(s, "sealed:") || !strings.Contains(s, "[REDACTED]") {
				t.Errorf("Sprintf(%q, %T) = %s", format, v, s)
			}
		}
	}
	for _, v := range []any{newKey("k1"), tn.Keys()[0], tn.Keys()[1], events[0]} {
		log.Info("key", "value", v)
	}
	if s := logged.String(); strings.Contains(s, "sealed:") || strings.Count(s, "[REDACTED]") != 4 {
		t.Errorf("log output shows or loses key material:\n%s", s)
	}
	if s := fmt.Sprint(tn.Keys()[0]); !strings.Contains(s, "k1") || !strings.Contains(s, "SignsUntil:2025") {
		t.Errorf("String() = %s, want the kid and times", s)
	}
}

// Apply takes every tenant event by value or by pointer alike, and refuses
// a nil pointer of each as an unknown event.
func TestApplyAcceptsEveryEventByPointer(t *testing.T) {
	t.Parallel()
	events := append(keyHistory(), tenant.TenantRenamed{Name: "Acme Inc.", PreviousName: "Acme", At: nowUTC.Add(3 * time.Hour)},
		tenant.TenantResumed{At: nowUTC.Add(4 * time.Hour)})
	pointers := make([]domain.Event, len(events))
	for i, e := range events {
		p := reflect.New(reflect.TypeOf(e))
		p.Elem().Set(reflect.ValueOf(e))
		pointers[i] = p.Interface().(domain.Event)

		var tn tenant.Tenant
		if err := tn.Apply(reflect.Zero(p.Type()).Interface().(domain.Event)); !errors.Is(err, domain.ErrUnknownEvent) {
			t.Errorf("Apply(nil %T) = %v, want domain.ErrUnknownEvent", pointers[i], err)
		}
	}
	byValue, err := tenant.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	byPointer, err := tenant.Replay(pointers)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byValue, byPointer) {
		t.Error("replaying pointers differs from replaying values")
	}
}
