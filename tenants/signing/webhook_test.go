package signing_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/tenants/signing"
)

func TestWebhookSecretsSealForOneEndpoint(t *testing.T) {
	k, err := signing.NewKeyring([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	secret := signing.NewWebhookSecret()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, signing.WebhookSecretPrefix))
	if !strings.HasPrefix(secret, "whsec_") || err != nil || len(key) != 32 {
		t.Fatalf("secret %q: %v", secret, err)
	}
	if signing.NewWebhookSecret() == secret {
		t.Fatal("two secrets are equal")
	}
	sealed, err := k.SealWebhookSecret("acme", "wh_1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, secret) {
		t.Fatal("the sealed form holds the secret")
	}
	if got, err := k.OpenWebhookSecret("acme", "wh_1", sealed); err != nil || got != secret {
		t.Fatalf("open = %q, %v", got, err)
	}
	for _, c := range [][2]string{{"beta", "wh_1"}, {"acme", "wh_2"}} {
		if _, err := k.OpenWebhookSecret(c[0], c[1], sealed); !errors.Is(err, signing.ErrReference) {
			t.Errorf("opened for %v: %v", c, err)
		}
	}
	if _, err := k.OpenSecret("acme", "wh_1", sealed); err == nil {
		t.Error("a webhook secret opens as a client secret")
	}
}
