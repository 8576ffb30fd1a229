package console

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// cookieKinds are the console's sealed cookies: the name and path each
// is sealed for, and the state it holds.
var cookieKinds = []struct {
	name, path string
	state      func() any
}{
	{sessionCookie, tenantPath("acme"), func() any { return &sessionState{} }},
	{signInCookie, tenantPath("acme"), func() any { return &signInState{} }},
	{sessionCookie, operatorPath, func() any { return &operatorState{} }},
	{sessionCookie, tenantPath("beta"), func() any { return &sessionState{} }},
}

// FuzzCookie checks the opening of the console's sealed cookies, which
// a browser sends back as it likes: nothing panics, a cookie opens only
// under the name and path it was sealed for, and what opens is the
// state sealed, unchanged.
func FuzzCookie(f *testing.F) {
	s, err := newSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sealed := []any{
		&sessionState{ID: "sid", AccessToken: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", IDToken: "eyJ9.e30.c2ln"},
		&signInState{State: "st", Verifier: "ver", Nonce: "n", Return: "/t/acme/console/clients", Expiry: exp},
		&operatorState{ID: "op", Expiry: exp, Root: []byte("digest")},
		&sessionState{ID: "beta", AccessToken: "x"},
	}
	for i, k := range cookieKinds {
		value, err := s.seal(k.name, k.path, sealed[i])
		if err != nil {
			f.Fatal(err)
		}
		for j := range cookieKinds {
			f.Add(uint8(j), value)
		}
	}
	f.Add(uint8(0), "")
	f.Add(uint8(0), "AAAA")
	f.Add(uint8(0), "!!!")
	f.Fuzz(func(t *testing.T, kind uint8, value string) {
		i := int(kind) % len(cookieKinds)
		k := cookieKinds[i]
		got := k.state()
		if err := s.open(k.name, k.path, value, got); err != nil {
			if err.Error() == "" {
				t.Fatalf("open(%q): an empty error", value)
			}
			return
		}
		if !reflect.DeepEqual(got, sealed[i]) {
			t.Fatalf("open(%s at %s, %q) = %+v, which was never sealed there", k.name, k.path, value, got)
		}
	})
}

// FuzzClientForm checks the console's client form as a browser posts
// it (application/x-www-form-urlencoded): a form without field errors
// always becomes settings (never a server error), and those settings,
// shown in the form again and posted back unchanged, are the same
// settings (the write-only salt aside).
func FuzzClientForm(f *testing.F) {
	for _, s := range []string{
		"client_name=Orders&code=urn%3Aacme%2Forders&type=m2m&grant_types=client_credentials&token_endpoint_auth_method=client_secret_basic",
		"client_name=SPA&type=public&redirect_uris=https%3A%2F%2Fapp.example.com%2Fcb%0D%0A%0D%0Ahttps%3A%2F%2Fapp.example.com%2Fcb2&grant_types=authorization_code&grant_types=refresh_token&require_pkce=true",
		"access_token_lifetime=3600&consent_lifetime=&refresh_token_usage=one_time",
		"access_token_lifetime=abc",
		"require_pkce=yes",
		"scope_permissions=%7B%22orders%22%3A%5B%22read%22%5D%7D&client_claims=%5B%7B%22type%22%3A%22tier%22%2C%22value%22%3A%22gold%22%7D%5D",
		"jwks=%7B%22keys%22%3A%5B%5D%7D&metadata=%7B%22team%22%3A%22a%22%7D&properties=",
		"scope_permissions=%5B%5D",
		"client_claims=%7B%7D%20%7B%7D",
		"pairwise_subject_salt=s3cret",
		"client_name=a%00b&description=%E2%80%AE",
		"client_name=x&client_name=y",
	} {
		f.Add(s)
	}
	app := fiber.New()
	f.Fuzz(func(t *testing.T, body string) {
		var rc fasthttp.RequestCtx
		rc.Request.Header.SetMethod(http.MethodPost)
		rc.Request.Header.SetContentType(fiber.MIMEApplicationForm)
		rc.Request.SetBodyString(body)
		ctx := app.AcquireCtx(&rc)
		v := postedValues(ctx)
		app.ReleaseCtx(ctx)

		members, errs := formMembers(v, clientFields)
		if errs.Any() {
			return
		}
		s, err := membersSettings(members)
		if err != nil {
			t.Fatalf("form %q has no field errors, its members do not decode: %v", body, err)
		}
		shown, err := settingsValues(s)
		if err != nil {
			t.Fatalf("form %q: its settings cannot be shown: %v", body, err)
		}
		again, errs := formMembers(shown, clientFields)
		if errs.Any() {
			t.Fatalf("form %q: its settings shown %q have field errors: %+v", body, shown, errs)
		}
		for _, field := range clientFields {
			if field.Kind == kindSecret {
				continue
			}
			if !sameJSON(normalJSON(members[field.Name]), normalJSON(again[field.Name])) {
				t.Fatalf("form %q: %s is %s, shown and posted again %s", body, field.Name, members[field.Name], again[field.Name])
			}
		}
	})
}

// normalJSON is raw compacted, so that JSON texts that differ only in
// spacing compare equal.
func normalJSON(raw json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}
