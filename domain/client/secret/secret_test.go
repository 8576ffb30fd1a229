package secret_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client/secret"
)

func TestNew(t *testing.T) {
	t.Parallel()
	value := regexp.MustCompile(`^cls_[A-Za-z0-9_-]{43}$`) // 32 bytes, base64url without padding
	id := regexp.MustCompile(`^sec_[a-z2-7]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		v, i := secret.NewValue(), secret.NewID()
		if !value.MatchString(v) {
			t.Fatalf("value %q does not look like cls_ + base64url(32 bytes)", v)
		}
		if !id.MatchString(i) {
			t.Fatalf("id %q does not look like sec_ + 12 base32 characters", i)
		}
		if seen[v] || seen[i] {
			t.Fatal("a secret or id repeated")
		}
		seen[v], seen[i] = true, true
	}
}

func TestHashAndVerify(t *testing.T) {
	t.Parallel()
	s := secret.NewValue()
	h := secret.Hash(s)
	if !regexp.MustCompile(`^sha256\$[A-Za-z0-9_-]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not sha256$ + base64url(32 bytes)", h)
	}
	if strings.Contains(h, s) || strings.Contains(h, strings.TrimPrefix(s, "cls_")) {
		t.Fatal("the hash contains the secret")
	}
	// A known answer, so the format can never drift.
	if got := secret.Hash("cls_test"); got != "sha256$"+"hL-khPk8eha3fk9-N_Q3n0vzY3GaN3aI8hjaDawPX-8" {
		t.Errorf("Hash(cls_test) = %s", got)
	}
	tests := []struct {
		name      string
		hash      string
		plaintext string
		want      bool
	}{
		{"right", h, s, true},
		{"wrong secret", h, secret.NewValue(), false},
		{"empty secret", h, "", false},
		{"prefix of the secret", h, s[:len(s)-1], false},
		{"unknown algorithm", "md5$" + strings.TrimPrefix(h, "sha256$"), s, false},
		{"no hash", "", s, false},
		{"the plaintext as hash", s, s, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := secret.Verify(tt.hash, tt.plaintext); got != tt.want {
				t.Errorf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
}
