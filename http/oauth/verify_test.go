package oauth_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/http/oauth"
)

// TestVerifyAccessTokenIsCompactOnly checks that an access token is
// accepted only in the compact form it was issued in (RFC 9068 JWTs are
// compact JWS): the same signature in go-jose's other spellings — JSON
// serialization, base64 padding, surrounding space — is not a token.
func TestVerifyAccessTokenIsCompactOnly(t *testing.T) {
	p, authorization, form := quickProvider(t)
	answer, ok := p.QuickClientCredentials(t.Context(), "acme", "192.0.2.1:1234", authorization, form)
	if !ok {
		t.Fatal("no token")
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(answer, &tok); err != nil {
		t.Fatal(err)
	}
	if _, err := p.VerifyAccessToken(t.Context(), tok.AccessToken); err != nil {
		t.Fatalf("the token as issued: %v", err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	flattened, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
	for name, variant := range map[string]string{
		"JSON serialization": string(flattened),
		"padded signature":   tok.AccessToken + strings.Repeat("=", (4-len(parts[2])%4)%4+4),
		"leading space":      " " + tok.AccessToken,
		"trailing newline":   tok.AccessToken + "\n",
		"four parts":         tok.AccessToken + ".x",
		"no signature":       parts[0] + "." + parts[1] + ".",
		"empty":              "",
	} {
		if _, err := p.VerifyAccessToken(t.Context(), variant); !errors.Is(err, oauth.ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
}
