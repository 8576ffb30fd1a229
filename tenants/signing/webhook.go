package signing

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// WebhookSecretPrefix starts a webhook signing secret, as the Standard
// Webhooks specification writes them: "whsec_" and the base64 of the key.
const WebhookSecretPrefix = "whsec_"

// webhookKeyBytes is the size of a webhook signing key: 256 bits.
const webhookKeyBytes = 32

// NewWebhookSecret returns a new webhook signing secret, "whsec_" and the
// standard base64 of 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, webhookKeyBytes)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return WebhookSecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// SealWebhookSecret seals the signing secret of tenant slug's webhook
// endpoint webhookID: the result, which starts with [SealedSecretPrefix],
// opens only for that tenant and endpoint, with this keyring's master
// keys.
func (k *Keyring) SealWebhookSecret(slug, webhookID, secret string) (string, error) {
	sealed, err := k.sealOpaque(webhookAAD(webhookID), slug, []byte(secret))
	if err != nil {
		return "", err
	}
	return SealedSecretPrefix + sealed, nil
}

// OpenWebhookSecret opens what SealWebhookSecret sealed for tenant slug
// and endpoint webhookID, or fails wrapping [ErrReference].
func (k *Keyring) OpenWebhookSecret(slug, webhookID, sealed string) (string, error) {
	body, ok := strings.CutPrefix(sealed, SealedSecretPrefix)
	if !ok {
		return "", ErrReference
	}
	secret, err := k.openOpaque(webhookAAD(webhookID), slug, body)
	return string(secret), err
}

func webhookAAD(webhookID string) func(string) []byte {
	return func(slug string) []byte { return []byte("clavis webhook secret\x00" + slug + "\x00" + webhookID) }
}
