package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// An error_description holds only what RFC 6749 §5.2 allows (printable
// ASCII without '"' and '\'), even when the hint repeats the request:
// a grant type or scope that is not of those characters is not echoed
// as it came.
func TestOAuthErrorDescriptionIsPrintableASCII(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	adminID, adminSecret := h.tenantAdmin(t, "acme")
	for _, body := range []string{
		"grant_type=%00",
		"grant_type=caf%C3%A9%22%5C",
		"grant_type=client_credentials&scope=caf%C3%A9%22%5C%0A",
	} {
		t.Run(body, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url+"/t/acme/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(adminID, adminSecret)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var got oauthError
			if err := json.Unmarshal(b, &got); err != nil || res.StatusCode != http.StatusBadRequest || got.Error == "" {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
			if strings.ContainsFunc(got.Description, func(r rune) bool { return r < 0x20 || r > 0x7e || r == '"' || r == '\\' }) {
				t.Errorf("error_description %q has characters RFC 6749 §5.2 does not allow", got.Description)
			}
		})
	}
}
