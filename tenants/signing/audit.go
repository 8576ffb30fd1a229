package signing

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/domain/tenant"
)

// GenerateAuditKey makes a new Ed25519 key named name for tenant slug's
// audit log, in the signed-note format of golang.org/x/mod/sumdb/note:
// its verifier key public, its signer key ("PRIVATE+KEY+...") sealed like
// a signing key, bound to the tenant and the verifier key.
func (k *Keyring) GenerateAuditKey(slug, name string) (tenant.NewAuditKey, error) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return tenant.NewAuditKey{}, fmt.Errorf("signing: generate audit key: %w", err)
	}
	return tenant.NewAuditKey{Name: name, Verifier: vkey, Sealed: k.seal(auditAAD(slug, vkey), []byte(skey))}, nil
}

// OpenAuditKey opens tenant slug's sealed audit key and returns its
// signer. It fails with an error wrapping [ErrSealed] when the ciphertext
// does not open (see ErrSealed), and when what it holds is not the signer
// key of key's verifier key.
func (k *Keyring) OpenAuditKey(slug string, key tenant.AuditKey) (note.Signer, error) {
	what := fmt.Sprintf("audit key %s of tenant %s", key.Verifier, slug)
	skey, err := k.unseal(what, key.Sealed, auditAAD(slug, key.Verifier))
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(string(skey))
	if err != nil {
		return nil, fmt.Errorf("%s: holds no signer key: %w", what, ErrSealed)
	}
	verifier, err := note.NewVerifier(key.Verifier)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// The signer must be the verifier's other half: same name and hash,
	// and what it signs verifies.
	probe := []byte("clavis audit key check\n")
	sig, err := signer.Sign(probe)
	if err != nil || signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() || !verifier.Verify(probe, sig) {
		return nil, fmt.Errorf("%s: signer key does not match the verifier key: %w", what, ErrSealed)
	}
	return signer, nil
}

// auditAAD binds a sealed audit key to its tenant and verifier key.
func auditAAD(slug, verifier string) []byte {
	return []byte("clavis audit key\x00" + slug + "\x00" + verifier)
}
