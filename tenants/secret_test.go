package tenants_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/tenants"
)

func TestNewSecret(t *testing.T) {
	t.Parallel()
	value := regexp.MustCompile(`^cls_[A-Za-z0-9_-]{43}$`) // 32 bytes, base64url without padding
	id := regexp.MustCompile(`^sec_[a-z2-7]{12}$`)
	seen := map[string]bool{}
	for range 100 {
		s := tenants.NewSecret()
		if !value.MatchString(s.Value) {
			t.Fatalf("value %q does not look like cls_ + base64url(32 bytes)", s.Value)
		}
		if !id.MatchString(s.ID) {
			t.Fatalf("id %q does not look like sec_ + 12 base32 characters", s.ID)
		}
		if seen[s.Value] || seen[s.ID] {
			t.Fatal("a secret or id repeated")
		}
		seen[s.Value], seen[s.ID] = true, true
	}
}

func TestHashAndVerifySecret(t *testing.T) {
	t.Parallel()
	s := tenants.NewSecret()
	h := tenants.HashSecret(s.Value)
	if !regexp.MustCompile(`^sha256\$[A-Za-z0-9_-]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not sha256$ + base64url(32 bytes)", h)
	}
	if strings.Contains(h, s.Value) || strings.Contains(h, strings.TrimPrefix(s.Value, "cls_")) {
		t.Fatal("the hash contains the secret")
	}
	// A known answer, so the format can never drift.
	if got := tenants.HashSecret("cls_test"); got != "sha256$"+"hL-khPk8eha3fk9-N_Q3n0vzY3GaN3aI8hjaDawPX-8" {
		t.Errorf("HashSecret(cls_test) = %s", got)
	}
	tests := []struct {
		name      string
		hash      string
		plaintext string
		want      bool
	}{
		{"right", h, s.Value, true},
		{"wrong secret", h, tenants.NewSecret().Value, false},
		{"empty secret", h, "", false},
		{"prefix of the secret", h, s.Value[:len(s.Value)-1], false},
		{"unknown algorithm", "md5$" + strings.TrimPrefix(h, "sha256$"), s.Value, false},
		{"no hash", "", s.Value, false},
		{"the plaintext as hash", s.Value, s.Value, false},
	}
	for _, tt := range tests {
		if got := tenants.VerifySecret(tt.hash, tt.plaintext); got != tt.want {
			t.Errorf("%s: VerifySecret = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := tenants.NewSecret()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "secret", s)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "secret", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), fmt.Sprint(&s), logs.String()} {
		if strings.Contains(out, s.Value) || strings.Contains(out, "cls_") {
			t.Errorf("the secret's value leaked: %s", out)
		}
		if !strings.Contains(out, s.ID) {
			t.Errorf("the secret's id is missing: %s", out)
		}
	}
}
