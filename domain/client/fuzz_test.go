package client_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
)

// FuzzNormalizeURIs feeds arbitrary strings to every URI and origin field
// and checks that normalising and validating never panics, that Normalize is
// idempotent, and that a value Validate accepts is stored unchanged.
func FuzzNormalizeURIs(f *testing.F) {
	for _, seed := range [][2]string{
		{"https://app.example.com/cb", "https://app.example.com"},
		{"HTTPS://APP.example.com:443/cb?x=1", "HTTPS://App.Example.com:443/"},
		{"http://[::1]:8080/cb", "http://[::1]:80"},
		{"http://[fe80::1%25en0]/cb", "http://[fe80::1%25en0]"},
		{"com.example.app:/cb", "null"},
		{"javascript:alert(1)", "*"},
		{"https://user:pw@a.com/#x", "https://user@a.com/x?y#z"},
		{"https://a.com:99999", "https://a.com:0443"},
		{" \t", "%"},
		{"HtTp://LocalHost/x", "hTTp://ex.com:8080//"},
		{"://", "https://"},
		{"a:", "https:x"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, uri, origin string) {
		s := settingsFor(client.TypePublic)
		s.RedirectURIs = []string{uri}
		s.PostLogoutRedirectURIs = []string{uri}
		s.AllowedCORSOrigins = []string{origin}
		s.LogoURI, s.JWKSURI, s.FrontchannelLogoutURI = uri, uri, uri

		n := s.Normalize()
		if again := n.Normalize(); !reflect.DeepEqual(again, n) {
			t.Fatalf("Normalize not idempotent:\n%q\n%q", n.AllowedCORSOrigins, again.AllowedCORSOrigins)
		}
		err := n.Validate(cat)
		bad := make(map[string]bool)
		if err != nil {
			for _, fe := range problems(t, err) {
				bad[fe.Field] = true
			}
		}
		if !bad["allowed_cors_origins[0]"] {
			o := n.AllowedCORSOrigins[0]
			if strings.ContainsAny(o, "?#*@ ") || strings.Count(o, "/") != 2 || strings.ToLower(o) != o {
				t.Fatalf("accepted origin %q is not scheme://host[:port]", o)
			}
		}
		if !bad["redirect_uris[0]"] {
			r := n.RedirectURIs[0]
			if strings.ContainsAny(r, "#*\\ \t\n") {
				t.Fatalf("accepted redirect URI %q", r)
			}
		}
		// The same input through the commands never panics either.
		_, _ = client.Register("c1", s, cat, nil, now)
	})
}
