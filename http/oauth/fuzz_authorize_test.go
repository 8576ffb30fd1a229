package oauth_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/tenants"
)

// FuzzAuthorizeEndpoint sends the authorization endpoint requests whose
// query string and Cookie header are the fuzzer's: the parameters'
// parsing and bounds, PKCE, prompt and max_age, the flow cookie and a
// login verifier that does not match. The answer is never a server
// error, and a redirect goes only to the client's registered redirect
// URI or to the tenant's own login page: never to an address the
// request made up.
func FuzzAuthorizeEndpoint(f *testing.F) {
	w, _, hot := benchTenant(f)
	web := client.DefaultSettings(client.TypeConfidential)
	web.ClientName, web.Code = "Web", "urn:acme/web"
	web.RedirectURIs, web.DefaultScopes = []string{"https://app.example.test/cb"}, []string{"openid"}
	res, err := w.Clients.Register(f.Context(), tenants.Request{Actor: "fuzz"}, "acme", web)
	if err != nil {
		f.Fatal(err)
	}
	w.CatchUp(f)
	unlimited := oauth.FlowLimits{PerClient: 1e9, ClientBurst: 1e9, PerAddress: 1e9, AddressBurst: 1e9}
	p, err := oauth.New(hot, w.Keys, "http://127.0.0.1", nil, oauth.WithGrants(bucket.NewGrants(inProcessJetStream(f), "FUZZ", 1, 0)),
		oauth.WithDevLogin(), oauth.WithFlowLimits(unlimited))
	if err != nil {
		f.Fatal(err)
	}
	id := res.Client.ClientID
	valid := "response_type=code&client_id=" + url.QueryEscape(id) + "&redirect_uri=https%3A%2F%2Fapp.example.test%2Fcb&scope=openid&state=s1234567"
	pkce := "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGrSFu9gG4&code_challenge_method=S256"
	for _, seed := range []struct{ query, cookie string }{
		{valid, ""},
		{valid + pkce, ""},
		{valid + pkce + "&prompt=none", ""},
		{valid + pkce + "&prompt=login&max_age=0&nonce=n", ""},
		{valid + "&login_verifier=abc", "clavis_flow_0123=abc"},
		{valid + "&redirect_uri=https%3A%2F%2Fevil.example%2Fcb", ""},
		{strings.Replace(valid, "app.example.test", "evil.example", 1), ""},
		{strings.Replace(valid, "code", "token", 1), ""},
		{"client_id=" + url.QueryEscape(id), ""},
		{valid + "&state=" + strings.Repeat("s", 3000), ""},
		{valid + "&request=eyJhbGciOiJub25lIn0.e30.", ""},
		{valid + "&response_mode=form_post", ""},
		{"%zz=1&" + valid, ""},
		{valid + "&scope=openid%00", ""},
	} {
		f.Add(seed.query, seed.cookie)
	}
	f.Fuzz(func(t *testing.T, query, cookie string) {
		r := httptest.NewRequest(http.MethodGet, "/t/acme/oauth2/auth", nil)
		r.URL.RawQuery = query
		if cookie != "" {
			r.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		if err := p.ServeAuthorize(rec, r, "acme"); err != nil {
			t.Fatalf("ServeAuthorize(%q): %v", query, err)
		}
		if rec.Code >= 500 {
			t.Fatalf("%q %q: %d %s", query, cookie, rec.Code, rec.Body)
		}
		if rec.Code < 300 || rec.Code >= 400 {
			return
		}
		to, err := url.Parse(rec.Header().Get("Location"))
		if err != nil {
			t.Fatalf("%q: redirect to %q: %v", query, rec.Header().Get("Location"), err)
		}
		client := to.Scheme == "https" && to.Host == "app.example.test" && to.Path == "/cb"
		login := !to.IsAbs() && strings.HasPrefix(to.Path, "/t/acme/") || to.Host == "127.0.0.1" && strings.HasPrefix(to.Path, "/t/acme/")
		if !client && !login {
			t.Fatalf("%q %q: redirect to %s", query, cookie, to)
		}
	})
}
