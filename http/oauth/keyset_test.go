package oauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
)

// keySetServer serves a key set over TLS on loopback, counting requests;
// serve answers each (by default the current set).
type keySetServer struct {
	*httptest.Server
	hits  atomic.Int64
	mu    sync.Mutex
	set   jose.JSONWebKeySet
	serve func(w http.ResponseWriter, r *http.Request)
}

func newKeySetServer(t *testing.T) *keySetServer {
	t.Helper()
	s := &keySetServer{}
	s.rotate(t, "k1")
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		serve, set := s.serve, s.set
		s.mu.Unlock()
		if serve != nil {
			serve(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

// rotate publishes a new public key named kid in place of the old.
func (s *keySetServer) rotate(t *testing.T, kid string) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.set = jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}}
	s.mu.Unlock()
}

func (s *keySetServer) answer(f func(w http.ResponseWriter, r *http.Request)) {
	s.mu.Lock()
	s.serve = f
	s.mu.Unlock()
}

// fetcher is a keySets that trusts srv's certificate, on a clock the test
// moves.
func fetcher(srv *keySetServer, allowPrivate bool) (*keySets, *time.Time) {
	k := newKeySets(KeySetFetching{AllowPrivateNetworks: allowPrivate, RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	now := time.Now()
	k.now = func() time.Time { return now }
	return k, &now
}

func kids(set *jose.JSONWebKeySet) string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return strings.Join(out, ",")
}

func wantInvalidClient(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, fosite.ErrInvalidClient) {
		t.Fatalf("%s: error %v, want invalid_client", what, err)
	}
}

// A jwks_uri on a loopback address (as any non-public one) is refused
// before a connection is made, unless private networks are allowed.
func TestKeySetsRefuseNonPublicAddresses(t *testing.T) {
	srv := newKeySetServer(t)
	k, _ := fetcher(srv, false)
	_, err := k.Resolve(t.Context(), srv.URL+"/jwks", false)
	wantInvalidClient(t, "loopback", err)
	if !strings.Contains(fosite.ErrorToRFC6749Error(err).GetDescription()+fosite.ErrorToRFC6749Error(err).Debug(), "not a public address") {
		t.Errorf("error does not say why: %v", fosite.ErrorToRFC6749Error(err).Debug())
	}
	// A name that resolves to loopback is refused alike.
	_, err = k.Resolve(t.Context(), strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/jwks", false)
	wantInvalidClient(t, "localhost", err)
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the server was called %d times", n)
	}

	allowed, _ := fetcher(srv, true)
	if set, err := allowed.Resolve(t.Context(), srv.URL+"/jwks", false); err != nil || kids(set) != "k1" {
		t.Fatalf("with private networks allowed: %v %v", set, err)
	}
}

// A set is fetched once and kept; a kid it lacks refetches it, but not
// more often than keySetRetry; it expires after keySetTTL.
func TestKeySetsKeepAndRefetch(t *testing.T) {
	srv := newKeySetServer(t)
	k, now := fetcher(srv, true)
	uri := srv.URL + "/jwks"
	resolve := func(refresh bool, wantKid string, wantHits int64) {
		t.Helper()
		set, err := k.Resolve(t.Context(), uri, refresh)
		if err != nil {
			t.Fatal(err)
		}
		if kids(set) != wantKid || srv.hits.Load() != wantHits {
			t.Fatalf("got %s after %d fetches, want %s after %d", kids(set), srv.hits.Load(), wantKid, wantHits)
		}
	}
	resolve(false, "k1", 1)
	resolve(false, "k1", 1)
	srv.rotate(t, "k2")
	resolve(true, "k1", 1) // a refresh right after a fetch: not yet
	*now = now.Add(keySetRetry)
	resolve(true, "k2", 2) // the client rotated its keys
	resolve(true, "k2", 2)
	*now = now.Add(keySetTTL - time.Second)
	resolve(false, "k2", 2)
	srv.rotate(t, "k3")
	*now = now.Add(time.Second)
	resolve(false, "k3", 3) // expired
}

// A refresh that fails keeps the set it would have replaced, until that
// set expires; it is not tried again within keySetRetry.
func TestKeySetsKeepTheSetWhenARefreshFails(t *testing.T) {
	srv := newKeySetServer(t)
	k, now := fetcher(srv, true)
	uri := srv.URL + "/jwks"
	if set, err := k.Resolve(t.Context(), uri, false); err != nil || kids(set) != "k1" {
		t.Fatalf("first fetch: %v %v", set, err)
	}
	srv.answer(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	*now = now.Add(keySetRetry)
	for range 2 {
		if set, err := k.Resolve(t.Context(), uri, true); err != nil || kids(set) != "k1" {
			t.Fatalf("refresh during an outage: %v %v", set, err)
		}
	}
	if n := srv.hits.Load(); n != 2 {
		t.Errorf("%d fetches; want the first and one refresh", n)
	}
	*now = now.Add(keySetTTL)
	_, err := k.Resolve(t.Context(), uri, false)
	wantInvalidClient(t, "once the kept set expired", err)
}

// Concurrent requests for one set share one fetch.
func TestKeySetsShareAFetch(t *testing.T) {
	srv := newKeySetServer(t)
	k, _ := fetcher(srv, true)
	release := make(chan struct{})
	srv.answer(func(w http.ResponseWriter, r *http.Request) {
		<-release
		srv.mu.Lock()
		set := srv.set
		srv.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := k.Resolve(t.Context(), srv.URL+"/jwks", false)
			errs <- err
		})
	}
	time.Sleep(100 * time.Millisecond) // let them all wait on the first
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Errorf("%d fetches for 8 concurrent requests", n)
	}
}

// Every unusable answer is invalid_client, remembered for
// keySetRetry, after which the set is fetched again.
func TestKeySetsRefuseBadAnswers(t *testing.T) {
	private, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privateSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: private, KeyID: "p", Algorithm: "ES256"}}})
	body := func(status int, b string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(b))
		}
	}
	for name, answer := range map[string]func(http.ResponseWriter, *http.Request){
		"not found":     body(404, `{"keys":[]}`),
		"server error":  body(500, ""),
		"not JSON":      body(200, "<html>"),
		"no keys":       body(200, `{"keys":[]}`),
		"private key":   body(200, string(privateSet)),
		"symmetric key": body(200, `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0","kid":"s"}]}`),
		"too large":     body(200, `{"keys":[],"pad":"`+strings.Repeat("x", 70<<10)+`"}`),
		"redirect":      func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) },
		"too many keys": body(200, `{"keys":[`+strings.Repeat(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},`, 100)+`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`),
	} {
		t.Run(name, func(t *testing.T) {
			srv := newKeySetServer(t)
			srv.answer(answer)
			k, now := fetcher(srv, true)
			_, err := k.Resolve(t.Context(), srv.URL+"/jwks", false)
			wantInvalidClient(t, name, err)
			hits := srv.hits.Load()
			srv.answer(nil) // fixed
			_, err = k.Resolve(t.Context(), srv.URL+"/jwks", true)
			wantInvalidClient(t, name+", remembered", err)
			if srv.hits.Load() != hits {
				t.Errorf("a failure was fetched again at once")
			}
			*now = now.Add(keySetRetry)
			if _, err := k.Resolve(t.Context(), srv.URL+"/jwks", false); err != nil {
				t.Errorf("after the failure expired: %v", err)
			}
		})
	}
	// Plain HTTP is never fetched.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	k := newKeySets(KeySetFetching{AllowPrivateNetworks: true})
	_, err := k.Resolve(t.Context(), plain.URL+"/jwks", false)
	wantInvalidClient(t, "http", err)
}
