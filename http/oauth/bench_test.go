package oauth_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/valyala/fasthttp"

	"github.com/clavisiam/clavis/eventstore/natsserver"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/http/oauth/bucket"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/cache"
	"github.com/clavisiam/clavis/tenants"
	"github.com/clavisiam/clavis/tenants/signing"
)

// benchTenant is a test node with tenant acme, caught up, and the cache the
// token endpoint reads it through.
func benchTenant(b testing.TB) (*testnode.Node, tenants.CreatedTenant, *cache.Cache) {
	w := testnode.New(b)
	created, err := w.Tenants.Create(b.Context(), tenants.Request{Actor: "bench"}, "acme", "Acme")
	if err != nil {
		b.Fatal(err)
	}
	w.CatchUp(b)
	hot, err := cache.New(w.ReadModel, time.Minute, 1000)
	if err != nil {
		b.Fatal(err)
	}
	return w, created, hot
}

// inProcessJetStream is JetStream on a NATS server of the test's own, in
// process, stopped when the test ends.
func inProcessJetStream(tb testing.TB) jetstream.JetStream {
	tb.Helper()
	ns, err := natsserver.Start(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(ns.Shutdown)
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	return js
}

// BenchmarkServeToken issues client_credentials tokens (JWT, ES256) from
// the provider directly, without HTTP: fosite, client authentication,
// the read model (SQLite) or the cache serve puts in front of it, and
// signing. The provider has every grant serve has (the grant store in
// an in-process NATS server), so fosite's other handlers are there too.
func BenchmarkServeToken(b *testing.B) {
	w, created, hot := benchTenant(b)
	rm, keys := w.ReadModel, w.Keys
	js := inProcessJetStream(b)
	grants := oauth.WithGrants(bucket.NewGrants(js, "BENCH", 1, 0))
	for _, dir := range []struct {
		name string
		dir  oauth.Directory
	}{{"read-model", rm}, {"cached", hot}} {
		b.Run(dir.name, func(b *testing.B) { benchToken(b, dir.dir, keys, created, grants) })
	}
}

// quickProvider is a provider over benchTenant's cache, and the
// client_credentials request of acme's admin client as
// QuickClientCredentials takes it: its Authorization header and form.
func quickProvider(tb testing.TB) (*oauth.Provider, string, *fasthttp.Args) {
	w, created, hot := benchTenant(tb)
	p, err := oauth.New(hot, w.Keys, "http://127.0.0.1", nil)
	if err != nil {
		tb.Fatal(err)
	}
	form := &fasthttp.Args{}
	form.Set("grant_type", "client_credentials")
	authorization := "Basic " + base64.StdEncoding.EncodeToString(
		[]byte(created.AdminClient.ClientID+":"+created.AdminSecret.Value))
	return p, authorization, form
}

// BenchmarkQuickClientCredentials is BenchmarkServeToken's request on
// the path the token endpoint serves it by (QuickClientCredentials),
// from the cache: what a token costs the node besides HTTP.
func BenchmarkQuickClientCredentials(b *testing.B) {
	p, authorization, form := quickProvider(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := p.QuickClientCredentials(b.Context(), "acme", "192.0.2.1:1234", authorization, form); !ok {
				b.Fatal("the quick path declined the request")
			}
		}
	})
}

func benchToken(b *testing.B, dir oauth.Directory, keys *signing.Keyring, created tenants.CreatedTenant, opts ...oauth.Option) {
	p, err := oauth.New(dir, keys, "http://127.0.0.1", nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	id, secret := created.AdminClient.ClientID, created.AdminSecret.Value
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, "/t/acme/oauth2/token", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(id, secret)
			w := httptest.NewRecorder()
			if err := p.ServeToken(w, r, "acme"); err != nil || w.Code != http.StatusOK {
				b.Fatalf("token: %d %v %s", w.Code, err, w.Body)
			}
		}
	})
}
