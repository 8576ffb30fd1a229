package httpapi_test

import (
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// The login application may give 16 KiB of claims. An access token that
// carried them, sealed, grew to some 30 KB, which no request header fits:
// userinfo answered 431 to its own tokens once the claims passed about
// 1.8 KB. The token stays small, and userinfo answers the claims, with and
// without refresh tokens.
func TestUserinfoAnswersLargeClaimsWithSmallTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	large := strings.Repeat("sales and marketing ", 600) // 12,000 bytes
	for _, grants := range [][]string{{"authorization_code"}, {"authorization_code", "refresh_token"}} {
		t.Run(strings.Join(grants, "+"), func(t *testing.T) {
			body := webClient("urn:acme/" + strings.Join(grants, "-"))
			body["first_party"] = true
			body["grant_types"] = grants
			cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid")
			verifier := oauth2.GenerateVerifier()
			res := h.loginThroughApp(t, h.browser(t), "acme", cfg.AuthCodeURL("state-uc01", oauth2.S256ChallengeOption(verifier)),
				map[string]any{"subject": "bob", "claims": map[string]any{"department": large}})
			tok, err := cfg.Exchange(h.oauthContext(t), arrived(t, res, webCallback).Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(tok.AccessToken); n > 3000 {
				t.Errorf("the access token has %d bytes: claims of %d bytes swell it", n, len(large))
			}
			type answer struct {
				Sub        string `json:"sub"`
				Department string `json:"department"`
			}
			ui := decodeAs[answer](t, h.call(t, "GET", "/t/acme/oauth2/userinfo", nil, token(tok.AccessToken)).want(t, 200))
			if ui.Sub != "bob" || ui.Department != large {
				t.Errorf("userinfo: sub %q, department of %d bytes; want bob and %d bytes", ui.Sub, len(ui.Department), len(large))
			}
		})
	}
}
