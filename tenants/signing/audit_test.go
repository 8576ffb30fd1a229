package signing_test

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/tenants/signing"
)

const auditName = "id.example.com/t/acme/audit"

func auditKey(t *testing.T, k *signing.Keyring, slug string) tenant.AuditKey {
	t.Helper()
	nk, err := k.GenerateAuditKey(slug, auditName)
	if err != nil {
		t.Fatal(err)
	}
	_, hash, err := tenant.ParseAuditVerifier(nk.Verifier)
	if err != nil {
		t.Fatalf("the verifier key does not parse: %v", err)
	}
	return tenant.AuditKey{Name: nk.Name, Verifier: nk.Verifier, Hash: hash, Sealed: nk.Sealed}
}

// TestAuditKeySignsWhatItsVerifierOpens generates an audit key, opens
// its sealed signer and checks that a note it signs opens with the
// published verifier key, and that the sealed form shows no key.
func TestAuditKeySignsWhatItsVerifierOpens(t *testing.T) {
	t.Parallel()
	k := keyring(t, master(t))
	key := auditKey(t, k, "acme")
	if strings.Contains(key.Sealed, "PRIVATE+KEY") || !strings.HasPrefix(key.Verifier, auditName+"+") {
		t.Fatalf("sealed %q, verifier %q", key.Sealed, key.Verifier)
	}
	signer, err := k.OpenAuditKey("acme", key)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := note.Sign(&note.Note{Text: auditName + "\n1\nAAAA\n"}, signer)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("the note does not open with the verifier key: %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Hash != key.Hash {
		t.Errorf("signatures %+v", n.Sigs)
	}
}

func TestOpenAuditKeyRefuses(t *testing.T) {
	t.Parallel()
	k := keyring(t, master(t))
	key := auditKey(t, k, "acme")
	other := auditKey(t, k, "acme")
	swapped := key
	swapped.Verifier = other.Verifier
	tampered := key
	mid := len(key.Sealed) / 2
	flip := "A"
	if key.Sealed[mid] == 'A' {
		flip = "B"
	}
	tampered.Sealed = key.Sealed[:mid] + flip + key.Sealed[mid+1:]
	tests := []struct {
		name string
		ring *signing.Keyring
		slug string
		key  tenant.AuditKey
	}{
		{"another tenant", k, "globex", key},
		{"another verifier key", k, "acme", swapped},
		{"altered ciphertext", k, "acme", tampered},
		{"another master key", keyring(t, master(t)), "acme", key},
		{"not sealed", k, "acme", tenant.AuditKey{Name: key.Name, Verifier: key.Verifier, Sealed: "PRIVATE+KEY+x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tc.ring.OpenAuditKey(tc.slug, tc.key); !errors.Is(err, signing.ErrSealed) {
				t.Errorf("err = %v, want signing.ErrSealed", err)
			}
		})
	}
}
