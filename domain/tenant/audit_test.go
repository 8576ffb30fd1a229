package tenant_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/tenant"
)

// auditOrigin is the key name of acme's audit log in these tests.
const auditOrigin = "id.example.com/t/acme/audit"

// newAuditKey generates a real signed-note key named name. Its "sealed"
// form is the signer key itself, so that a redaction that kept it would
// show "PRIVATE+KEY".
func newAuditKey(t testing.TB, name string) tenant.NewAuditKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return tenant.NewAuditKey{Name: name, Verifier: vkey, Sealed: skey}
}

func auditAdded(k tenant.NewAuditKey, at time.Time) tenant.AuditKeyAdded {
	return tenant.AuditKeyAdded{Name: k.Name, Verifier: k.Verifier, Sealed: k.Sealed, AddedAt: at}
}

// auditHistory is a tenant that got an audit key and later a second one,
// while suspended.
func auditHistory(t testing.TB) []domain.Event {
	return []domain.Event{
		tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC},
		auditAdded(newAuditKey(t, auditOrigin), nowUTC),
		tenant.TenantSuspended{Reason: "audit", At: nowUTC.Add(time.Minute)},
		auditAdded(newAuditKey(t, auditOrigin), nowUTC.Add(2*time.Minute)),
	}
}

func TestAddAuditKeyRotates(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	if _, ok := tn.ActiveAuditKey(); ok || len(tn.AuditKeys()) != 0 {
		t.Fatal("a tenant created without an audit key has one")
	}
	first, second := newAuditKey(t, auditOrigin), newAuditKey(t, auditOrigin)
	for i, k := range []tenant.NewAuditKey{first, second} {
		events, err := tn.AddAuditKey(k, now.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := []domain.Event{auditAdded(k, nowUTC.Add(time.Duration(i)*time.Minute))}
		if !reflect.DeepEqual(events, want) {
			t.Fatalf("events = %v, want %v", events, want)
		}
		if err := tn.Apply(events[0]); err != nil {
			t.Fatal(err)
		}
		active, ok := tn.ActiveAuditKey()
		if !ok || active.Verifier != k.Verifier || active.Name != auditOrigin || active.Sealed != k.Sealed {
			t.Fatalf("active key after adding %d = %v, %v", i+1, active, ok)
		}
		v, err := note.NewVerifier(k.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		if active.Hash != v.KeyHash() {
			t.Errorf("hash = %08x, the verifier's is %08x", active.Hash, v.KeyHash())
		}
	}
	got := tenant.AuditVerifiers(tn.AuditKeys())
	if want := []string{second.Verifier, first.Verifier}; !reflect.DeepEqual(got, want) {
		t.Errorf("verifiers = %q, want the active one first: %q", got, want)
	}
	if tn.Version() != 4 || !tn.UpdatedAt().Equal(nowUTC.Add(time.Minute)) {
		t.Errorf("version %d updated %s", tn.Version(), tn.UpdatedAt())
	}
}

func TestAddAuditKeyOnSuspendedTenant(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	events, err := tn.Suspend("unpaid", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Apply(events[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := tn.AddAuditKey(newAuditKey(t, auditOrigin), now); err != nil {
		t.Errorf("a suspended tenant may get an audit key: %v", err)
	}
}

func TestAddAuditKeyWithoutTenant(t *testing.T) {
	t.Parallel()
	if _, err := new(tenant.Tenant).AddAuditKey(newAuditKey(t, auditOrigin), now); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("err = %v, want domain.ErrNotFound", err)
	}
}

func TestAddAuditKeyRefusesBadInput(t *testing.T) {
	t.Parallel()
	used := newAuditKey(t, auditOrigin)
	long := strings.Repeat("a", tenant.MaxAuditKeyNameLength+1)
	other := newAuditKey(t, "other.example/audit")
	tampered := newAuditKey(t, auditOrigin)
	// Another hash for the same name and key.
	name, rest, _ := strings.Cut(tampered.Verifier, "+")
	hash, key, _ := strings.Cut(rest, "+")
	flipped := "0"
	if hash[0] == '0' {
		flipped = "1"
	}
	tampered.Verifier = name + "+" + flipped + hash[1:] + "+" + key
	keyData, _ := base64.StdEncoding.DecodeString(key)
	wrongAlg := newAuditKey(t, auditOrigin)
	wrongAlg.Verifier = name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{2}, keyData[1:]...))

	tests := []struct {
		name        string
		key         tenant.NewAuditKey
		field, code string
	}{
		{"no name", tenant.NewAuditKey{Verifier: used.Verifier, Sealed: "s"}, "audit_key.name", "required"},
		{"long name", tenant.NewAuditKey{Name: long, Verifier: used.Verifier, Sealed: "s"}, "audit_key.name", "too_long"},
		{"space in name", tenant.NewAuditKey{Name: "acme audit", Verifier: used.Verifier, Sealed: "s"}, "audit_key.name", "invalid_value"},
		{"plus in name", tenant.NewAuditKey{Name: "acme+audit", Verifier: used.Verifier, Sealed: "s"}, "audit_key.name", "invalid_value"},
		{"invalid UTF-8", tenant.NewAuditKey{Name: "acme\xff", Verifier: used.Verifier, Sealed: "s"}, "audit_key.name", "invalid_value"},
		{"no verifier", tenant.NewAuditKey{Name: auditOrigin, Sealed: "s"}, "audit_key.verifier", "required"},
		{"garbage verifier", tenant.NewAuditKey{Name: auditOrigin, Verifier: "not a key", Sealed: "s"}, "audit_key.verifier", "invalid_value"},
		{"signer key as verifier", tenant.NewAuditKey{Name: auditOrigin, Verifier: used.Sealed, Sealed: "s"}, "audit_key.verifier", "invalid_value"},
		{"wrong hash", tampered, "audit_key.verifier", "invalid_value"},
		{"not Ed25519", wrongAlg, "audit_key.verifier", "invalid_value"},
		{"verifier of another name", tenant.NewAuditKey{Name: auditOrigin, Verifier: other.Verifier, Sealed: "s"}, "audit_key.verifier", "invalid_value"},
		{"hash used before", used, "audit_key.verifier", "duplicate"},
		{"no sealed key", tenant.NewAuditKey{Name: auditOrigin, Verifier: newAuditKey(t, auditOrigin).Verifier}, "audit_key.sealed", "required"},
	}
	tn := created(t, "acme", "Acme")
	events, err := tn.AddAuditKey(used, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.Apply(events[0]); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			before := tn.State()
			events, err := tn.AddAuditKey(tc.key, now)
			if events != nil {
				t.Errorf("events = %v", events)
			}
			wantProblem(t, err, tc.field, tc.code)
			if !reflect.DeepEqual(tn.State(), before) {
				t.Error("a refused command changed the tenant")
			}
		})
	}
}

// TestParseAuditVerifierAgreesWithNote checks the domain's reading of a
// verifier key against golang.org/x/mod/sumdb/note's, on good keys and on
// keys broken in every part.
func TestParseAuditVerifierAgreesWithNote(t *testing.T) {
	t.Parallel()
	good := newAuditKey(t, auditOrigin).Verifier
	name, rest, _ := strings.Cut(good, "+")
	hash, key, _ := strings.Cut(rest, "+")
	raw, _ := base64.StdEncoding.DecodeString(key)
	cases := []string{
		good,
		newAuditKey(t, "a").Verifier,
		newAuditKey(t, "ünïcode/audit").Verifier,
		"",
		name,
		name + "+" + hash,
		name + "+" + hash + "+",
		"+" + hash + "+" + key,
		name + "+" + strings.ToUpper(hash) + "+" + key,
		name + "+" + hash[:7] + "+" + key,
		name + "+" + hash + "0+" + key,
		name + "+0x" + hash[2:] + "+" + key,
		name + "+" + hash + "+" + key[:len(key)-4],
		name + "+" + hash + "+" + base64.RawStdEncoding.EncodeToString(raw),
		name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append(raw, 0)),
		name + "+" + hash + "+" + key + "+",
		"other+" + hash + "+" + key,
		"PRIVATE+KEY+" + good,
	}
	for i, vkey := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			v, noteErr := note.NewVerifier(vkey)
			gotName, gotHash, err := tenant.ParseAuditVerifier(vkey)
			if (err == nil) != (noteErr == nil) {
				t.Fatalf("ParseAuditVerifier(%q) err = %v, note.NewVerifier err = %v", vkey, err, noteErr)
			}
			if err == nil && (gotName != v.Name() || gotHash != v.KeyHash()) {
				t.Errorf("ParseAuditVerifier(%q) = %q, %08x; note says %q, %08x", vkey, gotName, gotHash, v.Name(), v.KeyHash())
			}
		})
	}
}

func TestApplyRefusesAuditKeyOutOfSequence(t *testing.T) {
	t.Parallel()
	k := newAuditKey(t, auditOrigin)
	bad := k
	bad.Verifier = newAuditKey(t, "elsewhere/audit").Verifier
	tests := []struct {
		name    string
		history []domain.Event
	}{
		{"before the tenant", []domain.Event{auditAdded(k, nowUTC)}},
		{"the same key twice", []domain.Event{tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC}, auditAdded(k, nowUTC), auditAdded(k, nowUTC)}},
		{"a verifier of another name", []domain.Event{tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC}, auditAdded(bad, nowUTC)}},
		{"a broken verifier", []domain.Event{tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC},
			tenant.AuditKeyAdded{Name: auditOrigin, Verifier: auditOrigin + "+00000000+AQ==", Sealed: "s", AddedAt: nowUTC}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tenant.Replay(tc.history); !errors.Is(err, domain.ErrCorruptEvent) {
				t.Errorf("Replay err = %v, want domain.ErrCorruptEvent", err)
			}
		})
	}
}

func TestDecodeAuditKeyAdded(t *testing.T) {
	t.Parallel()
	for _, data := range []string{
		`{"name":"n","verifier":"v","sealed":"s"}`,
		`{"name":"","verifier":"v","sealed":"s","added_at":"2025-01-01T00:00:00Z"}`,
		`{"name":"n","verifier":"","sealed":"s","added_at":"2025-01-01T00:00:00Z"}`,
		`{"name":"n","verifier":"v","sealed":"","added_at":"2025-01-01T00:00:00Z"}`,
		`{"name":"n","verifier":"v","sealed":"s","added_at":"2025-01-01T00:00:00Z","extra":1}`,
	} {
		if _, err := tenant.Decode(tenant.EventTypeAuditKeyAdded, 1, []byte(data)); !errors.Is(err, domain.ErrCorruptEvent) {
			t.Errorf("Decode(%s) err = %v, want domain.ErrCorruptEvent", data, err)
		}
	}
}

// TestRedactAuditKey shows an audit key's name and verifier at every
// level, and its sealed signer key at none.
func TestRedactAuditKey(t *testing.T) {
	t.Parallel()
	k := newAuditKey(t, auditOrigin)
	e := auditAdded(k, nowUTC)
	for _, r := range []domain.Redaction{domain.RedactHistory, domain.RedactPublic, domain.Redaction(99)} {
		for _, ev := range []domain.Event{e, &e} {
			b, err := json.Marshal(tenant.Redact(ev, r))
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			if strings.Contains(s, "PRIVATE+KEY") || strings.Contains(s, k.Sealed) {
				t.Errorf("level %d shows the signer key: %s", r, s)
			}
			if !strings.Contains(s, k.Verifier) || !strings.Contains(s, `"name":"`+auditOrigin+`"`) {
				t.Errorf("level %d hides the public key: %s", r, s)
			}
		}
	}
	for _, s := range []string{fmt.Sprint(e), fmt.Sprintf("%+v", e), fmt.Sprint(k), fmt.Sprint(tenant.AuditKey{Sealed: k.Sealed})} {
		if strings.Contains(s, "PRIVATE+KEY") {
			t.Errorf("printing shows the signer key: %s", s)
		}
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "event", e, "key", k, "held", tenant.AuditKey{Sealed: k.Sealed})
	if strings.Contains(buf.String(), "PRIVATE+KEY") {
		t.Errorf("logging shows the signer key: %s", buf.String())
	}
}
