package httpapi_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// hiddenFields reads a page's form: its action and hidden inputs.
func hiddenFields(t *testing.T, page string) (string, url.Values) {
	t.Helper()
	action := regexp.MustCompile(`<form method="post" action="([^"]+)"`).FindStringSubmatch(page)
	if action == nil {
		t.Fatalf("no form with an action: %s", page)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`).FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return html.UnescapeString(action[1]), form
}

// An id_token_hint lets the logout endpoint end the login session
// without asking only when it is an ID token of the session's user for
// the client: an access token (which the tenant signs with the same
// keys, and any client or user holds) or another user's ID token is no
// proof that the user's own client sent the browser. The
// post_logout_redirect_uri is the hinted client's only.
func TestLogoutHintMustBeTheUsersIDToken(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/own")
	body["first_party"] = true
	body["post_logout_redirect_uris"] = []string{"https://app.example.com/bye"}
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	body = webClient("urn:acme/other")
	body["first_party"] = true
	body["post_logout_redirect_uris"] = []string{"https://other.example.com/bye"}
	other := h.createClient(t, "acme", body)
	body = webClient("urn:acme/pairwise")
	body["first_party"] = true
	body["redirect_uris"] = []string{"https://pairwise.example.com/cb"}
	body["post_logout_redirect_uris"] = []string{"https://pairwise.example.com/bye"}
	body["pairwise_subject_salt"] = "pairwise-salt-0123456789abcdef"
	pairwise := clientConfig("acme", h.createClient(t, "acme", body), "openid")

	// login signs user in on b with a login session and returns the
	// tokens cfg gets.
	login := func(t *testing.T, b *browser, c oauth2.Config, user string) *oauth2.Token {
		t.Helper()
		verifier := oauth2.GenerateVerifier()
		res := h.loginThroughApp(t, b, "acme", c.AuthCodeURL("state-lo01", oauth2.S256ChallengeOption(verifier)),
			map[string]any{"subject": user, "remember": true})
		tok, err := c.Exchange(h.oauthContext(t), landed(t, res, c.RedirectURL).Code, oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// loggedIn reports whether b's login session lives on.
	loggedIn := func(t *testing.T, b *browser) bool {
		t.Helper()
		res, _ := b.get(cfg.AuthCodeURL("state-lo02", oauth2.SetAuthURLParam("prompt", "none"),
			oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		got := landed(t, res, webCallback)
		if got.Code == "" && got.Error != "login_required" {
			t.Fatalf("prompt=none: %+v", got)
		}
		return got.Code != ""
	}
	logout := func(b *browser, q url.Values) (*http.Response, string) {
		return b.get(testIssuer + "acme/oauth2/logout?" + q.Encode())
	}
	idToken := func(tok *oauth2.Token) string { return tok.Extra("id_token").(string) }

	bob, mallory := h.browser(t), h.browser(t)
	bobs := login(t, bob, cfg, "bob")
	mallorys := login(t, mallory, cfg, "mallory")

	t.Run("an access token is not an ID token: refused, nobody logged out", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			q    url.Values
		}{
			{"bob's access token", url.Values{"id_token_hint": {bobs.AccessToken}}},
			{"mallory's access token", url.Values{"id_token_hint": {mallorys.AccessToken}}},
			{"an access token with a client and a URI", url.Values{"id_token_hint": {mallorys.AccessToken}, "client_id": {cfg.ClientID},
				"post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"state-lo03"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, page := logout(bob, tc.q)
				wantDiff(t, "logout "+page, refusedInPlace, answerOf(res))
				if !loggedIn(t, bob) {
					t.Fatal("bob was logged out")
				}
			})
		}
	})

	t.Run("another user's ID token: the user is asked first", func(t *testing.T) {
		res, page := logout(bob, url.Values{"id_token_hint": {idToken(mallorys)}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"state-lo04"}})
		type shown struct {
			Answer  answer
			Confirm bool
		}
		wantDiff(t, "mallory's ID token as bob's hint\n"+page, shown{answer{http.StatusOK, ""}, true}, shown{answerOf(res), strings.Contains(page, `name="confirm"`)})
		wantPageHeaders(t, "logout confirmation", res)
		if !loggedIn(t, bob) {
			t.Fatal("mallory's ID token logged bob out without asking him")
		}
	})

	t.Run("the post-logout URI is the hinted client's", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			q    url.Values
		}{
			{"another client's URI", url.Values{"id_token_hint": {idToken(bobs)}, "post_logout_redirect_uri": {"https://other.example.com/bye"}}},
			{"a client the hint was not issued to", url.Values{"id_token_hint": {idToken(bobs)}, "client_id": {other["client_id"].(string)},
				"post_logout_redirect_uri": {"https://other.example.com/bye"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, page := logout(bob, tc.q)
				wantDiff(t, "logout "+page, refusedInPlace, answerOf(res))
			})
		}
		if !loggedIn(t, bob) {
			t.Fatal("a refused logout logged bob out")
		}
	})

	t.Run("the user's own ID token logs out at once, to the client's URI", func(t *testing.T) {
		res, _ := logout(bob, url.Values{"id_token_hint": {idToken(bobs)}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"state-lo05"}})
		wantDiff(t, "logout with bob's ID token", "state-lo05", landed(t, res, "https://app.example.com/bye").State)
		if loggedIn(t, bob) {
			t.Error("bob's own ID token did not log him out")
		}
	})

	t.Run("the confirmation page's form logs out, to the URI of the client the hint named", func(t *testing.T) {
		res, page := logout(mallory, url.Values{"id_token_hint": {idToken(bobs)}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"state-lo06"}})
		if res.StatusCode != http.StatusOK || !loggedIn(t, mallory) {
			t.Fatalf("bob's ID token as mallory's hint: %d %s", res.StatusCode, page)
		}
		action, form := hiddenFields(t, page)
		res, _ = mallory.post(action, form)
		wantDiff(t, "confirmed logout", "state-lo06", landed(t, res, "https://app.example.com/bye").State)
		if loggedIn(t, mallory) {
			t.Error("the confirmed logout left mallory logged in")
		}
	})

	t.Run("a pairwise client's ID token, naming the user by the client's own subject, is the user's", func(t *testing.T) {
		carol := h.browser(t)
		carols := login(t, carol, pairwise, "carol")
		res, _ := logout(carol, url.Values{"id_token_hint": {idToken(carols)}, "post_logout_redirect_uri": {"https://pairwise.example.com/bye"}})
		arrived(t, res, "https://pairwise.example.com/bye")
		if loggedIn(t, carol) {
			t.Error("carol's pairwise ID token did not log her out")
		}
	})
}

// loginCookieDeletion is the Set-Cookie of res that deletes acme's
// login session cookie, or "".
func loginCookieDeletion(res *http.Response) string {
	for _, c := range res.Cookies() {
		if c.Name == "clavis_login_acme" && (c.MaxAge < 0 || c.Value == "") {
			return c.String()
		}
	}
	return ""
}

// The logout endpoint deletes the login session cookie only when it
// ended the session the cookie names. A request that comes without the
// cookie cannot: a cross-site POST (the SameSite=Lax cookie stays
// home), or a path in another case (/T/acme/…, for which the browser,
// matching cookie paths exactly, sends no cookie). Answering those with
// a deletion would let any site log the user out without the
// confirmation page. Paths in another case are not found.
func TestLogoutWithoutSessionDeletesNoCookie(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.withLoginApp(t, "acme")
	body := webClient("urn:acme/web")
	body["first_party"] = true
	cfg := clientConfig("acme", h.createClient(t, "acme", body), "openid")
	bob := h.browser(t)
	verifier := oauth2.GenerateVerifier()
	res := h.loginThroughApp(t, bob, "acme", cfg.AuthCodeURL("state-lo11", oauth2.S256ChallengeOption(verifier)),
		map[string]any{"subject": "bob", "remember": true})
	arrived(t, res, cfg.RedirectURL)

	type shown struct {
		Status   int
		Deletion string
	}
	t.Run("a cross-site post, which comes without the cookie, deletes none", func(t *testing.T) {
		res, page := h.browser(t).post(testIssuer+"acme/oauth2/logout", url.Values{"client_id": {cfg.ClientID}})
		wantDiff(t, fmt.Sprintf("a logout without the session's cookie (%d %.200s)", res.StatusCode, page), "", loginCookieDeletion(res))
	})
	for _, path := range []string{"T/acme/oauth2/logout", "t/ACME/oauth2/logout", "t/acme/OAuth2/Logout"} {
		t.Run("/"+path+" is not found and deletes none", func(t *testing.T) {
			res, page := bob.get(strings.TrimSuffix(testIssuer, "t/") + path)
			wantDiff(t, fmt.Sprintf("GET /%s %.200s", path, page), shown{Status: http.StatusNotFound}, shown{res.StatusCode, loginCookieDeletion(res)})
		})
	}
	t.Run("the confirmed logout deletes it", func(t *testing.T) {
		_, page := bob.get(testIssuer + "acme/oauth2/logout")
		action, form := hiddenFields(t, page)
		res, _ := bob.post(action, form)
		if loginCookieDeletion(res) == "" || res.StatusCode != http.StatusOK {
			t.Errorf("the confirmed logout: %d, cookies %v", res.StatusCode, res.Header.Values("Set-Cookie"))
		}
	})
}

// Logout redirects only to a post_logout_redirect_uri the named client
// of the tenant registered: not to another tenant's client's, not to
// another client's, not without a client, not to a path that leaves the
// registered one.
func TestLogoutRedirectsOnlyToRegisteredURIs(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	h.createTenant(t, "acme")
	h.createTenant(t, "beta")
	body := webClient("urn:acme/loop")
	body["redirect_uris"] = []string{"http://127.0.0.1/cb"}
	body["post_logout_redirect_uris"] = []string{"https://app.example.com/bye"}
	loop := h.createClient(t, "acme", body)
	bbody := webClient("urn:beta/web")
	bbody["post_logout_redirect_uris"] = []string{"https://evil.example.com/bye"}
	betaWeb := h.createClient(t, "beta", bbody)
	b := h.browser(t).stopAtLogin()

	for _, tc := range []struct {
		name string
		q    url.Values
	}{
		{"another tenant's client", url.Values{"client_id": {betaWeb["client_id"].(string)}, "post_logout_redirect_uri": {"https://evil.example.com/bye"}}},
		{"a URI of another client", url.Values{"client_id": {loop["client_id"].(string)}, "post_logout_redirect_uri": {"https://evil.example.com/bye"}}},
		{"no client", url.Values{"post_logout_redirect_uri": {"https://app.example.com/bye"}}},
		{"an unregistered path", url.Values{"client_id": {loop["client_id"].(string)}, "post_logout_redirect_uri": {"https://app.example.com/bye/../x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := b.get(testIssuer + "acme/oauth2/logout?" + tc.q.Encode())
			wantDiff(t, "logout", refusedInPlace, answerOf(res))
		})
	}
}

// RP-initiated logout without an id_token_hint asks the user (OpenID
// Connect RP-Initiated Logout 1.0 §2: the OP MUST ask when no
// id_token_hint was given) rather than end the session on a bare GET,
// which any site can trigger with a link or a redirect (the Lax cookie
// goes along with a top-level navigation).
func TestLogoutWithoutHintAsksUser(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	cfg := h.firstPartyWithLoginApp(t)
	verifier := oauth2.GenerateVerifier()
	b := h.browser(t)
	res := h.loginThroughApp(t, b, "acme", cfg.AuthCodeURL("state-at12", oauth2.S256ChallengeOption(verifier)), map[string]any{"subject": "bob", "remember": true})
	arrived(t, res, webCallback)

	// A page elsewhere sends the browser to the logout endpoint.
	b.get(testIssuer + "acme/oauth2/logout")
	res, _ = b.get(cfg.AuthCodeURL("state-at12", oauth2.SetAuthURLParam("prompt", "none"), oauth2.S256ChallengeOption(verifier)))
	wantDiff(t, "prompt=none after a bare GET of the logout endpoint (the session must live on)",
		authResponse{Code: set, State: "state-at12", Iss: testIssuer + "acme"}, landed(t, res, webCallback).shape())
}
