package oauth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// countingGrants counts the key-value operations of a grant store: what
// each step of a flow costs the store, whatever the encoding.
type countingGrants struct {
	oauth.Grants
	create, get, update, del atomic.Int64
	// written is the bytes of the values created and updated.
	written atomic.Int64

	mu    sync.Mutex
	reads map[string]int // since the key's last write
	twice []string       // read twice without a write between, since readTwice
	// expiries are the expiries written, by the kind of record (the
	// key's second part).
	expiries map[string][]time.Time
}

// wroteUntil notes that key was written to be kept until expires.
func (g *countingGrants) wroteUntil(key string, expires time.Time) {
	parts := strings.SplitN(key, ".", 3)
	if len(parts) < 3 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.expiries == nil {
		g.expiries = map[string][]time.Time{}
	}
	g.expiries[parts[1]] = append(g.expiries[parts[1]], expires)
}

// wrote notes that key was written: a read after it is a new one.
func (g *countingGrants) wrote(key string) {
	g.mu.Lock()
	delete(g.reads, key)
	g.mu.Unlock()
}

// readTwice are the keys read again, without a write between, since it
// was last called.
func (g *countingGrants) readTwice() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := g.twice
	g.reads, g.twice = nil, nil
	return keys
}

func (g *countingGrants) Create(ctx context.Context, life oauth.Life, key string, value []byte, expires time.Time) (uint64, error) {
	g.create.Add(1)
	defer g.wrote(key)
	g.wroteUntil(key, expires)
	g.written.Add(int64(len(value)))
	return g.Grants.Create(ctx, life, key, value, expires)
}

func (g *countingGrants) Get(ctx context.Context, life oauth.Life, key string) ([]byte, uint64, error) {
	g.get.Add(1)
	g.mu.Lock()
	if g.reads == nil {
		g.reads = map[string]int{}
	}
	if g.reads[key]++; g.reads[key] == 2 {
		g.twice = append(g.twice, key)
	}
	g.mu.Unlock()
	return g.Grants.Get(ctx, life, key)
}

func (g *countingGrants) Update(ctx context.Context, life oauth.Life, key string, value []byte, rev uint64, expires time.Time) (uint64, error) {
	g.update.Add(1)
	defer g.wrote(key)
	g.wroteUntil(key, expires)
	g.written.Add(int64(len(value)))
	return g.Grants.Update(ctx, life, key, value, rev, expires)
}

func (g *countingGrants) Delete(ctx context.Context, life oauth.Life, key string) error {
	g.del.Add(1)
	defer g.wrote(key)
	return g.Grants.Delete(ctx, life, key)
}

// kvOps are counts of the operations of a [countingGrants], by kind,
// and the bytes written.
type kvOps struct{ create, get, update, del, written int64 }

func (g *countingGrants) count() kvOps {
	return kvOps{g.create.Load(), g.get.Load(), g.update.Load(), g.del.Load(), g.written.Load()}
}

func (o kvOps) minus(p kvOps) kvOps {
	return kvOps{o.create - p.create, o.get - p.get, o.update - p.update, o.del - p.del, o.written - p.written}
}

func (o kvOps) plus(p kvOps) kvOps {
	return kvOps{o.create + p.create, o.get + p.get, o.update + p.update, o.del + p.del, o.written + p.written}
}

// report adds o, over n runs, to b's figures.
func (o kvOps) report(b *testing.B, n int) {
	f := func(v int64) float64 { return float64(v) / float64(n) }
	b.ReportMetric(f(o.create+o.get+o.update+o.del), "kv/op")
	b.ReportMetric(f(o.get), "get/op")
	b.ReportMetric(f(o.create), "create/op")
	b.ReportMetric(f(o.update), "update/op")
	b.ReportMetric(f(o.del), "delete/op")
	b.ReportMetric(f(o.written), "kv-B/op")
}

// flowBench is a provider serving the code flow, with a confidential
// client that requires consent and PKCE, over a counted grant store in an
// in-process NATS server.
type flowBench struct {
	// w is the node whose read model the provider reads.
	w              *testnode.Node
	js             jetstream.JetStream
	p              *oauth.Provider
	grants         *countingGrants
	clientID       string
	secret         string
	codeVerifier   string
	authorizeQuery string
	// node makes another provider (another node) of the same tenant,
	// keys and grant store; nodeWith one with other keys.
	node     func() *oauth.Provider
	nodeWith func(*signing.Keyring) *oauth.Provider
}

// otherNode is fb at another node: a provider of its own over the same
// read model, keys and grant store.
func (fb *flowBench) otherNode() *flowBench {
	other := *fb
	other.p = fb.node()
	return &other
}

func newFlowBench(b testing.TB) *flowBench { return newFlowBenchOf(b, flowVariant{}) }

// flowVariant changes a flowBench's flow: the client's settings, the
// authorization request's query (without PKCE when it has no
// code_challenge), the grant store under the counting one; with
// revocations, a revoked grant's access tokens are refused.
type flowVariant struct {
	settings    func(*client.Settings)
	query       func(url.Values)
	grants      func(oauth.Grants) oauth.Grants
	revocations bool
	// clock, when set, is the provider's (see oauth.WithClock).
	clock func() time.Time
}

func newFlowBenchOf(b testing.TB, v flowVariant) *flowBench {
	w, _, hot := benchTenant(b)
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code = "Web", "urn:acme/web"
	s.RedirectURIs, s.DefaultScopes, s.ConsentRequired = []string{webCallback}, []string{"openid"}, true
	if v.settings != nil {
		v.settings(&s)
	}
	res, err := w.Clients.Register(b.Context(), tenants.Request{Actor: "bench"}, "acme", s)
	if err != nil {
		b.Fatal(err)
	}
	w.CatchUp(b)
	js := inProcessJetStream(b)
	var store oauth.Grants = bucket.NewGrants(js, "BENCH", 1, 0)
	if v.grants != nil {
		store = v.grants(store)
	}
	g := &countingGrants{Grants: store}
	lots := oauth.FlowLimits{PerClient: 1e9, ClientBurst: 1e9, PerAddress: 1e9, AddressBurst: 1e9}
	opts := []oauth.Option{oauth.WithGrants(g), oauth.WithDevLogin(), oauth.WithFlowLimits(lots)}
	if v.clock != nil {
		opts = append(opts, oauth.WithClock(v.clock))
	}
	if v.revocations {
		opts = append(opts, oauth.WithRevocations(bucket.NewRevocations(b.Context(), js, "BENCH_REVOKED", 1, nil)))
	}
	nodeWith := func(keys *signing.Keyring) *oauth.Provider {
		p, err := oauth.New(hot, keys, "http://127.0.0.1", nil, opts...)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	node := func() *oauth.Provider { return nodeWith(w.Keys) }
	p := node()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {res.Client.ClientID}, "redirect_uri": {webCallback},
		"scope": {"openid"}, "state": {"state-0001"}, "nonce": {"nonce-0001"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if v.query != nil {
		v.query(q)
	}
	if q.Get("code_challenge") == "" {
		verifier = ""
	}
	return &flowBench{w: w, js: js, p: p, grants: g, clientID: res.Client.ClientID, secret: res.Secret.Value, codeVerifier: verifier,
		authorizeQuery: q.Encode(), node: node, nodeWith: nodeWith}
}

const webCallback = "https://app.example.com/callback"

// browserFlow is one browser's way through the flow: its cookies, and
// what each step hands the next.
type browserFlow struct {
	cookies   []*http.Cookie
	challenge string // the login or consent challenge
	next      string // where the login application sends the browser
	code      string
}

// get is the browser's request for u at the authorization endpoint; it
// returns where the browser is sent.
func (fb *flowBench) get(b testing.TB, bf *browserFlow, u string) *url.URL {
	r := httptest.NewRequest(http.MethodGet, u, nil)
	for _, c := range bf.cookies {
		r.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	if err := fb.p.ServeAuthorize(rec, r, "acme"); err != nil || rec.Code/100 != 3 {
		b.Fatalf("authorize: %d %v %s", rec.Code, err, rec.Body)
	}
	bf.cookies = append(bf.cookies, rec.Result().Cookies()...)
	loc, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		b.Fatal(err)
	}
	return loc
}

// flowStep is one step of the code flow with consent.
type flowStep struct {
	name string
	run  func(testing.TB, *flowBench, *browserFlow)
}

var flowSteps = []flowStep{
	{"authorize", func(b testing.TB, fb *flowBench, bf *browserFlow) {
		bf.challenge = fb.get(b, bf, "/t/acme/oauth2/auth?"+fb.authorizeQuery).Query().Get("login_challenge")
	}},
	{"login-accept", func(b testing.TB, fb *flowBench, bf *browserFlow) {
		r, err := fb.p.AcceptLogin(b.Context(), "acme", bf.challenge, oauth.LoginAcceptance{Subject: "alice"})
		if err != nil {
			b.Fatal(err)
		}
		bf.next = r.RedirectTo
	}},
	{"authorize-login-verifier", func(b testing.TB, fb *flowBench, bf *browserFlow) {
		bf.challenge = fb.get(b, bf, bf.next).Query().Get("consent_challenge")
	}},
	{"consent-accept", func(b testing.TB, fb *flowBench, bf *browserFlow) {
		r, err := fb.p.AcceptConsent(b.Context(), "acme", bf.challenge, oauth.ConsentAcceptance{})
		if err != nil {
			b.Fatal(err)
		}
		bf.next = r.RedirectTo
	}},
	{"authorize-consent-verifier", func(b testing.TB, fb *flowBench, bf *browserFlow) {
		bf.code = fb.get(b, bf, bf.next).Query().Get("code")
	}},
	{"token", func(b testing.TB, fb *flowBench, bf *browserFlow) {
		if rec := fb.exchange(b, bf.code, fb.codeVerifier); rec.Code != http.StatusOK {
			b.Fatalf("token: %d %s", rec.Code, rec.Body)
		}
	}},
}

// exchange is the client's exchange of code, with verifier as its
// code_verifier unless it is "", at the token endpoint.
func (fb *flowBench) exchange(b testing.TB, code, verifier string) *httptest.ResponseRecorder {
	return fb.exchangeAt(b, "acme", fb.clientID, fb.secret, code, verifier)
}

// exchangeAt is exchange at tenant slug, by client clientID.
func (fb *flowBench) exchangeAt(b testing.TB, slug, clientID, secret, code, verifier string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webCallback}}
	if verifier != "" {
		form.Set("code_verifier", verifier)
	}
	r := httptest.NewRequest(http.MethodPost, "/t/"+slug+"/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth(clientID, secret)
	rec := httptest.NewRecorder()
	if err := fb.p.ServeToken(rec, r, slug); err != nil {
		b.Fatalf("token: %v", err)
	}
	return rec
}

// BenchmarkFlow runs the authorization-code flow with PKCE and consent
// on the provider directly, without HTTP: each step on its own (the
// steps before it run untimed) and the whole flow, serially, with the
// key-value operations each costs the grant store (kv/op, and by kind;
// kv-B/op is the bytes of the values it writes).
// A step's ns/op includes the wait for the in-process NATS server's
// answers; cpu-ns/op is the CPU the process spent meanwhile, on every
// thread (the NATS server's and the garbage collector's included).
//
//	go test -run '^$' -bench BenchmarkFlow -benchtime 2000x ./http/oauth/
func BenchmarkFlow(b *testing.B) {
	fb := newFlowBench(b)
	for i, step := range flowSteps {
		b.Run(step.name, func(b *testing.B) {
			b.ReportAllocs()
			var ops kvOps
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				bf := &browserFlow{}
				for _, before := range flowSteps[:i] {
					before.run(b, fb, bf)
				}
				start := fb.grants.count()
				b.StartTimer()
				startCPU := cpuTime()
				step.run(b, fb, bf)
				cpu += cpuTime() - startCPU
				ops = ops.plus(fb.grants.count().minus(start))
			}
			ops.report(b, b.N)
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		start, startCPU := fb.grants.count(), cpuTime()
		for range b.N {
			bf := &browserFlow{}
			for _, step := range flowSteps {
				step.run(b, fb, bf)
			}
		}
		fb.grants.count().minus(start).report(b, b.N)
		b.ReportMetric(float64(cpuTime()-startCPU)/float64(b.N), "cpu-ns/op")
	})
}

// BenchmarkGrantOps is what one key-value operation of the grant store
// costs, with a value of a flow's size (600 bytes), in the in-process
// NATS server BenchmarkFlow uses: the unit its kv/op figures are in.
// Values are written with a flow's expiry (30 minutes), as flows are.
//
//	go test -run '^$' -bench BenchmarkGrantOps -benchtime 5000x ./http/oauth/
func BenchmarkGrantOps(b *testing.B) {
	g := bucket.NewGrants(inProcessJetStream(b), "BENCH", 1, 0)
	value := bytes.Repeat([]byte("v"), 600)
	expires := func() time.Time { return time.Now().Add(30 * time.Minute) }
	n := 0
	created := func(b *testing.B) (string, uint64) {
		n++
		key := "acme.flow.k" + strconv.Itoa(n)
		rev, err := g.Create(b.Context(), oauth.LifeRequest, key, value, expires())
		if err != nil {
			b.Fatal(err)
		}
		return key, rev
	}
	for _, op := range []struct {
		name  string
		setup func(*testing.B) (string, uint64)
		run   func(b *testing.B, key string, rev uint64) error
	}{
		{"create", func(*testing.B) (string, uint64) { n++; return "acme.flow.k" + strconv.Itoa(n), 0 },
			func(b *testing.B, key string, _ uint64) error {
				_, err := g.Create(b.Context(), oauth.LifeRequest, key, value, expires())
				return err
			}},
		{"get", created, func(b *testing.B, key string, _ uint64) error {
			_, _, err := g.Get(b.Context(), oauth.LifeRequest, key)
			return err
		}},
		{"update", created, func(b *testing.B, key string, rev uint64) error {
			_, err := g.Update(b.Context(), oauth.LifeRequest, key, value, rev, expires())
			return err
		}},
		{"delete", created, func(b *testing.B, key string, _ uint64) error { return g.Delete(b.Context(), oauth.LifeRequest, key) }},
	} {
		b.Run(op.name, func(b *testing.B) {
			b.ReportAllocs()
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				key, rev := op.setup(b)
				b.StartTimer()
				start := cpuTime()
				err := op.run(b, key, rev)
				cpu += cpuTime() - start
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
