package httpapi_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// A code names its grant, so its record goes soon after its use: a
// reuse seconds later still revokes the grant (the code, which
// verifies, names it), while the code spelled another way (a line
// break, padding, spare bits in its MAC), which is no code, revokes
// nothing.
func TestCodeReuseAfterItsRecordAndRespelledCodes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	cfg := clientConfig("acme", h.createClient(t, "acme", webClient("urn:acme/web")), "openid")
	verifier := oauth2.GenerateVerifier()
	code := h.loginCode(t, h.browser(t), cfg, verifier, "alice")
	form := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cfg.RedirectURL}, "code_verifier": {verifier}}
	}
	tok := decodeAs[tokenAnswer](t, h.tokenCall(t, "acme", form(code), cfg.ClientID, cfg.ClientSecret).want(t, 200))
	time.Sleep(4 * time.Second) // the used code's record is kept two
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// The MAC's last character carries two spare bits: set one.
	spare := alphabet[strings.IndexByte(alphabet, code[len(code)-1])^1]
	respelled := []string{
		code[:len(code)-4] + "\n" + code[len(code)-4:],
		code + "=",
		strings.Replace(code, ".", ".\r\n", 1),
		code[:len(code)-1] + string(spare),
	}
	for _, c := range respelled {
		wantOAuthError(t, h.tokenCall(t, "acme", form(c), cfg.ClientID, cfg.ClientSecret), 400, "invalid_grant")
	}
	if !h.introspected(t, tok.AccessToken, cfg.ClientID, cfg.ClientSecret).Active {
		t.Fatal("a respelled code revoked the grant: its access token is inactive")
	}
	wantOAuthError(t, h.tokenCall(t, "acme", form(code), cfg.ClientID, cfg.ClientSecret), 400, "invalid_grant")
	if h.introspected(t, tok.AccessToken, cfg.ClientID, cfg.ClientSecret).Active {
		t.Error("the code reused after its record left the store did not revoke the grant: its access token is active")
	}
}
