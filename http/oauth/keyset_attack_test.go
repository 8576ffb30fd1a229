package oauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/client"
)

// serveJSON makes srv answer every fetch with body.
func serveJSON(srv *keySetServer, body []byte) {
	srv.answer(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	})
}

// A published RSA key with its prime factors (p, q, dp, dq, qi) but no
// "d" is the private key in all but name (d follows from p, q and e), yet
// go-jose reads it as a public key, so the IsPublic check passes it. A
// registered inline set with any of those members is refused
// (client.privateJWKMembers); a fetched one must be too: accepting it
// lets anyone who reads the jwks_uri sign the client's assertions.
func TestKeySetAttackRSAPrivateFactorsRefused(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := json.Marshal(jose.JSONWebKey{Key: &priv.PublicKey, KeyID: "leaky", Algorithm: "RS256", Use: "sig"})
	if err != nil {
		t.Fatal(err)
	}
	var key map[string]any
	if err := json.Unmarshal(pub, &key); err != nil {
		t.Fatal(err)
	}
	priv.Precompute()
	b64 := func(i *big.Int) string { return base64.RawURLEncoding.EncodeToString(i.Bytes()) }
	key["p"], key["q"] = b64(priv.Primes[0]), b64(priv.Primes[1])
	key["dp"], key["dq"], key["qi"] = b64(priv.Precomputed.Dp), b64(priv.Precomputed.Dq), b64(priv.Precomputed.Qinv)
	body, err := json.Marshal(map[string]any{"keys": []any{key}})
	if err != nil {
		t.Fatal(err)
	}

	srv := newKeySetServer(t)
	serveJSON(srv, body)
	k, _ := fetcher(srv, true)
	set, err := k.Resolve(t.Context(), srv.URL+"/jwks", false)
	if err == nil {
		t.Fatalf("a key set publishing an RSA key's prime factors was accepted (kids %s)", kids(set))
	}
	wantInvalidClient(t, "private factors", err)
}

// The 64 KiB body bound still admits one RSA key with a ~376,000-bit
// modulus. Verifying a client assertion against it (fosite does so for
// any assertion naming its kid, signature of the right length, no
// knowledge of a private key needed) costs seconds of CPU per request
// (measured: ~4 s for a 380,000-bit modulus with e = 2^31-1, 118 ms at
// 65,536 bits, 0.7 ms at 4,096): whoever controls a client's jwks_uri
// holds a CPU denial of service against the node and every tenant on it.
// Keys of sizes no one signs with (crypto/tls stops at 8,192 bits) must
// be refused.
func TestKeySetAttackHugeRSAKeyRefused(t *testing.T) {
	const bits = 376_000
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), bits))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
		Key: &rsa.PublicKey{N: n, E: 1<<31 - 1}, KeyID: "huge", Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > client.MaxJWKSSize {
		t.Fatalf("test set is %d bytes, over the limit", len(body))
	}

	srv := newKeySetServer(t)
	serveJSON(srv, body)
	k, _ := fetcher(srv, true)
	set, err := k.Resolve(t.Context(), srv.URL+"/jwks", false)
	if err == nil {
		t.Fatalf("a key set with a %d-bit RSA key was accepted (kids %s)", set.Keys[0].Key.(*rsa.PublicKey).N.BitLen(), kids(set))
	}
	wantInvalidClient(t, "huge RSA key", err)
}

// Every key set server is left an idle connection, kept keySetTTL (10
// min), with no bound on how many (the transport has no MaxIdleConns,
// and forgetting a set does not close its connection): whoever may
// register clients (dynamic registration takes jwks_uri) with jwks_uris
// on many origins (wildcard DNS, or many ports) holds that many of the
// node's sockets, and two goroutines and buffers each, although a set is
// refetched at most every keySetRefetch.
func TestKeySetAttackIdleConnectionsBounded(t *testing.T) {
	const origins = 64
	var open atomic.Int64
	srvs := make([]*httptest.Server, origins)
	for i := range srvs {
		s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`))
		}))
		s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				open.Add(1)
			case http.StateClosed, http.StateHijacked:
				open.Add(-1)
			}
		}
		s.StartTLS()
		t.Cleanup(s.Close)
		srvs[i] = s
	}
	k := newKeySets(KeySetFetching{AllowPrivateNetworks: true, RootCAs: srvs[0].Client().Transport.(*http.Transport).TLSClientConfig.RootCAs})
	for _, s := range srvs {
		if _, err := k.Resolve(t.Context(), s.URL+"/jwks", false); err != nil {
			t.Fatal(err)
		}
	}
	// Closes reach the servers asynchronously: give them a moment.
	for deadline := time.Now().Add(time.Second); open.Load() > origins/4 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := open.Load(); n > origins/4 {
		t.Errorf("%d connections to %d key set servers still open after their fetches", n, origins)
	}
}
