package oauth

import (
	"bytes"
	"context"
	"net/url"
	"testing"

	"github.com/ory/fosite"
)

// A code's part keeps what it does not share with the code's request,
// byte for byte: its form always, its session when it differs, the
// whole request when more differs; and each part read back is the
// request fosite gave its create.
func TestCodePartsKeepWhatDiffers(t *testing.T) {
	ctx := context.WithValue(t.Context(), requestKey{}, &request{})
	s := &storage{}
	beginCode(ctx)
	ar := fosite.NewAuthorizeRequest()
	ar.ID, ar.Client, ar.Session = "grant-1", &fosite.DefaultClient{ID: "web"}, newSession()
	ar.Form = url.Values{"redirect_uri": {"https://app/cb"}, "code_challenge": {"abc"}, "nonce": {"n-1"}}
	ar.GrantScope("openid")
	gather := func(kind string, allowed ...string) []byte {
		t.Helper()
		r := ar.Sanitize(allowed)
		sr, err := storeRequest(r)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := s.gatherCode(ctx, kind, "sig-1", r); !ok || err != nil {
			t.Fatalf("gather %s: %v %v", kind, ok, err)
		}
		raw, err := encodeRecord(sr)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	code := gather("ac", "redirect_uri")
	pkce := gather("pkce", "code_challenge")
	ar.Session.(*session).Claims.CodeHash = "hash"
	ar.GrantScope("profile")
	oidc := gather("oidc", "nonce")
	pc := takeCode(ctx)
	if pc == nil || pc.sig != "sig-1" {
		t.Fatalf("gathered %+v", pc)
	}
	if p := pc.rec.PKCE; p == nil || p.Session != nil || p.Request != nil {
		t.Errorf("the PKCE part, whose session is the code's: %+v; want its form alone", p)
	}
	if p := pc.rec.OIDC; p == nil || p.Request == nil {
		t.Errorf("the OpenID Connect part, of another scope: %+v; want the whole request", p)
	}
	stored, err := encodeRecord(pc.rec)
	if err != nil {
		t.Fatal(err)
	}
	var rec issuedCode
	if err := decodeRecord(stored, &rec); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		got  storedRequest
		want []byte
	}{
		"code": {*rec.Request, code}, "pkce": {rec.PKCE.request(rec.Request), pkce}, "oidc": {rec.OIDC.request(rec.Request), oidc},
	} {
		if got, err := encodeRecord(c.got); err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("the %s request read back:\n%q\nwant what its create was given:\n%q", name, got, c.want)
		}
	}
	if takeCode(ctx) != nil {
		t.Error("a code taken twice")
	}
	if ok, _ := s.gatherCode(ctx, "ac", "sig-2", ar); ok {
		t.Error("a create gathered outside an authorization request that gathers")
	}
}

// A code made under the master key being replaced verifies under the
// keyring that has it as a rotated key; under other keys, or at another
// tenant, it does not; what it names survives the round trip.
func TestCodeVerifiesUnderRotatedKeys(t *testing.T) {
	old, cur, other := []byte("old secret"), []byte("current secret"), []byte("other secret")
	before := &Provider{codes: codes(old)}
	after := &Provider{codes: codes(cur, old)}
	stranger := &Provider{codes: codes(other)}
	code, name := before.newCode("acme", "0b7e4a36-0d0e-4e43-9a43-6b1c0e0a7f10", 1_900_000_000)
	for _, p := range []*Provider{before, after} {
		got, ok := p.verifyCode("acme", code)
		if !ok || got != name {
			t.Errorf("verify %q: %+v, %v; want %+v", code, got, ok, name)
		}
		if got, ok := parseCodeName(got.String()); !ok || got != name {
			t.Errorf("the signature of %q reads back as %+v, %v; want %+v", code, got, ok, name)
		}
	}
	if _, ok := stranger.verifyCode("acme", code); ok {
		t.Error("a code verified under a key that did not make it")
	}
	if _, ok := after.verifyCode("acm", code); ok {
		t.Error("a code of tenant acme verified at tenant acm")
	}
}
