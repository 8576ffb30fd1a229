package httpapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// wantInvalidRequestNaming fails unless r is a 400 invalid_request whose
// description names the parameter name.
func wantInvalidRequestNaming(t *testing.T, r response, name string) {
	t.Helper()
	type shown struct {
		Status  int
		Error   string
		NamesIt bool
	}
	var e oauthError
	if r.status/100 == 4 {
		e = decodeAs[oauthError](t, r)
	}
	got := shown{r.status, e.Error, strings.Contains(e.Description, "'"+name+"'")}
	if diff := cmp.Diff(shown{400, "invalid_request", true}, got); diff != "" {
		t.Errorf("answer %s, want invalid_request naming %s (-want +got):\n%s", r.body, name, diff)
	}
}

// TestRepeatedOAuthParameters gives a parameter twice, in the form body
// or in it and the query string, to the token endpoint (on the quick
// path's requests and fosite's), introspection, revocation and the
// authorization endpoint: RFC 6749 §3.1 says "Request and response
// parameters MUST NOT be included more than once", so each is
// invalid_request naming the parameter. Unknown parameters are still
// ignored there, as §3.1 says too.
func TestRepeatedOAuthParameters(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	worker, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post"})
	id, secret := worker.ClientID, worker.ClientSecret
	post := func(t *testing.T, endpoint, query, body string) response {
		t.Helper()
		path := "/t/acme/oauth2/" + endpoint
		if query != "" {
			path += "?" + query
		}
		req, err := http.NewRequestWithContext(t.Context(), "POST", h.url+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		r := response{status: res.StatusCode, header: res.Header, body: b}
		h.k.checkResponse(t, "POST", path, r)
		return r
	}
	creds := "client_id=" + url.QueryEscape(id) + "&client_secret=" + url.QueryEscape(secret)

	var token string
	t.Run("the quick path's request is answered", func(t *testing.T) {
		token = decodeAs[tokenAnswer](t, post(t, "token", "", "grant_type=client_credentials&"+creds).want(t, 200)).AccessToken
	})
	t.Run("a request with an unknown parameter, on fosite's path, is answered", func(t *testing.T) {
		post(t, "token", "", "grant_type=client_credentials&"+creds+"&unknown=1").want(t, 200)
	})
	for _, c := range []struct {
		what, endpoint, query, body, name string
	}{
		{"token: grant_type twice", "token", "", "grant_type=client_credentials&grant_type=client_credentials&" + creds, "grant_type"},
		{"token: grant_type, two values", "token", "", "grant_type=client_credentials&grant_type=authorization_code&" + creds, "grant_type"},
		{"token: client_id twice", "token", "", "grant_type=client_credentials&" + creds + "&client_id=" + url.QueryEscape(id), "client_id"},
		{"token: scope twice", "token", "", "grant_type=client_credentials&scope=&scope=&" + creds, "scope"},
		{"token: grant_type in query and body", "token", "grant_type=client_credentials", "grant_type=client_credentials&" + creds, "grant_type"},
		{"token: unknown parameter twice", "token", "", "grant_type=client_credentials&" + creds + "&x=1&x=2", "x"},
		{"introspect: token twice", "introspect", "", "token=" + token + "&token=" + token + "&" + creds, "token"},
		{"introspect: token in query and body", "introspect", "token=" + token, "token=" + token + "&" + creds, "token"},
		{"revoke: token twice", "revoke", "", "token=" + token + "&token=" + token + "&" + creds, "token"},
	} {
		t.Run(c.what+" is invalid_request naming it", func(t *testing.T) {
			wantInvalidRequestNaming(t, post(t, c.endpoint, c.query, c.body), c.name)
		})
	}
	t.Run("the refused revocations revoked nothing", func(t *testing.T) {
		if got := decodeAs[introspection](t, post(t, "introspect", "", "token="+token+"&"+creds).want(t, 200)); !got.Active {
			t.Errorf("introspection after refused revocations = %+v", got)
		}
	})

	// The authorization endpoint: a repeated parameter goes back to the
	// client as invalid_request; a repeated client_id or redirect_uri
	// gets no redirect at all.
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	auth := func(t *testing.T, extra string) *http.Response {
		t.Helper()
		q := url.Values{"client_id": {web.ClientID}, "redirect_uri": {webCallback}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"state-0004"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
		res, _ := h.browser(t).stopAtLogin().get(testIssuer + "acme/oauth2/auth?" + q.Encode() + extra)
		return res
	}
	t.Run("authorize: a good request goes to the login", func(t *testing.T) {
		if res := auth(t, ""); res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther || strings.HasPrefix(res.Header.Get("Location"), webCallback) {
			t.Fatalf("a good request: %d %s, want a redirect to the login", res.StatusCode, res.Header.Get("Location"))
		}
	})
	for _, name := range []string{"scope", "state", "response_type", "code_challenge"} {
		t.Run("authorize: "+name+" twice goes back as invalid_request naming it", func(t *testing.T) {
			got := arrived(t, auth(t, "&"+name+"=x"), webCallback)
			type shown struct {
				Error   string
				NamesIt bool
			}
			if diff := cmp.Diff(shown{"invalid_request", true}, shown{got.Get("error"), strings.Contains(got.Get("error_description"), "'"+name+"'")}); diff != "" {
				t.Errorf("callback %v (-want +got):\n%s", got, diff)
			}
		})
	}
	for what, extra := range map[string]string{
		"client_id twice":                 "&client_id=" + url.QueryEscape(web.ClientID),
		"redirect_uri twice":              "&redirect_uri=" + url.QueryEscape(webCallback),
		"redirect_uri twice, another one": "&redirect_uri=https://evil.example.com/cb",
	} {
		t.Run("authorize: "+what+" is a 400 without a redirect", func(t *testing.T) {
			res := auth(t, extra)
			type shown struct {
				Status   int
				Location string
			}
			if diff := cmp.Diff(shown{Status: 400}, shown{res.StatusCode, res.Header.Get("Location")}); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
		})
	}
}

// The OAuth form endpoints refuse a body over 32 KiB, or more than 64
// parameters, with invalid_request before parsing it (an unauthenticated
// 1 MiB form of "a&a&a..." would cost the token endpoint tens of
// milliseconds of CPU), and nothing changes; a request within the
// bounds, however padded with unknown parameters, is still answered.
func TestOAuthFormBounded(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	worker, _ := h.newClient(t, "acme", map[string]any{"type": "m2m", "client_name": "Worker", "code": "urn:acme/worker",
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_post"})
	id, secret := worker.ClientID, worker.ClientSecret
	web, _ := h.newClient(t, "acme", webClient("urn:acme/web"))
	creds := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
	padded := func(form url.Values, params int) url.Values {
		out := url.Values{}
		for k, v := range form {
			out[k] = v
		}
		for i := len(out); i < params; i++ {
			out.Set(fmt.Sprintf("x%d", i), "")
		}
		return out
	}
	long := func(form url.Values) url.Values {
		out := padded(form, 0)
		out.Set("x", strings.Repeat("a", 33<<10))
		return out
	}

	var tok string
	t.Run("a token request of 64 parameters is answered", func(t *testing.T) {
		tok = decodeAs[tokenAnswer](t, h.tokenCall(t, "acme", padded(creds, 64)).want(t, 200)).AccessToken
	})
	revocation := url.Values{"token": {tok}, "client_id": {id}, "client_secret": {secret}}
	for _, c := range []struct {
		what, endpoint string
		form           url.Values
	}{
		{"a token request of 65 parameters", "token", padded(creds, 65)},
		{"a token request of 33 KiB", "token", long(creds)},
		{"60 KiB of a=&a=&a at the token endpoint", "token", url.Values{"a": make([]string, 20<<10)}},
		{"an introspection of 65 parameters", "introspect", padded(revocation, 65)},
		{"a revocation of 65 parameters", "revoke", padded(revocation, 65)},
		{"a revocation of 33 KiB", "revoke", long(revocation)},
	} {
		t.Run(c.what+" is invalid_request", func(t *testing.T) {
			wantStatus(t, c.what, h.formCall(t, "acme", c.endpoint, c.form), 400, "invalid_request")
		})
	}
	t.Run("the refused revocations revoked nothing", func(t *testing.T) {
		if got := decodeAs[introspection](t, h.formCall(t, "acme", "introspect", revocation).want(t, 200)); !got.Active {
			t.Errorf("the refused revocations revoked the token: %+v", got)
		}
	})

	// The authorization endpoint shows the person a page, and stores no
	// flow.
	for what, form := range map[string]url.Values{"65 parameters": padded(authorizeForm(web.ClientID), 65), "33 KiB": long(authorizeForm(web.ClientID))} {
		t.Run("an authorization request of "+what+" is a 400 page", func(t *testing.T) {
			res, page := h.browser(t).stopAtLogin().post(testIssuer+"acme/oauth2/auth", form)
			type shown struct {
				Status        int
				HTML, SaysWhy bool
			}
			got := shown{res.StatusCode, strings.HasPrefix(res.Header.Get("Content-Type"), "text/html"), strings.Contains(page, "invalid_request")}
			if diff := cmp.Diff(shown{400, true, true}, got); diff != "" {
				t.Errorf("answer %s %.300s (-want +got):\n%s", res.Header.Get("Location"), page, diff)
			}
		})
	}
	t.Run("the refused authorization requests stored no flow", func(t *testing.T) {
		if flows := h.storedFlows(t); len(flows) != 0 {
			t.Errorf("refused authorization requests stored flows: %v", flows)
		}
	})
	t.Run("an authorization request of 64 parameters goes to the login", func(t *testing.T) {
		if res, _ := h.browser(t).stopAtLogin().post(testIssuer+"acme/oauth2/auth", padded(authorizeForm(web.ClientID), 64)); !isRedirectTo(res, testLoginURL) {
			t.Errorf("an authorization request of 64 parameters: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// Codes and tokens come from the client, and what fosite takes for
// their signature becomes part of a store's key: malformed ones are
// invalid grants (400), not server errors, and revoking one answers 200
// (RFC 7009 §2.2).
func TestMalformedCodesAndTokens(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	c, _ := h.newClient(t, "acme", webClient("urn:acme/web"))

	exchange := func(code string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCallback},
			"code_verifier": {oauth2.GenerateVerifier()}}
	}
	refresh := func(rt string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	}
	type tokenCase struct {
		name string
		form url.Values
	}
	var cases []tokenCase
	for _, code := range []string{"garbage", "ory_ac_abc.", "ory_ac_abc.*", "ory_ac_abc.a>b", "ory_ac_abc.a b"} {
		cases = append(cases, tokenCase{"code " + code + " is invalid_grant", exchange(code)})
	}
	for _, rt := range []string{"garbage", "ory_rt_abc.", "ory_rt_abc.*", "ory_rt_abc.a>b"} {
		cases = append(cases, tokenCase{"refresh token " + rt + " is invalid_grant", refresh(rt)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, tc.name, h.tokenCall(t, "acme", tc.form, c.ClientID, c.ClientSecret), 400, "invalid_grant")
		})
	}
	for _, rt := range []string{"ory_rt_abc.", "ory_rt_abc.*", "ory_rt_abc.a b"} {
		t.Run("revoking "+rt+" is answered", func(t *testing.T) {
			wantStatus(t, "revoke "+rt, h.revoke(t, "acme", rt, c.ClientID, c.ClientSecret), 200, "")
		})
	}
}
