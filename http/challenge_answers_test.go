package httpapi_test

// What the browser-facing tests read, typed: the login and consent
// requests the login application reads, what a client gets at its
// redirect URI, the claims of the tokens it gets, and what a browser
// was answered. A test compares what it got with what it wants in one
// cmp.Diff that names the field that differs.

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// challengeRequest is a login or consent request as the login
// application reads it.
type challengeRequest struct {
	Challenge      string          `json:"challenge"`
	Client         challengeClient `json:"client"`
	RequestedScope []string        `json:"requested_scope"`
	Skip           bool            `json:"skip"`
	Subject        string          `json:"subject"`
	RequestURL     string          `json:"request_url"`
	OIDCContext    oidcContext     `json:"oidc_context"`
}

// challengeClient is what a login or consent request shows of the
// client.
type challengeClient struct {
	ClientID   string `json:"client_id"`
	ClientName string `json:"client_name"`
	LogoURI    string `json:"logo_uri"`
	ClientURI  string `json:"client_uri"`
	PolicyURI  string `json:"policy_uri"`
	TOSURI     string `json:"tos_uri"`
	FirstParty bool   `json:"first_party"`
}

// oidcContext are the OpenID Connect hints of a request.
type oidcContext struct {
	LoginHint string   `json:"login_hint"`
	UILocales []string `json:"ui_locales"`
	ACRValues []string `json:"acr_values"`
	Display   string   `json:"display"`
}

// challengeView reads the login or consent request (kind) of challenge
// at tenant.
func (h *adminHarness) challengeView(t *testing.T, tenant, kind, challenge string, opts ...callOpt) challengeRequest {
	t.Helper()
	return decodeAs[challengeRequest](t, h.call(t, "GET", challengePath(tenant, kind, challenge), nil, opts...).want(t, 200))
}

// challengePath is the path of the login or consent request (kind) of
// challenge at tenant.
func challengePath(tenant, kind, challenge string) string {
	return "/t/" + tenant + "/admin/" + kind + "-requests/" + url.PathEscape(challenge)
}

// set stands for a random value that is there, in the shape of an
// answer.
const set = "<set>"

// authResponse is what a client got at its redirect URI: the query or
// fragment of the redirect, or the fields of the page that posts to it.
type authResponse struct {
	Code             string
	AccessToken      string
	IDToken          string
	State            string
	Error            string
	ErrorDescription string
	Iss              string
}

// authResponseOf reads an authorization response's parameters.
func authResponseOf(q url.Values) authResponse {
	return authResponse{Code: q.Get("code"), AccessToken: q.Get("access_token"), IDToken: q.Get("id_token"), State: q.Get("state"),
		Error: q.Get("error"), ErrorDescription: q.Get("error_description"), Iss: q.Get("iss")}
}

// landed reads what the browser brought to the client's redirectURI;
// it fails unless res redirects there.
func landed(t *testing.T, res *http.Response, redirectURI string) authResponse {
	t.Helper()
	return authResponseOf(arrived(t, res, redirectURI))
}

// formPosted reads the fields of the page that posts an authorization
// response to redirectURI (response_mode=form_post); it fails unless
// res is that page.
func formPosted(t *testing.T, res *http.Response, page, redirectURI string) url.Values {
	t.Helper()
	if res.StatusCode != http.StatusOK || !strings.Contains(page, `action="`+redirectURI+`"`) {
		t.Fatalf("not a form posting to %s: %d %.500s", redirectURI, res.StatusCode, page)
	}
	got := url.Values{}
	for _, m := range regexpInput.FindAllStringSubmatch(page, -1) {
		got.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return got
}

// shape is the response with its random values (code and tokens) as
// [set] when present, and without the error's description, whose
// wording is the library's: what a test can want exactly.
func (a authResponse) shape() authResponse {
	mark := func(s string) string {
		if s != "" {
			return set
		}
		return ""
	}
	a.Code, a.AccessToken, a.IDToken = mark(a.Code), mark(a.AccessToken), mark(a.IDToken)
	a.ErrorDescription = ""
	return a
}

// answer is what a browser was answered, as far as a test of a refusal
// looks at it: a status and where it is sent.
type answer struct {
	Status   int
	Location string
}

func answerOf(res *http.Response) answer {
	return answer{res.StatusCode, res.Header.Get("Location")}
}

// refusedInPlace is a 400 that sends the browser nowhere.
var refusedInPlace = answer{http.StatusBadRequest, ""}

// jwtClaims are the claims of an access or ID token the tests look at.
type jwtClaims struct {
	Sub      string     `json:"sub"`
	ClientID string     `json:"client_id"`
	Scope    string     `json:"scope"`
	JTI      string     `json:"jti"`
	Aud      stringList `json:"aud"`
	Nonce    string     `json:"nonce"`
	ACR      string     `json:"acr"`
	AMR      []string   `json:"amr"`
	SID      string     `json:"sid"`
	AuthTime int64      `json:"auth_time"`
	Email    *string    `json:"email"`
	CHash    string     `json:"c_hash"`
	ATHash   string     `json:"at_hash"`
}

// claimsOf verifies a token against tenant's keys and returns its
// claims.
func (h *adminHarness) claimsOf(t *testing.T, tenant, token string) jwtClaims {
	t.Helper()
	m, _ := h.verify(t, tenant, token)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var c jwtClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("claims %s: %v", b, err)
	}
	return c
}

// userinfo is a userinfo answer.
type userinfo struct {
	Sub               string  `json:"sub"`
	PreferredUsername string  `json:"preferred_username"`
	Email             *string `json:"email"`
}

// loginAppSetting is the tenant admin API's login application setting.
type loginAppSetting struct {
	LoginURL *string `json:"login_url"`
}

// tenantLogin is what the platform API shows of a tenant's login
// application setting, with what a change to it may touch.
type tenantLogin struct {
	Name      string `json:"name"`
	LoginURL  string `json:"login_url"`
	Suspended bool   `json:"suspended"`
	Version   int64  `json:"version"`
}

// wantDiff fails the test, naming what, unless got is want.
func wantDiff(t *testing.T, what string, want, got any, opts ...cmp.Option) {
	t.Helper()
	if diff := cmp.Diff(want, got, opts...); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// wwwAuthenticateError is the error a WWW-Authenticate challenge names,
// or "".
func wwwAuthenticateError(r response) string {
	h := r.header.Get("WWW-Authenticate")
	i := strings.Index(h, `error="`)
	if i < 0 {
		return ""
	}
	h = h[i+len(`error="`):]
	if j := strings.IndexByte(h, '"'); j >= 0 {
		return h[:j]
	}
	return h
}
