package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/internal/poll"
)

// TestReuseRevokesWhenAWriteFails makes the write that revokes a grant
// fail at NATS (a reloaded configuration forbids the nodes to write any
// grant family, the one key a revocation writes first), then presents a
// used code or a used refresh token: the node cannot say the grant was
// revoked, so it answers 503 temporarily_unavailable with Retry-After,
// and once NATS takes the write again the grant is dead on every node —
// its access token inactive, its newest refresh token refused — without
// anyone presenting the used credential again.
func TestReuseRevokesWhenAWriteFails(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startGuardedNATS(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true"}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)
	nodes := []*serveProc{a, b}

	slug := uniqueSlug("reuse")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Reuse"}, http.StatusCreated)
	g := newGrantFlow(t, a, slug)

	for _, tc := range []struct {
		name string
		// replay presents the used credential at node a, after what it
		// replaced was got at node b; it returns the grant's newest
		// access and refresh tokens, and the replay's answer.
		replay func() (at, rt string, res *http.Response, body string)
	}{
		{"code", func() (string, string, *http.Response, string) {
			code, verifier := g.code(a)
			tok, err := g.cfg.Exchange(atNode(b), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange at node b: %v", err)
			}
			ns.denyFamilies(true)
			res, body := g.post(a, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier},
				"redirect_uri": {g.cfg.RedirectURL}})
			return tok.AccessToken, tok.RefreshToken, res, body
		}},
		{"refresh token", func() (string, string, *http.Response, string) {
			code, verifier := g.code(a)
			tok, err := g.cfg.Exchange(atNode(b), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange at node b: %v", err)
			}
			next, err := g.refresh(b, tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh at node b: %v", err)
			}
			ns.denyFamilies(true)
			res, body := g.post(a, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}})
			return next.AccessToken, next.RefreshToken, res, body
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, rt, res, body := tc.replay()
			ns.denyFamilies(false)
			if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "temporarily_unavailable") {
				t.Errorf("the used %s, while its grant's revocation cannot be written: %d (Retry-After %q) %s; want 503 temporarily_unavailable with Retry-After",
					tc.name, res.StatusCode, res.Header.Get("Retry-After"), body)
			}
			// The revocation's last write is the access token's: once
			// every node finds it inactive, the family was revoked.
			for _, n := range nodes {
				poll.Until(t, 20*time.Second, "node "+n.name+" finding the access token of the reused grant inactive", func() bool { return !g.active(n, at) })
			}
			for _, n := range nodes {
				if _, err := g.refresh(n, rt); err == nil {
					t.Fatalf("node %s accepted the newest refresh token of a grant whose %s was reused", n.name, tc.name)
				}
			}
		})
	}
}

// grantFlow runs the authorization code flow of one confidential client
// through the development login page.
type grantFlow struct {
	t      *testing.T
	slug   string
	issuer string
	cfg    oauth2.Config
}

func newGrantFlow(t *testing.T, n *serveProc, slug string) *grantFlow {
	t.Helper()
	web := n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "confidential", "client_name": "Web",
		"code": "urn:" + slug + "/web", "redirect_uris": []string{"https://app.example.test/cb"}, "default_scopes": []string{"openid"}}, http.StatusCreated)
	issuer := "https://id.example.test/t/" + slug
	return &grantFlow{t: t, slug: slug, issuer: issuer, cfg: oauth2.Config{ClientID: web["client_id"].(string), ClientSecret: web["client_secret"].(string),
		RedirectURL: "https://app.example.test/cb", Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/auth", TokenURL: issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}}}
}

// atNode sends the oauth2 package's requests for the public URL to n.
func atNode(n *serveProc) context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: toNode{n.addr}})
}

// code signs a user in at node n and returns the code and its PKCE
// verifier.
func (g *grantFlow) code(n *serveProc) (code, verifier string) {
	g.t.Helper()
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Transport: toNode{n.addr}, Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host != "id.example.test" {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	verifier = oauth2.GenerateVerifier()
	res, err := browser.Get(g.cfg.AuthCodeURL("state-0001", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		g.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.HasSuffix(res.Request.URL.Path, "/dev/login") {
		g.t.Fatalf("authorization request at node %s: %d at %s", n.name, res.StatusCode, res.Request.URL)
	}
	res, err = browser.PostForm(g.issuer+"/dev/login", url.Values{"login_challenge": {res.Request.URL.Query().Get("login_challenge")},
		"subject": {"erin"}, "action": {"accept"}})
	if err != nil {
		g.t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc == nil || loc.Host != "app.example.test" || loc.Query().Get("code") == "" {
		g.t.Fatalf("after login: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	return loc.Query().Get("code"), verifier
}

func (g *grantFlow) refresh(n *serveProc, rt string) (*oauth2.Token, error) {
	return g.cfg.TokenSource(atNode(n), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// post sends form to path under node n's tenant issuer as the client,
// and returns the answer and its body.
func (g *grantFlow) post(n *serveProc, path string, form url.Values) (*http.Response, string) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.addr+"/t/"+g.slug+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(g.cfg.ClientID), url.QueryEscape(g.cfg.ClientSecret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// active introspects access token at at node n, as the client.
func (g *grantFlow) active(n *serveProc, at string) bool {
	g.t.Helper()
	res, body := g.post(n, "/oauth2/introspect", url.Values{"token": {at}})
	var out struct{ Active bool }
	if res.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil {
		g.t.Fatalf("introspection at node %s: %d %s", n.name, res.StatusCode, body)
	}
	return out.Active
}

// guardedNATS is a nats-server with JetStream and one user, whose
// permissions the test changes while the server runs (a configuration
// reload): it can forbid writing grant families, as a NATS that cannot
// take a write for a while would refuse them.
type guardedNATS struct {
	t        *testing.T
	port     int
	dir      string
	conf     string
	password string
	cmd      *exec.Cmd
	probe    jetstream.KeyValue
}

// guardedUser is the one user of a guardedNATS.
const guardedUser = "clavis"

// familySubjects are the subjects of grant families in any key-value
// bucket ($KV.{bucket}.{tenant}.fam.{id}).
const familySubjects = "$KV.*.*.fam.>"

func startGuardedNATS(t *testing.T) *guardedNATS {
	t.Helper()
	dir := t.TempDir()
	n := &guardedNATS{t: t, port: freePort(t), dir: dir, conf: filepath.Join(dir, "nats.conf"), password: uniquePrefix()}
	n.write(false)
	n.cmd = exec.Command(natsServerPath(t), "-c", n.conf)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		_ = n.cmd.Wait()
	})
	waitTCP(t, fmt.Sprintf("127.0.0.1:%d", n.port))
	_, js := natsConnect(t, n.url())
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: "PROBE"})
	if err != nil {
		t.Fatal(err)
	}
	n.probe = kv
	return n
}

func (n *guardedNATS) url() string {
	return fmt.Sprintf("nats://%s:%s@127.0.0.1:%d", guardedUser, n.password, n.port)
}

// write writes the server's configuration, forbidding writes to grant
// families if deny.
func (n *guardedNATS) write(deny bool) {
	perms := ""
	if deny {
		perms = fmt.Sprintf(", permissions: {publish: {deny: [%q]}}", familySubjects)
	}
	conf := fmt.Sprintf("listen: \"127.0.0.1:%d\"\njetstream {store_dir: %q}\nauthorization {users: [{user: %q, password: %q%s}]}\n",
		n.port, filepath.Join(n.dir, "jetstream"), guardedUser, n.password, perms)
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		n.t.Fatal(err)
	}
}

// denyFamilies forbids (or allows again) writing grant families, and
// waits until the server applies it.
func (n *guardedNATS) denyFamilies(deny bool) {
	n.t.Helper()
	n.write(deny)
	if err := n.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		n.t.Fatal(err)
	}
	poll.Until(n.t, 10*time.Second, fmt.Sprintf("the NATS server applying deny=%v", deny), func() bool {
		ctx, cancel := context.WithTimeout(n.t.Context(), 200*time.Millisecond)
		defer cancel()
		_, err := n.probe.Put(ctx, "probe.fam.x", []byte("x"))
		return (err == nil) != deny
	})
}
