package natsserver_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// tenantConf is the configuration of a NATS server whose downstream
// users are each confined to one tenant's events.
var tenantConf = filepath.Join("..", "..", "deploy", "nats", "tenant-events.conf")

// pipeline is Clavis as a tenant's downstream service meets it: a
// nats-server running deploy/nats/tenant-events.conf, and a node
// connected to it as the user clavis, whose relay publishes every event
// of its store (SQLite) and every audit checkpoint it signs.
type pipeline struct {
	// url is the NATS server's, without credentials.
	url       string
	passwords map[string]string // by NATS user
	node      *testnode.Server
	// js is the node user's own JetStream, to look at the streams.
	js jetstream.JetStream
}

// startPipeline starts nats-server with the configuration of
// deploy/nats/tenant-events.conf, as it is but for a port and a store
// of the test's own and the passwords, which it reads from the
// environment, and a node using it that signs audit checkpoints every
// second. The server runs in process (the version go.mod requires), or,
// with external, as the machine's nats-server program. Setting the
// environment, it cannot run in parallel.
func startPipeline(t *testing.T, external bool) *pipeline {
	t.Helper()
	passwords, env := map[string]string{}, []string{}
	for user, name := range map[string]string{"clavis": "CLAVIS_NATS_PASSWORD", "acme-orders": "ACME_ORDERS_PASSWORD", "beta-orders": "BETA_ORDERS_PASSWORD"} {
		passwords[user] = rand.Text()
		env = append(env, name+"="+passwords[user])
		t.Setenv(name, passwords[user])
	}
	var url string
	if external {
		url = runNATSServer(t, env)
	} else {
		url = startNATSServer(t)
	}

	cfg := testnode.Config(t, "")
	cfg.NATSURL = "nats://clavis:" + passwords["clavis"] + "@" + strings.TrimPrefix(url, "nats://")
	srv := testnode.Start(t, cfg, node.WithAudit(auditlog.WithSignInterval(time.Second)))
	nc := testnode.Connect(t, url, nats.UserInfo("clavis", passwords["clavis"]), nats.CustomInboxPrefix("_CLAVIS_INBOX"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &pipeline{url: url, passwords: passwords, node: srv, js: js}
}

// startNATSServer runs tenant-events.conf in process and returns its URL.
func startNATSServer(t *testing.T) string {
	t.Helper()
	opts, err := server.ProcessConfigFile(tenantConf)
	if err != nil {
		t.Fatalf("load %s: %v", tenantConf, err)
	}
	if !opts.JetStream || len(opts.Users) != 3 {
		t.Fatalf("%s: jetstream %v, %d users; want jetstream and the users clavis, acme-orders, beta-orders", tenantConf, opts.JetStream, len(opts.Users))
	}
	opts.Host, opts.Port, opts.StoreDir = "127.0.0.1", server.RANDOM_PORT, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	return ns.ClientURL()
}

// runNATSServer runs tenant-events.conf in the machine's nats-server
// program, its listen address and store directory replaced, with env
// added to its environment, and returns its URL.
func runNATSServer(t *testing.T, env []string) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if bin = "/usr/sbin/nats-server"; !fileExists(bin) {
			t.Fatal("nats-server is not installed (Debian package nats-server): this test runs deploy/nats/tenant-events.conf in it")
		}
	}
	conf, err := os.ReadFile(tenantConf)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	text := string(conf)
	for _, r := range []struct{ re, with string }{
		{`(?m)^listen: .*$`, "listen: " + addr},
		{`(?m)^  store_dir: .*$`, "  store_dir: " + strconv.Quote(filepath.Join(dir, "js"))},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(text) {
			t.Fatalf("%s has no %s any more: update this test", tenantConf, r.re)
		}
		text = re.ReplaceAllLiteralString(text, r.with)
	}
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	version, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", bytes.TrimSpace(version))
	cmd := exec.Command(bin, "-c", path)
	cmd.Env = append(os.Environ(), env...)
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
	poll.UntilNil(t, 20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return fmt.Errorf("nats-server does not accept connections on %s: %w", addr, err)
		}
		return c.Close()
	})
	return "nats://" + addr
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// createTenant creates a tenant through the platform API and returns its
// admin client's id.
func (p *pipeline) createTenant(t *testing.T, slug string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"slug": slug, "name": "Tenant " + slug})
	resp := p.request(t, http.MethodPost, "/admin/tenants", body, http.StatusCreated)
	var created struct {
		AdminClient struct {
			ClientID string `json:"client_id"`
		} `json:"admin_client"`
	}
	if err := json.Unmarshal(resp, &created); err != nil || created.AdminClient.ClientID == "" {
		t.Fatalf("create tenant %s: %s (%v)", slug, resp, err)
	}
	return created.AdminClient.ClientID
}

// addSecret adds a secret to a client: one more event of the tenant.
func (p *pipeline) addSecret(t *testing.T, slug, clientID string) {
	t.Helper()
	if _, err := p.node.Admin.Clients.AddSecret(t.Context(), tenants.Request{Actor: "root", Reason: "test"}, slug, clientID, "test", nil); err != nil {
		t.Fatalf("add a secret to %s's %s: %v", slug, clientID, err)
	}
}

// request sends a request with the root token and returns the body of
// an answer with status want.
func (p *pipeline) request(t *testing.T, method, path string, body []byte, want int) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.node.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+p.node.RootToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s %s", method, path, resp.Status, data)
	}
	return data
}

// storeIDs are the ids of a tenant's events in store order.
func (p *pipeline) storeIDs(t *testing.T, slug string) []string {
	t.Helper()
	var ids []string
	var after eventstore.Position
	for {
		page, err := p.node.Store.ReadTenant(t.Context(), slug, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return ids
		}
		for _, e := range page {
			ids = append(ids, e.ID)
		}
		after = page[len(page)-1].Position
	}
}

// waitRelayed waits until the public stream holds as many events as the
// store, for all tenants, beside the audit checkpoints: no more (a
// forged one), no fewer.
func (p *pipeline) waitRelayed(t *testing.T, events int) {
	t.Helper()
	poll.UntilNil(t, 15*time.Second, func() error {
		s, err := p.js.Stream(t.Context(), "CLAVIS_EVENTS")
		if err != nil {
			return err
		}
		info, err := s.Info(t.Context(), jetstream.WithSubjectFilter("clavis.events.>"))
		if err != nil {
			return err
		}
		n := 0
		for subj, count := range info.State.Subjects {
			if !strings.HasSuffix(subj, ".audit.checkpoint") {
				n += int(count)
			}
		}
		if n != events {
			return fmt.Errorf("the public stream holds %d events, the store %d", n, events)
		}
		return nil
	})
}

// refusals collects the permission violations the server reports to a
// connection.
type refusals struct {
	mu   sync.Mutex
	errs []string
}

func (r *refusals) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err.Error())
}

// all is every refusal so far.
func (r *refusals) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// violation reports whether the server refused what of subject (publish
// or subscription) as a permission violation.
func (r *refusals) violation(what, subject string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.errs, func(e string) bool {
		return strings.Contains(strings.ToLower(e), "permissions violation for "+what+" to \""+strings.ToLower(subject)+"\"")
	})
}

// TestTenantUserReadsOnlyItsTenant runs deploy/nats/tenant-events.conf,
// in process and in the machine's nats-server program, with a node whose stream holds Acme's and Beta's events and audit
// checkpoints: the user acme-orders reads Acme's through its consumer,
// and every way to reach Beta's, or the stream beyond Acme's subjects, is
// refused, as a permission violation or by the server, never in silence.
func TestTenantUserReadsOnlyItsTenant(t *testing.T) {
	t.Run("in process", func(t *testing.T) { tenantUserReadsOnlyItsTenant(t, startPipeline(t, false)) })
	t.Run("nats-server", func(t *testing.T) { tenantUserReadsOnlyItsTenant(t, startPipeline(t, true)) })
}

func tenantUserReadsOnlyItsTenant(t *testing.T, p *pipeline) {
	ctx := t.Context()
	acmeAdmin, betaAdmin := p.createTenant(t, "acme"), p.createTenant(t, "beta")
	p.addSecret(t, "beta", betaAdmin)
	p.addSecret(t, "acme", acmeAdmin)
	acmeIDs, betaIDs := p.storeIDs(t, "acme"), p.storeIDs(t, "beta")
	p.waitRelayed(t, len(acmeIDs)+len(betaIDs))

	// Beta's service has a consumer of its own, with Beta's events.
	_, betaJS, err := connect(p.url, "beta-orders", p.passwords["beta-orders"], "_INBOX_beta")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := betaJS.CreateOrUpdateConsumer(ctx, "CLAVIS_EVENTS", jetstream.ConsumerConfig{
		Durable: "beta-orders", FilterSubject: "clavis.events.beta.>", AckPolicy: jetstream.AckExplicitPolicy,
	}); err != nil {
		t.Fatalf("beta-orders creates its consumer: %v", err)
	}

	// Acme's service reads Acme's events, in store order, and only those.
	var r refusals
	acme, acmeJS, err := connect(p.url, "acme-orders", p.passwords["acme-orders"], "_INBOX_acme")
	if err != nil {
		t.Fatal(err)
	}
	defer acme.Close()
	acme.SetErrorHandler(r.handler)
	c, err := follow(ctx, acmeJS)
	if err != nil {
		t.Fatalf("acme-orders creates its consumer: %v", err)
	}
	var got []string
	poll.UntilNil(t, 20*time.Second, func() error {
		if err := pull(ctx, c, 100, func(e event) error {
			if e.Source != "/t/acme" {
				t.Errorf("acme-orders received %s of %s", e.ID, e.Source)
			}
			if e.Type != "dev.clavis.audit.checkpoint" {
				got = append(got, e.ID)
			}
			return nil
		}); err != nil {
			return err
		}
		if len(got) < len(acmeIDs) {
			return fmt.Errorf("acme-orders received %d of Acme's %d events", len(got), len(acmeIDs))
		}
		return nil
	})
	if !slices.Equal(got, acmeIDs) {
		t.Errorf("acme-orders received\n%v\nwant Acme's events in store order\n%v", got, acmeIDs)
	}

	// The tricks. Each is a request acme-orders may send; each must be
	// refused.
	const stream = "CLAVIS_EVENTS"
	create := func(name, filter string, extra map[string]any) []byte {
		cfg := map[string]any{"durable_name": name, "ack_policy": "explicit"}
		if filter != "" {
			cfg["filter_subject"] = filter
		}
		for k, v := range extra {
			cfg[k] = v
		}
		b, _ := json.Marshal(map[string]any{"stream_name": stream, "config": cfg})
		return b
	}
	api := "$JS.API."
	attempts := []struct {
		name, subject string
		body          []byte
	}{
		{"a body filter other than the subject's", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.acme.>", create("acme-orders", "clavis.events.beta.>", nil)},
		{"a body filter of everything under the subject's", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.acme.>", create("acme-orders", "clavis.events.>", nil)},
		{"no body filter under the subject's", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.acme.>", create("acme-orders", "", nil)},
		{"body filters besides the subject's", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.acme.>", create("acme-orders", "", map[string]any{"filter_subjects": []string{"clavis.events.acme.>", "clavis.events.beta.>"}})},
		{"another stream in the body", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.acme.>", []byte(`{"stream_name":"CLAVIS_INTERNAL","config":{"durable_name":"acme-orders","filter_subject":"clavis.events.acme.>"}}`)},
		{"a filter of every tenant", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.>", create("acme-orders", "clavis.events.>", nil)},
		{"a filter of Beta", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.beta.>", create("acme-orders", "clavis.events.beta.>", nil)},
		{"a filter of any tenant's event", api + "CONSUMER.CREATE." + stream + ".acme-orders.clavis.events.*.client.secret_added", create("acme-orders", "clavis.events.*.client.secret_added", nil)},
		{"an unfiltered consumer", api + "CONSUMER.CREATE." + stream + ".acme-orders", create("acme-orders", "", nil)},
		{"a legacy ephemeral consumer", api + "CONSUMER.CREATE." + stream, create("", "clavis.events.acme.>", nil)},
		{"a legacy durable consumer", api + "CONSUMER.DURABLE.CREATE." + stream + ".acme-orders", create("acme-orders", "clavis.events.acme.>", nil)},
		{"a consumer of another name", api + "CONSUMER.CREATE." + stream + ".acme-all.clavis.events.acme.>", create("acme-all", "clavis.events.acme.>", nil)},
		{"a consumer named for Beta", api + "CONSUMER.CREATE." + stream + ".beta-orders.clavis.events.acme.>", create("beta-orders", "clavis.events.acme.>", nil)},
		{"a consumer on the internal stream", api + "CONSUMER.CREATE.CLAVIS_INTERNAL.acme-orders.clavis.events.acme.>", create("acme-orders", "clavis.events.acme.>", nil)},
		{"fetching from Beta's consumer", api + "CONSUMER.MSG.NEXT." + stream + ".beta-orders", []byte(`{"batch":10,"expires":1000000000}`)},
		{"Beta's consumer's info", api + "CONSUMER.INFO." + stream + ".beta-orders", nil},
		{"deleting Beta's consumer", api + "CONSUMER.DELETE." + stream + ".beta-orders", nil},
		{"acknowledging on Beta's consumer", "$JS.ACK." + stream + ".beta-orders.1.1.1.0.0", nil},
		{"the consumer names", api + "CONSUMER.NAMES." + stream, nil},
		{"the consumer list", api + "CONSUMER.LIST." + stream, nil},
		{"the stream's info with its subjects", api + "STREAM.INFO." + stream, []byte(`{"subjects_filter":">"}`)},
		{"the stream names", api + "STREAM.NAMES", nil},
		{"the account's info", api + "INFO", nil},
		{"a direct get by sequence", api + "DIRECT.GET." + stream, []byte(`{"seq":1}`)},
		{"a direct get of Beta's last event", api + "DIRECT.GET." + stream + ".clavis.events.beta.tenant.created", nil},
		{"a stored message by sequence", api + "STREAM.MSG.GET." + stream, []byte(`{"seq":1}`)},
		{"publishing an event of Acme's", "clavis.events.acme.client.secret_added", []byte(`{"forged":true}`)},
		{"publishing an event of Beta's", "clavis.events.beta.client.secret_added", []byte(`{"forged":true}`)},
	}
	type outcome struct {
		answer []byte
		err    error
	}
	outcomes := make([]outcome, len(attempts))
	var wg sync.WaitGroup
	for i, a := range attempts {
		wg.Go(func() {
			m, err := acme.Request(a.subject, a.body, 3*time.Second)
			outcomes[i].err = err
			if m != nil {
				outcomes[i].answer = m.Data
			}
		})
	}
	wg.Wait()
	for i, a := range attempts {
		o := outcomes[i]
		switch {
		case o.err == nil:
			var answer struct {
				Error *struct {
					Code        int    `json:"code"`
					Description string `json:"description"`
				} `json:"error"`
			}
			if err := json.Unmarshal(o.answer, &answer); err != nil || answer.Error == nil {
				t.Errorf("%s (%s): answered %s", a.name, a.subject, o.answer)
				continue
			}
			t.Logf("%s: the server refused: %d %s", a.name, answer.Error.Code, answer.Error.Description)
		case errors.Is(o.err, nats.ErrTimeout):
			poll.UntilNil(t, 5*time.Second, func() error {
				if !r.violation("publish", a.subject) {
					return fmt.Errorf("%s (%s): no answer, and no permissions violation (%q)", a.name, a.subject, r.all())
				}
				return nil
			})
			t.Logf("%s: a permissions violation", a.name)
		default:
			t.Errorf("%s (%s): %v", a.name, a.subject, o.err)
		}
	}

	// Listening: refused, and nothing arrives, while both tenants' events
	// and Beta's service's replies go by.
	heard := make(chan *nats.Msg, 64)
	listens := []string{"clavis.events.beta.>", "clavis.events.>", "clavis.>", ">", "_INBOX.>", "_INBOX_beta.>", "_CLAVIS_INBOX.>", "$JS.>"}
	for _, s := range listens {
		if _, err := acme.ChanSubscribe(s, heard); err != nil {
			t.Fatalf("subscribe %s: %v", s, err)
		}
	}
	if err := acme.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, s := range listens {
		poll.UntilNil(t, 5*time.Second, func() error {
			if !r.violation("subscription", s) {
				return fmt.Errorf("subscribing to %s: no permissions violation", s)
			}
			return nil
		})
	}
	p.addSecret(t, "beta", betaAdmin)
	p.addSecret(t, "acme", acmeAdmin)
	betaC, err := betaJS.Consumer(ctx, "CLAVIS_EVENTS", "beta-orders")
	if err != nil {
		t.Fatal(err)
	}
	var betaGot int
	poll.UntilNil(t, 20*time.Second, func() error {
		if err := pull(ctx, betaC, 100, func(e event) error {
			if e.Source != "/t/beta" {
				t.Errorf("beta-orders received %s of %s", e.ID, e.Source)
			}
			if e.Type != "dev.clavis.audit.checkpoint" {
				betaGot++
			}
			return nil
		}); err != nil {
			return err
		}
		if want := len(betaIDs) + 1; betaGot < want {
			return fmt.Errorf("beta-orders received %d of Beta's %d events", betaGot, want)
		}
		return nil
	})
	select {
	case m := <-heard:
		t.Errorf("acme-orders heard %s: %s", m.Subject, m.Data)
	case <-time.After(time.Second):
	}

	// Nothing changed: the stream holds what the relay published, Beta's
	// consumer is where Beta's service left it, and Acme's own consumer
	// still reads Acme's events.
	p.waitRelayed(t, len(p.storeIDs(t, "acme"))+len(p.storeIDs(t, "beta")))
	info, err := betaC.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 0 || info.NumPending != 0 || info.Config.FilterSubject != "clavis.events.beta.>" {
		t.Errorf("beta-orders after the tricks: %d pending, %d unacknowledged, filter %q", info.NumPending, info.NumAckPending, info.Config.FilterSubject)
	}
	var more int
	poll.UntilNil(t, 20*time.Second, func() error {
		if err := pull(ctx, c, 100, func(e event) error {
			if e.Source != "/t/acme" {
				t.Errorf("acme-orders received %s of %s", e.ID, e.Source)
			}
			if e.Type != "dev.clavis.audit.checkpoint" {
				more++
			}
			return nil
		}); err != nil {
			return err
		}
		if more < 1 {
			return errors.New("acme-orders received no more of Acme's events")
		}
		return nil
	})
	if ci, err := c.Info(ctx); err != nil || ci.Config.FilterSubject != "clavis.events.acme.>" {
		t.Errorf("acme-orders's consumer after the tricks: %v, %v", ci, err)
	}
}
