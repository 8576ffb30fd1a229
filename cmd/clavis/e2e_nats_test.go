package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/eventstore/subject"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
)

// TestAnonymousNATSSeesOnlyPublicEvents listens, without credentials, on
// the embedded NATS server of a real node while a full workload runs
// over HTTP: nothing but the public stream's CloudEvents may arrive.
func TestAnonymousNATSSeesOnlyPublicEvents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := startServe(t, "anon", "CLAVIS_NATS_LISTEN="+natsAddr, "CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true")
	hearsOnlyPublicEvents(t, n, "nats://"+natsAddr)
}

// TestClusterConfigKeepsTheNodesRepliesPrivate runs NATS with the
// authorisation of deploy/nats/nats-cluster.conf (one node of it: no
// cluster block, a port and store of the test's own) and a node
// connected as its user clavis: the downstream user events, listening to
// everything it may while a full workload runs, hears nothing but the
// public stream's CloudEvents.
func TestClusterConfigKeepsTheNodesRepliesPrivate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", "nats-cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	port, dir := freePort(t), t.TempDir()
	text := string(conf)
	for _, r := range []struct{ re, with string }{
		{`(?m)^listen: .*$`, fmt.Sprintf("listen: 127.0.0.1:%d", port)},
		{`(?m)^http: .*$`, ""},
		{`(?m)^  store_dir: .*$`, "  store_dir: " + strconv.Quote(filepath.Join(dir, "js"))},
		{`(?s)\ncluster \{.*\n\}\n`, "\n"},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(text) {
			t.Fatalf("deploy/nats/nats-cluster.conf has no %s any more: update this test", r.re)
		}
		text = re.ReplaceAllLiteralString(text, r.with)
	}
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	nodePassword, eventsPassword := "p"+strings.Repeat("0a", 16), "p"+strings.Repeat("1b", 16)
	cmd := exec.Command(natsServerPath(t), "-c", path)
	cmd.Env = append(os.Environ(), "NATS_SERVER_NAME=n1", "CLAVIS_NATS_PASSWORD="+nodePassword, "CLAVIS_EVENTS_PASSWORD="+eventsPassword)
	var out testnode.Logs
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("nats-server:\n%s", out.String())
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitTCP(t, addr)
	n := startServe(t, "cluster-conf", "CLAVIS_NATS_URL=nats://clavis:"+nodePassword+"@"+addr,
		"CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true")
	hearsOnlyPublicEvents(t, n, "nats://events:"+eventsPassword+"@"+addr)
}

// hearsOnlyPublicEvents connects to listenURL and subscribes to every
// subject it is allowed to, each subscription on its own (a refused one
// must not take the others with it), while a full workload runs at node n
// over HTTP: a tenant, a confidential client, a secret added, a
// signing-key rotation, the authorization code flow with login and
// consent, a refresh. The node's JetStream replies, pull deliveries and
// key-value reads (secret hashes, sealed signing keys, codes, refresh
// tokens, sessions) travel on its inbox; nothing but the public stream's
// CloudEvents may reach the listener.
func hearsOnlyPublicEvents(t *testing.T, n *serveProc, listenURL string) {
	t.Helper()
	names := mustNames(t, subject.DefaultPrefix)

	var (
		mu       sync.Mutex
		got      []*nats.Msg
		refusals []string
	)
	nc, err := nats.Connect(listenURL, nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			defer mu.Unlock()
			refusals = append(refusals, err.Error())
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	subjects := []string{">", "*.>", "_INBOX.>", names.InboxPrefix() + ".>", "$JS.>", "$JS.API.>", "$JS.ACK.>", "$KV.>",
		"$SYS.>", "$JSC.>", "_R_.>", "clavis.>", "clavis.internal.>", names.PublicFilter(), names.WakeSubject()}
	for _, s := range subjects {
		if _, err := nc.Subscribe(s, func(m *nats.Msg) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m)
		}); err != nil {
			t.Logf("subscribe %s: %v", s, err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// The workload.
	slug := uniqueSlug("anon")
	tn := n.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Anon"}, http.StatusCreated)
	secrets := []string{tn["admin_client"].(map[string]any)["client_secret"].(string)}
	web := n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "confidential", "client_name": "Web",
		"code": "urn:" + slug + "/web", "redirect_uris": []string{"https://app.example.test/cb"}, "default_scopes": []string{"openid"},
		"consent_required": true}, http.StatusCreated)
	webID := web["client_id"].(string)
	secrets = append(secrets, web["client_secret"].(string))
	added := n.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients/"+webID+"/secrets", map[string]any{"description": "second"}, http.StatusCreated)
	secrets = append(secrets, added["client_secret"].(string))
	n.mustCall(http.MethodPost, "/admin/tenants/"+slug+"/keys/rotate", nil, http.StatusOK)

	issuer := "https://id.example.test/t/" + slug
	cfg := oauth2.Config{ClientID: webID, ClientSecret: added["client_secret"].(string), RedirectURL: "https://app.example.test/cb",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/oauth2/auth", TokenURL: issuer + "/oauth2/token"}, Scopes: []string{"openid"}}
	code, verifier := browseCodeFlow(t, n, cfg, "erin")
	ctx := t.Context()
	tok, err := cfg.Exchange(oauthAt(ctx, n), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	refreshed, err := cfg.TokenSource(oauthAt(ctx, n), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || refreshed.RefreshToken == "" {
		t.Fatalf("refresh: %v", err)
	}
	secrets = append(secrets, code, tok.AccessToken, tok.RefreshToken, refreshed.AccessToken, refreshed.RefreshToken)

	// The listener must have seen the workload's public events (else it
	// saw nothing at all and proves nothing) and nothing else.
	want := names.PublicSubject(slug, "tenant.signing_key_added")
	poll.Until(t, 10*time.Second, "the key rotation's public event to reach the listener", func() bool {
		mu.Lock()
		defer mu.Unlock()
		count := 0
		for _, m := range got {
			if m.Subject == want {
				count++
			}
		}
		return count >= 2 // the tenant's first key, then the rotation's
	})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	public := strings.TrimSuffix(names.PublicFilter(), ">")
	for _, m := range got {
		if !strings.HasPrefix(m.Subject, public) {
			t.Errorf("an anonymous subscriber received %s (reply %q): %.300s", m.Subject, m.Reply, m.Data)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(string(m.Data), s) {
				t.Errorf("the public event %s carries a secret or token", m.Subject)
			}
		}
	}
	t.Logf("%d messages received; subscriptions refused: %v", len(got), refusals)
}

// oauthAt is a context whose OAuth2 calls go to node n.
func oauthAt(ctx context.Context, n *serveProc) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, &http.Client{Transport: toNode{n.addr}})
}

// browseCodeFlow runs the authorization request of cfg at node n in a
// browser that signs in as subject on the development login page and
// consents when asked, and returns the code and the PKCE verifier.
func browseCodeFlow(t *testing.T, n *serveProc, cfg oauth2.Config, subject string) (code, verifier string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	redirect, _ := url.Parse(cfg.RedirectURL)
	browser := &http.Client{Transport: toNode{n.addr}, Jar: jar, CheckRedirect: func(r *http.Request, _ []*http.Request) error {
		if r.URL.Host == redirect.Host {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	verifier = oauth2.GenerateVerifier()
	res, err := browser.Get(cfg.AuthCodeURL("state-0001", oauth2.S256ChallengeOption(verifier)))
	for range 4 {
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc, _ := url.Parse(res.Header.Get("Location")); loc != nil && loc.Host == redirect.Host {
			if code = loc.Query().Get("code"); code == "" {
				t.Fatalf("the flow ended at %s", loc)
			}
			return code, verifier
		}
		page := res.Request.URL
		if res.StatusCode != http.StatusOK || !strings.HasSuffix(page.Path, "/dev/login") {
			t.Fatalf("the flow stopped at %s with %d", page, res.StatusCode)
		}
		form := url.Values{"action": {"accept"}}
		if ch := page.Query().Get("consent_challenge"); ch != "" {
			form.Set("consent_challenge", ch)
			form.Set("grant_scope", "openid")
		} else {
			form.Set("login_challenge", page.Query().Get("login_challenge"))
			form.Set("subject", subject)
		}
		res, err = browser.PostForm(page.Scheme+"://"+page.Host+page.Path, form)
	}
	t.Fatal("the flow did not end at the redirect URI")
	return "", ""
}

// TestAnonymousNATSCannotJamTheNode attacks a real node's embedded NATS
// server without credentials with the requests that once took its
// JetStream API for minutes and kept it from starting again: a consumer
// with 20,000 filter subjects, a pull consumer waiting on 100,000,000
// pulls, hour-long pulls. Each is refused as a permission violation; the
// node keeps answering, logs no error, restarts on the same data dir
// within seconds, and a subscriber without credentials still hears its
// public events.
func TestAnonymousNATSCannotJamTheNode(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	natsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := startServe(t, "jam", "CLAVIS_DATA_DIR="+t.TempDir(), "CLAVIS_NATS_LISTEN="+natsAddr)
	names := mustNames(t, subject.DefaultPrefix)
	pub := names.PublicStream()

	var refused atomic.Int64
	attacker, err := nats.Connect("nats://"+natsAddr, nats.Timeout(5*time.Second),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if strings.Contains(err.Error(), "Permissions Violation") {
				refused.Add(1)
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(attacker.Close)
	filters := make([]string, 20000)
	for i := range filters {
		filters[i] = names.PublicSubject(fmt.Sprintf("t%d", i), "client.registered")
	}
	jam, _ := json.Marshal(map[string]any{"stream_name": pub, "config": map[string]any{"name": "jam", "filter_subjects": filters, "ack_policy": "explicit"}})
	hog := fmt.Appendf(nil, `{"stream_name":%q,"config":{"name":"hog","ack_policy":"explicit","max_waiting":100000000}}`, pub)
	attempts := map[string][]byte{
		"$JS.API.CONSUMER.CREATE." + pub + ".jam":   jam,
		"$JS.API.CONSUMER.CREATE." + pub + ".hog":   hog,
		"$JS.API.CONSUMER.MSG.NEXT." + pub + ".hog": []byte(`{"batch":1,"expires":3600000000000}`),
		"$JS.API.STREAM.INFO." + pub:                nil,
	}
	for subject, body := range attempts {
		if err := attacker.PublishRequest(subject, "_INBOX.jam", body); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 5*time.Second, "every attempt refused", func() bool { return refused.Load() >= int64(len(attempts)) })

	// The node answers at once; a new tenant's events reach a subscriber.
	listener, err := nats.Connect("nats://"+natsAddr, nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(listener.Close)
	heard, err := listener.SubscribeSync(names.PublicFilter())
	if err != nil {
		t.Fatal(err)
	}
	if err := listener.Flush(); err != nil {
		t.Fatal(err)
	}
	slug := uniqueSlug("jam")
	n.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Jam"}, http.StatusCreated)
	if m, err := heard.NextMsg(10 * time.Second); err != nil || !strings.HasPrefix(m.Subject, strings.TrimSuffix(names.PublicFilter(), ">")+slug+".") {
		t.Fatalf("the subscriber heard no event of the new tenant: %v", err)
	}
	if strings.Contains(n.logs.String(), `"level":"ERROR"`) {
		t.Errorf("refused attempts were logged as errors:\n%s", n.logs)
	}

	n.stop()
	began := time.Now()
	n.start()
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("the node took %s to restart", took)
	}
	n.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": uniqueSlug("jam"), "name": "Jam 2"}, http.StatusCreated)
}
