package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/internal/poll"
)

// TestFullFlowStoreKeepsGrantsAndRelay fills the bucket of pending
// authorization requests (what anyone may make a node store) to its byte
// limit, --grants-max-bytes, on each backend: a new authorization request
// is refused with 503, while a code issued before still exchanges, a
// refresh token still refreshes, and the events of admin writes still
// reach NATS.
func TestFullFlowStoreKeepsGrantsAndRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ns := startNATS(t)
			env := []string{"CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true",
				"CLAVIS_GRANTS_MAX_BYTES=1048576"}
			if backend == "postgres" {
				env = append(env, postgresEnv(t))
			}
			n := startServe(t, "a", env...)
			slug := uniqueSlug("full")
			n.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Full"}, http.StatusCreated)
			web := n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "confidential", "client_name": "Web",
				"code": "urn:" + slug + "/web", "redirect_uris": []string{"https://app.example.test/cb"}, "default_scopes": []string{"openid"}},
				http.StatusCreated)
			issuer := "https://id.example.test/t/" + slug
			cfg := oauth2.Config{ClientID: web["client_id"].(string), ClientSecret: web["client_secret"].(string),
				RedirectURL: "https://app.example.test/cb", Scopes: []string{"openid"},
				Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/auth", TokenURL: issuer + "/oauth2/token"}}
			ctx := t.Context()
			atNode := func() *http.Client { return &http.Client{Transport: toNode{n.addr}} }

			// authorize makes an authorization request of a new browser;
			// with login, it logs in at the development page and returns
			// the code.
			authorize := func(verifier string, login bool, params ...oauth2.AuthCodeOption) (*http.Response, string) {
				jar, _ := cookiejar.New(nil)
				browser := &http.Client{Transport: toNode{n.addr}, Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
					if r.URL.Host != "id.example.test" || !login {
						return http.ErrUseLastResponse
					}
					return nil
				}}
				res, err := browser.Get(cfg.AuthCodeURL("state-full", append(params, oauth2.S256ChallengeOption(verifier))...))
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if !login {
					return res, string(body)
				}
				if res.StatusCode != http.StatusOK || !strings.HasSuffix(res.Request.URL.Path, "/dev/login") {
					t.Fatalf("authorization request: %d at %s", res.StatusCode, res.Request.URL)
				}
				res, err = browser.PostForm(issuer+"/dev/login", url.Values{"login_challenge": {res.Request.URL.Query().Get("login_challenge")},
					"subject": {"erin"}, "action": {"accept"}})
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				loc, _ := url.Parse(res.Header.Get("Location"))
				if loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("after login: %d %s", res.StatusCode, res.Header.Get("Location"))
				}
				return res, loc.Query().Get("code")
			}
			verifier := oauth2.GenerateVerifier()
			_, code := authorize(verifier, true)
			tok, err := cfg.Exchange(oauth2NodeContext(ctx, atNode()), code, oauth2.VerifierOption(verifier))
			if err != nil || tok.RefreshToken == "" {
				t.Fatalf("exchange: %v %+v", err, tok)
			}
			verifier2 := oauth2.GenerateVerifier()
			_, code2 := authorize(verifier2, true) // kept for later

			// Fill the bucket of pending requests as a NATS client would.
			_, js := natsConnect(t, ns.url())
			names := mustNames(t, "clavis")
			kv, err := js.KeyValue(ctx, names.GrantsPrefix()+"_REQUESTS")
			if err != nil {
				t.Fatalf("the bucket of pending authorization requests: %v", err)
			}
			// Large entries first, then smaller ones into what is left:
			// less than a kibibyte, when the new request below keeps 3 KiB.
			// (Smaller ones are not tried: a NATS server older than 2.10
			// lets them in and drops the oldest entries instead.)
			put := 0
			for _, size := range []int{30 << 10, 1 << 10} {
				full := false
				for i := 0; i < 2000 && !full; i++ {
					_, err := kv.Put(ctx, fmt.Sprintf("%s.flow.filler-%d-%d", slug, size, i), bytes.Repeat([]byte("x"), size))
					full = err != nil && strings.Contains(err.Error(), "maximum bytes")
					if err != nil && !full {
						t.Fatalf("fill: %v", err)
					}
					if err == nil {
						put += size
					}
				}
				if !full || put > 1<<20 {
					t.Fatalf("%d bytes went into a bucket of pending requests limited to 1 MiB", put)
				}
			}

			res, body := authorize(oauth2.GenerateVerifier(), false, oauth2.SetAuthURLParam("nonce", strings.Repeat("n", 1024)),
				oauth2.SetAuthURLParam("login_hint", strings.Repeat("l", 512)), oauth2.SetAuthURLParam("acr_values", strings.Repeat("a", 512)),
				oauth2.SetAuthURLParam("ui_locales", strings.Repeat("u", 256)))
			if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
				t.Errorf("a new authorization request on a full store: %d %s %s", res.StatusCode, res.Header.Get("Location"), body)
			}
			if _, err := cfg.Exchange(oauth2NodeContext(ctx, atNode()), code2, oauth2.VerifierOption(verifier2)); err != nil {
				t.Errorf("exchange a code issued before the store filled: %v", err)
			}
			rt := cfg.TokenSource(oauth2NodeContext(ctx, atNode()), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)})
			if _, err := rt.Token(); err != nil {
				t.Errorf("refresh on a full store: %v", err)
			}
			before := publicEventCount(ctx, js, names)
			n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", newClientBody("urn:"+slug+"/after"), http.StatusCreated)
			poll.Until(t, 10*time.Second, "the event of a client created on a full flow store reaching NATS", func() bool {
				return publicEventCount(ctx, js, names) > before
			})
		})
	}
}

// oauth2NodeContext has golang.org/x/oauth2 call the node through c.
func oauth2NodeContext(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}
