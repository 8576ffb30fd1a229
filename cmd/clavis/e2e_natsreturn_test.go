package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/internal/poll"
)

// natsReturnBound is how soon, by docs/oauth.md, a revocation or a
// deactivation acknowledged by one node is refused by every node, NATS
// having just come back included.
const natsReturnBound = time.Second

// TestRefusedEverywhereAfterNATSReturns restarts the NATS server under two
// nodes, then, as soon as node a acknowledges them, revokes an access
// token and deactivates a client through it: node b must refuse both
// within the documented bound. A node's watch of the revocations did not
// survive the restart and was noticed dead only after two missed
// heartbeats, some ten seconds later.
func TestRefusedEverywhereAfterNATSReturns(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	ns := startNATS(t)
	// The nodes of a cluster share one public URL: the tenants' issuers.
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test"}
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []*serveProc{a, b} {
				for line := range strings.Lines(n.logs.String()) {
					if strings.Contains(line, "NATS") || strings.Contains(line, "revocations") || strings.Contains(line, "feed") {
						t.Logf("node %s: %.400s", n.name, line)
					}
				}
			}
		}
	})

	slug := uniqueSlug("natsback")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "NATS back"}, http.StatusCreated)
	newM2M := func(code string) m2m {
		c := a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "m2m", "client_name": code,
			"code": "urn:" + slug + "/" + code}, http.StatusCreated)
		return m2m{slug: slug, id: c["client_id"].(string), secret: c["client_secret"].(string)}
	}
	svc, probe := newM2M("svc"), newM2M("probe")

	var at string
	poll.UntilNil(t, 10*time.Second, func() error {
		var err error
		at, _, err = svc.token(b)
		return err
	})
	poll.Until(t, 10*time.Second, "node b granting the probe client a token and finding the service's token active", func() bool {
		_, _, err := probe.token(b)
		active, ierr := svc.active(b, at)
		return err == nil && ierr == nil && active
	})

	ns.stop()
	ns.start()
	restarted := time.Now()
	// Each write is retried until node a acknowledges it (the first may
	// meet a NATS that is not serving JetStream yet), then node b is
	// watched until it refuses what was written.
	var revokedAt, deactivatedAt time.Time
	poll.UntilNil(t, 30*time.Second, func() error { return svc.revoke(a, at) })
	revokedAt = time.Now()
	poll.Until(t, 30*time.Second, "node b finding the revoked token inactive", func() bool {
		active, err := svc.active(b, at)
		return err == nil && !active
	})
	revoked := time.Since(revokedAt)
	poll.UntilNil(t, 30*time.Second, func() error {
		code, _, body, err := a.try(http.MethodPost, "/t/"+slug+"/admin/clients/"+probe.id+"/deactivate", map[string]any{"reason": "NATS back"})
		if err != nil || code != http.StatusOK {
			return fmt.Errorf("deactivate at node a: %d %s %v", code, body, err)
		}
		return nil
	})
	deactivatedAt = time.Now()
	poll.Until(t, 30*time.Second, "node b refusing the deactivated client", func() bool {
		_, status, err := probe.token(b)
		return err != nil && status == http.StatusUnauthorized
	})
	deactivated := time.Since(deactivatedAt)
	t.Logf("NATS restarted; node a acknowledged the revocation %s and the deactivation %s after; node b refused the token %s and the client %s after their acknowledgements",
		revokedAt.Sub(restarted).Round(time.Millisecond), deactivatedAt.Sub(restarted).Round(time.Millisecond), revoked.Round(time.Millisecond), deactivated.Round(time.Millisecond))
	if revoked > natsReturnBound || deactivated > natsReturnBound {
		t.Errorf("after NATS came back, node b took %s to refuse a revoked token and %s a deactivated client; the bound is %s",
			revoked.Round(time.Millisecond), deactivated.Round(time.Millisecond), natsReturnBound)
	}
}

// m2m is a client of the client_credentials grant.
type m2m struct{ slug, id, secret string }

// post sends form to path under the tenant at node n as the client.
func (c m2m) post(n *serveProc, path string, form url.Values) (int, []byte, error) {
	req, _ := http.NewRequest(http.MethodPost, "http://"+n.addr+"/t/"+c.slug+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	res, err := e2eHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// token gets an access token at node n; the status of a refusal.
func (c m2m) token(n *serveProc) (string, int, error) {
	status, body, err := c.post(n, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}})
	if err != nil {
		return "", 0, err
	}
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil || out.AccessToken == "" {
		return "", status, fmt.Errorf("token at node %s: %d %s", n.name, status, body)
	}
	return out.AccessToken, status, nil
}

// active introspects at at node n.
func (c m2m) active(n *serveProc, at string) (bool, error) {
	status, body, err := c.post(n, "/oauth2/introspect", url.Values{"token": {at}})
	if err != nil {
		return false, err
	}
	var out struct{ Active bool }
	if status != http.StatusOK || json.Unmarshal(body, &out) != nil {
		return false, fmt.Errorf("introspect at node %s: %d %s", n.name, status, body)
	}
	return out.Active, nil
}

// revoke revokes at at node n.
func (c m2m) revoke(n *serveProc, at string) error {
	status, body, err := c.post(n, "/oauth2/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}})
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("revoke at node %s: %d %s", n.name, status, body)
	}
	return nil
}

// TestRevokedEverywhereAfterRevocationsLeaderDies kills the NATS server
// leading the revocation bucket's stream in a three-server cluster, with
// node b connected to another server, so that b's connection never
// drops: a revocation node a acknowledges after the fault must still be
// refused by b within the bound. b's watch lived on the dead leader, and
// was noticed dead only after two missed heartbeats, ten seconds; its
// new watch then needed a new metadata leader when the dead server had
// been that too.
func TestRevokedEverywhereAfterRevocationsLeaderDies(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binaries")
	}
	nc := startNATSCluster(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_REPLICAS=3", "CLAVIS_PUBLIC_URL=https://id.example.test"}
	a := startServe(t, "a", append(env, "CLAVIS_NATS_URL="+nc.url("clavis", nc.clavisPassword))...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false",
		fmt.Sprintf("CLAVIS_NATS_URL=nats://clavis:%s@127.0.0.1:%d", nc.clavisPassword, nc.servers[0].port))...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node b logged:\n%s", withoutDebug(b.logs.String()))
		}
	})

	slug := uniqueSlug("leader")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Leader"}, http.StatusCreated)
	c := a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "m2m", "client_name": "svc",
		"code": "urn:" + slug + "/svc"}, http.StatusCreated)
	svc := m2m{slug: slug, id: c["client_id"].(string), secret: c["client_secret"].(string)}
	var at string
	poll.UntilNil(t, 10*time.Second, func() error {
		var err error
		at, _, err = svc.token(b)
		return err
	})
	poll.Until(t, 10*time.Second, "node b finding the token active", func() bool {
		active, err := svc.active(b, at)
		return err == nil && active
	})

	// The leader must be another server than node b's.
	conn, js := natsConnect(t, nc.url("clavis", nc.clavisPassword))
	const stream = "KV_CLAVIS_REVOKED"
	leader := -1
	poll.Until(t, 30*time.Second, "a leader of "+stream+" other than node b's server", func() bool {
		leader = nc.leader(js, stream)
		if leader == 0 {
			_, _ = conn.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 2*time.Second)
		}
		return leader > 0
	})
	nc.servers[leader].kill()
	killed := time.Now()
	poll.UntilNil(t, 30*time.Second, func() error { return svc.revoke(a, at) })
	revokedAt := time.Now()
	poll.Until(t, 30*time.Second, "node b finding the revoked token inactive", func() bool {
		active, err := svc.active(b, at)
		return err == nil && !active
	})
	revoked := time.Since(revokedAt)
	t.Logf("leader of the revocations killed; node a acknowledged a revocation %s after, node b refused the token %s after that",
		revokedAt.Sub(killed).Round(time.Millisecond), revoked.Round(time.Millisecond))
	if revoked > natsReturnBound {
		t.Errorf("after the revocations' leader died, node b took %s to refuse a revoked token; the bound is %s", revoked.Round(time.Millisecond), natsReturnBound)
	}
}

// withoutDebug returns the lines of a node's logs above debug level.
func withoutDebug(logs string) string {
	var b strings.Builder
	for line := range strings.Lines(logs) {
		if !strings.Contains(line, `"level":"DEBUG"`) {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestRevokingAKnownRevocationRecordsIt makes a node hear a revocation
// that the bucket never stored (published with an expectation JetStream
// refuses, as a revocation whose recording failed during a NATS election
// is heard): the node then refuses the token, and revoking it there must
// still record it for every node. It answered 200 from its own view,
// recording nothing, and the other nodes kept accepting the token.
func TestRevokingAKnownRevocationRecordsIt(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	t.Parallel()
	ns := startNATS(t)
	a := startServe(t, "a", postgresEnv(t), "CLAVIS_NATS_URL="+ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test")
	slug := uniqueSlug("heard")
	a.mustCall(http.MethodPost, "/admin/tenants", map[string]any{"slug": slug, "name": "Heard"}, http.StatusCreated)
	c := a.mustCall(http.MethodPost, "/t/"+slug+"/admin/clients", map[string]any{"type": "m2m", "client_name": "svc",
		"code": "urn:" + slug + "/svc"}, http.StatusCreated)
	svc := m2m{slug: slug, id: c["client_id"].(string), secret: c["client_secret"].(string)}
	at, _, err := svc.token(a)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(at, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.JTI == "" {
		t.Fatalf("no jti in %s: %v", payload, err)
	}
	key := slug + "." + claims.JTI

	nc, js := natsConnect(t, ns.url())
	heard := nats.NewMsg("$KV.CLAVIS_REVOKED." + key)
	heard.Data = []byte(strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	heard.Header.Set("Nats-Expected-Last-Subject-Sequence", "999999")
	if err := nc.PublishMsg(heard); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "node a refusing the token it heard revoked", func() bool {
		active, err := svc.active(a, at)
		return err == nil && !active
	})
	kv, err := js.KeyValue(t.Context(), "CLAVIS_REVOKED")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(t.Context(), key); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the heard revocation is in the bucket (%v): the test shows nothing", err)
	}
	if err := svc.revoke(a, at); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(t.Context(), key); err != nil {
		t.Errorf("node a acknowledged the revocation without recording it: %v", err)
	}
}
