package signing_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/tenants/signing"
)

func master(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, signing.MasterKeySize)
	_, _ = rand.Read(b)
	return b
}

func keyring(t *testing.T, masters ...[]byte) *signing.Keyring {
	t.Helper()
	k, err := signing.NewKeyring(masters...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// view turns a generated key into the tenant's view of it, as the
// aggregate keeps it once the key was added.
func view(k tenant.NewKey) tenant.Key {
	now := time.Now()
	return tenant.Key{KID: k.KID, Alg: k.Alg, PublicJWK: k.PublicJWK, Sealed: k.Sealed, AddedAt: now, ActiveFrom: now}
}

func TestGenerateSignVerify(t *testing.T) {
	ring := keyring(t, master(t))
	for _, alg := range []string{tenant.AlgES256, tenant.AlgRS256, tenant.AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			nk, err := ring.Generate("acme", alg)
			if err != nil {
				t.Fatal(err)
			}
			if nk.Alg != alg || nk.KID == "" || nk.Sealed == "" {
				t.Fatalf("generated %+v", nk)
			}
			// The public JWK is public: no private member, and it names
			// its kid, alg and use.
			var members map[string]any
			if err := json.Unmarshal(nk.PublicJWK, &members); err != nil {
				t.Fatal(err)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := members[private]; ok {
					t.Fatalf("public JWK holds %q: %s", private, nk.PublicJWK)
				}
			}
			if members["kid"] != nk.KID || members["alg"] != alg || members["use"] != "sig" {
				t.Fatalf("public JWK %s", nk.PublicJWK)
			}
			// The kid is the RFC 7638 thumbprint.
			var pub jose.JSONWebKey
			if err := pub.UnmarshalJSON(nk.PublicJWK); err != nil {
				t.Fatal(err)
			}
			thumb, _ := pub.Thumbprint(crypto.SHA256)
			if got := base64.RawURLEncoding.EncodeToString(thumb); got != nk.KID {
				t.Fatalf("kid %s, thumbprint %s", nk.KID, got)
			}
			// The sealed private key reveals nothing readable.
			if strings.Contains(nk.Sealed, "PRIVATE") || bytes.Contains(nk.PublicJWK, []byte(nk.Sealed)) {
				t.Fatal("sealed key looks like plaintext")
			}

			key, err := ring.Open("acme", view(nk))
			if err != nil {
				t.Fatal(err)
			}
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: key.JWK()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := signer.Sign([]byte("payload"))
			if err != nil {
				t.Fatal(err)
			}
			compact, _ := jws.CompactSerialize()
			parsed, err := jose.ParseSigned(compact)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Signatures[0].Header.KeyID != nk.KID {
				t.Fatalf("kid header %q, want %q", parsed.Signatures[0].Header.KeyID, nk.KID)
			}
			out, err := parsed.Verify(pub)
			if err != nil || string(out) != "payload" {
				t.Fatalf("verify with the published key: %q %v", out, err)
			}
		})
	}
}

func TestUnknownAlgorithm(t *testing.T) {
	if _, err := keyring(t, master(t)).Generate("acme", "HS256"); err == nil {
		t.Fatal("generated an HS256 key")
	}
}

func TestOpenRefuses(t *testing.T) {
	m := master(t)
	ring := keyring(t, m)
	nk, err := ring.Generate("acme", tenant.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ring.Generate("acme", tenant.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(s string) string {
		b := []byte(s)
		b[len(b)-5] ^= 1
		if b[len(b)-5] == '.' || b[len(b)-5] > 'z' {
			b[len(b)-5] = 'A'
		}
		return string(b)
	}
	cases := map[string]struct {
		ring *signing.Keyring
		slug string
		key  tenant.Key
	}{
		"another tenant":        {ring, "other", view(nk)},
		"another key id":        {ring, "acme", func() tenant.Key { k := view(nk); k.KID = other.KID; return k }()},
		"another master key":    {keyring(t, master(t)), "acme", view(nk)},
		"altered ciphertext":    {ring, "acme", func() tenant.Key { k := view(nk); k.Sealed = tamper(k.Sealed); return k }()},
		"not sealed":            {ring, "acme", func() tenant.Key { k := view(nk); k.Sealed = "plain"; return k }()},
		"unknown version":       {ring, "acme", func() tenant.Key { k := view(nk); k.Sealed = "v9" + k.Sealed[2:]; return k }()},
		"other key's public":    {ring, "acme", func() tenant.Key { k := view(nk); k.PublicJWK = other.PublicJWK; return k }()},
		"algorithm not its own": {ring, "acme", func() tenant.Key { k := view(nk); k.Alg = tenant.AlgRS256; return k }()},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := c.ring.Open(c.slug, c.key); !errors.Is(err, signing.ErrSealed) {
				t.Fatalf("Open = %v, want ErrSealed", err)
			}
		})
	}
}

func TestMasterKeyRotation(t *testing.T) {
	old, next := master(t), master(t)
	nk, err := keyring(t, old).Generate("acme", tenant.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	both := keyring(t, next, old)
	if _, err := both.Open("acme", view(nk)); err != nil {
		t.Fatalf("a key sealed under the old master does not open with it listed second: %v", err)
	}
	if both.ID() != keyring(t, next).ID() {
		t.Fatal("the first master key does not seal")
	}
	fresh, err := both.Generate("acme", tenant.AlgEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fresh.Sealed, "."+both.ID()+".") {
		t.Fatalf("sealed %q does not name master %s", fresh.Sealed, both.ID())
	}
	if _, err := keyring(t, old).Open("acme", view(fresh)); !errors.Is(err, signing.ErrSealed) {
		t.Fatalf("opened under the old master alone: %v", err)
	}
}

func TestParseKeyring(t *testing.T) {
	a, b := master(t), master(t)
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(a) + "," + base64.RawURLEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(a) + " , " + base64.RawStdEncoding.EncodeToString(b),
	} {
		ring, err := signing.ParseKeyring(s)
		if err != nil {
			t.Fatalf("ParseKeyring(%q): %v", s, err)
		}
		if ring.ID() != keyring(t, a).ID() {
			t.Fatalf("ParseKeyring(%q) seals with another key", s)
		}
	}
	short := base64.StdEncoding.EncodeToString(a[:16])
	for _, s := range []string{"", "not base64!", short, base64.StdEncoding.EncodeToString(a) + "," + base64.StdEncoding.EncodeToString(a)} {
		if _, err := signing.ParseKeyring(s); err == nil {
			t.Errorf("ParseKeyring(%q) accepted", s)
		} else if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(a)) {
			t.Errorf("the error shows the key: %v", err)
		}
	}
	if _, err := signing.NewKeyring(); err == nil {
		t.Error("NewKeyring() without keys accepted")
	}
}

func TestReferenceTokens(t *testing.T) {
	old, next := master(t), master(t)
	ring := keyring(t, old)
	// A client id long enough that the token's random base64 never
	// holds it by chance ("c1" was in one token in 40).
	claims := []byte(`{"client_id":"client-one","scope":"read"}`)
	tok, err := ring.SealReference("acme", claims)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ring.SealReference("acme", claims)
	if !strings.HasPrefix(tok, signing.ReferencePrefix) || tok == again || strings.Contains(tok, "client-one") {
		t.Fatalf("token %q (again %q)", tok, again)
	}
	got, err := ring.OpenReference("acme", tok)
	if err != nil || !bytes.Equal(got, claims) {
		t.Fatalf("OpenReference = %s, %v", got, err)
	}
	if slug, ok := signing.ReferenceTenant(tok); !ok || slug != "acme" {
		t.Errorf("ReferenceTenant = %q, %v", slug, ok)
	}
	// The old master, listed second, still opens its tokens.
	if got, err := keyring(t, next, old).OpenReference("acme", tok); err != nil || !bytes.Equal(got, claims) {
		t.Fatalf("after a master key rotation: %s, %v", got, err)
	}
	flip := []byte(tok)
	flip[len(flip)-3] ^= 1
	for name, c := range map[string]struct {
		ring      *signing.Keyring
		slug, tok string
	}{
		"another tenant":     {ring, "beta", tok},
		"another master key": {keyring(t, next), "acme", tok},
		"altered":            {ring, "acme", string(flip)},
		"truncated":          {ring, "acme", tok[:len(tok)-10]},
		"no prefix":          {ring, "acme", strings.TrimPrefix(tok, signing.ReferencePrefix)},
		"renamed tenant":     {ring, "beta", strings.Replace(tok, "acme.", "beta.", 1)},
		"a JWT":              {ring, "acme", "eyJhbGciOiJFUzI1NiJ9.e30.sig"},
		"empty":              {ring, "acme", signing.ReferencePrefix},
	} {
		if _, err := c.ring.OpenReference(c.slug, c.tok); !errors.Is(err, signing.ErrReference) {
			t.Errorf("%s: %v, want ErrReference", name, err)
		}
	}
}

func TestHMACSecret(t *testing.T) {
	a, b := master(t), master(t)
	one, again := keyring(t, a).HMACSecret(), keyring(t, a, b).HMACSecret()
	if len(one) != 32 || !bytes.Equal(one, again) {
		t.Fatalf("not the same on two nodes with the same sealing key: %x %x", one, again)
	}
	if bytes.Equal(one, keyring(t, b).HMACSecret()) || bytes.Contains(one, a) {
		t.Fatal("the HMAC secret does not depend on the master key, or shows it")
	}
	// While b replaces a, a's secret still verifies.
	rotated := keyring(t, b, a).RotatedHMACSecrets()
	if len(rotated) != 1 || !bytes.Equal(rotated[0], one) || len(keyring(t, a).RotatedHMACSecrets()) != 0 {
		t.Errorf("rotated secrets = %x", rotated)
	}
}

func TestRegistrationTokensAreNotReferenceTokens(t *testing.T) {
	ring := keyring(t, master(t))
	claims := []byte(`{"client_id":"c1"}`)
	reg, _ := ring.SealRegistration("acme", claims)
	ref, _ := ring.SealReference("acme", claims)
	if _, err := ring.OpenReference("acme", reg); !errors.Is(err, signing.ErrReference) {
		t.Errorf("a registration token opens as a reference token: %v", err)
	}
	if _, err := ring.OpenRegistration("acme", ref); !errors.Is(err, signing.ErrReference) {
		t.Errorf("a reference token opens as a registration token: %v", err)
	}
	if got, err := ring.OpenRegistration("acme", reg); err != nil || !bytes.Equal(got, claims) {
		t.Errorf("OpenRegistration = %s, %v", got, err)
	}
}

// TestSealedUserClaims seals a user's claims for an access token: they
// open for their tenant only, with the keyring's master keys (an older
// one too), never as a token, and no token opens as them.
func TestSealedUserClaims(t *testing.T) {
	old, next := master(t), master(t)
	claims := []byte(`{"email":"alice@example.test"}`)
	sealed, err := keyring(t, old).SealUserClaims("acme", claims)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, ".") || strings.HasPrefix(sealed, signing.ReferencePrefix) {
		t.Errorf("sealed claims %q look like a token", sealed)
	}
	ring := keyring(t, next, old)
	if got, err := ring.OpenUserClaims("acme", sealed); err != nil || !bytes.Equal(got, claims) {
		t.Errorf("OpenUserClaims = %s, %v", got, err)
	}
	if _, err := ring.OpenUserClaims("other", sealed); !errors.Is(err, signing.ErrReference) {
		t.Errorf("claims sealed for acme open for another tenant: %v", err)
	}
	if _, err := ring.OpenReference("acme", signing.ReferencePrefix+"acme."+sealed); !errors.Is(err, signing.ErrReference) {
		t.Errorf("sealed claims open as a reference token: %v", err)
	}
	ref, _ := ring.SealReference("acme", claims)
	if _, err := ring.OpenUserClaims("acme", strings.TrimPrefix(ref, signing.ReferencePrefix+"acme.")); !errors.Is(err, signing.ErrReference) {
		t.Errorf("a reference token's body opens as sealed claims: %v", err)
	}
	if _, err := keyring(t, next).OpenUserClaims("acme", sealed); !errors.Is(err, signing.ErrReference) {
		t.Errorf("claims open without the master key that sealed them: %v", err)
	}
}

// TestSealedSecrets seals a client_secret_jwt client's secret: it opens
// for its tenant and client only, with the keyring's master keys, and is
// no reference token.
func TestSealedSecrets(t *testing.T) {
	old, next := master(t), master(t)
	ring := keyring(t, old)
	sealed, err := ring.SealSecret("acme", "c1", "cls_secret")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, signing.SealedSecretPrefix) || strings.Contains(sealed, "cls_secret") {
		t.Fatalf("sealed %q", sealed)
	}
	if got, err := ring.OpenSecret("acme", "c1", sealed); err != nil || got != "cls_secret" {
		t.Fatalf("OpenSecret = %q, %v", got, err)
	}
	if got, err := keyring(t, next, old).OpenSecret("acme", "c1", sealed); err != nil || got != "cls_secret" {
		t.Errorf("after a master key rotation: %q, %v", got, err)
	}
	for name, open := range map[string]func() (string, error){
		"another client": func() (string, error) { return ring.OpenSecret("acme", "c2", sealed) },
		"another tenant": func() (string, error) { return ring.OpenSecret("beta", "c1", sealed) },
		"another master": func() (string, error) { return keyring(t, next).OpenSecret("acme", "c1", sealed) },
		"a hash":         func() (string, error) { return ring.OpenSecret("acme", "c1", "sha256$abc") },
		"as a reference": func() (string, error) {
			b, err := ring.OpenReference("acme", strings.TrimPrefix(sealed, signing.SealedSecretPrefix))
			return string(b), err
		},
	} {
		if got, err := open(); err == nil {
			t.Errorf("%s opened: %q", name, got)
		}
	}
}
