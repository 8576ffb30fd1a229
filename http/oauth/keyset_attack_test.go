package oauth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/projections"
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
// Keys of sizes no one signs with must be refused (client.MaxRSAKeyBits).
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

// hugeRSAKeyJSON is a public RSA JWK of a bits-bit modulus, its members
// as go-jose writes them, with change applied to its n.
func hugeRSAKeyJSON(t *testing.T, bits int, change func(n string) string) map[string]any {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(bits)))
	if err != nil {
		t.Fatal(err)
	}
	n.SetBit(n, bits-1, 1)
	n.SetBit(n, 0, 1)
	return map[string]any{"kty": "RSA", "kid": "huge", "alg": "RS256", "use": "sig", "e": "AQAB",
		"n": change(base64.RawURLEncoding.EncodeToString(n.Bytes()))}
}

// The same key with its modulus dressed so that a strict unpadded
// decoder reads nothing and go-jose reads it whole: "=" appended, or a
// line break; and a set whose keys hide behind a member "KEYS", which
// encoding/json reads as the set's keys.
func TestKeySetAttackDisguisedHugeRSAKeyRefused(t *testing.T) {
	for name, body := range map[string]any{
		"padded":     map[string]any{"keys": []any{hugeRSAKeyJSON(t, 300_000, func(n string) string { return n + "=" })}},
		"line break": map[string]any{"keys": []any{hugeRSAKeyJSON(t, 300_000, func(n string) string { return n[:10] + "\n" + n[10:] })}},
		"KEYS": map[string]any{"keys": []any{hugeRSAKeyJSON(t, 2048, func(n string) string { return n })},
			"KEYS": []any{hugeRSAKeyJSON(t, 300_000, func(n string) string { return n })}},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) > client.MaxJWKSSize {
				t.Fatalf("test set is %d bytes, over the limit", len(raw))
			}
			srv := newKeySetServer(t)
			serveJSON(srv, raw)
			k, _ := fetcher(srv, true)
			set, err := k.Resolve(t.Context(), srv.URL+"/jwks", false)
			if err == nil {
				t.Fatalf("a key set with a %d-bit RSA key was accepted", set.Keys[0].Key.(*rsa.PublicKey).N.BitLen())
			}
			wantInvalidClient(t, name, err)
		})
	}
}

// A set that reached the read model before a rule held (registered
// before the bound on RSA keys was checked as go-jose reads keys) is
// checked again where it is used: what go-jose made of it, not its
// JSON. Such a set verifies nothing.
func TestStoredInlineKeySetCheckedWhenUsed(t *testing.T) {
	for name, key := range map[string]map[string]any{
		"huge padded RSA key": hugeRSAKeyJSON(t, 20_000, func(n string) string { return n + "=" }),
		"even RSA exponent": func() map[string]any {
			k := hugeRSAKeyJSON(t, 2048, func(n string) string { return n })
			k["e"] = "AQAA"
			return k
		}(),
		"RSA exponent 2^31-1": func() map[string]any {
			k := hugeRSAKeyJSON(t, 4096, func(n string) string { return n })
			k["e"] = "f____w"
			return k
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := json.Marshal(map[string]any{"keys": []any{key}})
			if err != nil {
				t.Fatal(err)
			}
			v := projections.ClientView{Tenant: "acme", ClientID: "c1", Version: 1}
			v.Settings.JWKS = raw
			for _, c := range []*fositeClient{{view: v}, {view: v, inline: &inlineKeySets{}}} {
				if set := c.GetJSONWebKeys(); set != nil {
					t.Errorf("the stored set was used: %d keys", len(set.Keys))
				}
			}
		})
	}
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
	// Closes reach the servers asynchronously.
	poll.UntilNil(t, time.Second, func() error {
		if n := open.Load(); n > origins/4 {
			return fmt.Errorf("%d connections to %d key set servers still open after their fetches", n, origins)
		}
		return nil
	})
}
