package oauth

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"golang.org/x/sync/singleflight"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/internal/egress"
)

// KeySetFetching configures how the public keys a client publishes at
// its jwks_uri are fetched (for private_key_jwt).
type KeySetFetching struct {
	// AllowPrivateNetworks lets the node fetch from loopback, private,
	// link-local and other non-public addresses. Off, a jwks_uri that
	// resolves to one is refused: whoever registers a client could
	// otherwise make the node call its own network (a cloud's metadata
	// service, an admin port).
	AllowPrivateNetworks bool
	// RootCAs verifies the key sets' servers; nil: the system's roots.
	RootCAs *x509.CertPool
}

// WithKeySetFetching sets how jwks_uri key sets are fetched; without
// it, they are fetched from public addresses only, over HTTPS verified
// with the system's roots.
func WithKeySetFetching(c KeySetFetching) Option {
	return func(o *options) error {
		o.keySets = c
		return nil
	}
}

// How jwks_uri key sets are fetched and kept.
const (
	keySetTTL     = 10 * time.Minute // a fetched set is used this long
	keySetRetry   = 30 * time.Second // between two fetches of one set, at least: a kid it lacks, a failure
	keySetTimeout = 5 * time.Second  // a whole fetch, connection to body
	keySetsKept   = 4096             // sets kept at most (one per jwks_uri; each at most client.MaxJWKSSize)
)

// keySets fetches clients' jwks_uri key sets for fosite (a
// fosite.JWKSFetcherStrategy) and keeps them. A set is used for
// keySetTTL. A kid the set lacks (the client rotated its keys) fetches
// it again, but not within keySetRetry of the last attempt, so
// assertions with made-up kids cannot make the node fetch at will; nor
// is a failed fetch tried again sooner. A failed refresh keeps the set
// it would have replaced. Concurrent requests for one URI share one
// fetch. Only HTTPS, no redirects, no proxy, no connection kept (a set
// is fetched every few minutes at most), and the set must pass the rules
// of a registered inline jwks (client.CheckJWKS).
type keySets struct {
	http  *http.Client
	now   func() time.Time
	group singleflight.Group

	mu   sync.Mutex
	sets map[string]*keySet
}

// keySet is what is known of one URI: the last set fetched (nil if
// none was) and the last attempt, with its error if it failed.
type keySet struct {
	keys    *jose.JSONWebKeySet
	fetched time.Time
	tried   time.Time
	err     error
}

// usable reports whether s's set may still be used at now.
func (s *keySet) usable(now time.Time) bool {
	return s.keys != nil && now.Sub(s.fetched) < keySetTTL
}

func newKeySets(c KeySetFetching) *keySets {
	// Checked on the address actually dialled, after resolution: a name
	// that resolves to a public address when registered and to a private
	// one when fetched gains nothing.
	policy := egress.PublicOnly
	if c.AllowPrivateNetworks {
		policy = egress.AllowPrivate
	}
	dialer := egress.Dialer(&net.Dialer{Timeout: keySetTimeout}, policy)
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    keySetTimeout,
		ResponseHeaderTimeout:  keySetTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		DisableKeepAlives:      true,
	}
	return &keySets{
		http: &http.Client{Transport: transport, Timeout: keySetTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") }},
		now:  time.Now,
		sets: map[string]*keySet{},
	}
}

// Resolve returns the key set at location; refresh asks for a fresh
// one (fosite's, when the set lacks the assertion's kid), which is
// fetched unless the last attempt was within keySetRetry. Errors are
// invalid_client.
func (k *keySets) Resolve(ctx context.Context, location string, refresh bool) (*jose.JSONWebKeySet, error) {
	asked := k.now()
	if s, ok := k.known(location); ok {
		usable, recent := s.usable(asked), asked.Sub(s.tried) < keySetRetry
		switch {
		case usable && (!refresh || recent):
			return s.keys, nil
		case !usable && s.err != nil && recent:
			return nil, s.err
		}
	}
	v, _, _ := k.group.Do(location, func() (any, error) {
		// A fetch that ended after this request looked is as good as one
		// of its own.
		prev, ok := k.known(location)
		if ok && !prev.tried.Before(asked) {
			return prev, nil
		}
		// Not the request's context: other requests may be waiting on
		// this fetch, and it should finish for them.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keySetTimeout)
		defer cancel()
		keys, err := k.fetch(fctx, location)
		now := k.now()
		s := &keySet{keys: keys, fetched: now, tried: now}
		if err != nil {
			s = &keySet{tried: now,
				err: fosite.ErrInvalidClient.WithHint("The client's JSON Web Key Set could not be fetched from its jwks_uri.").WithDebug(err.Error())}
			if ok && prev.usable(now) {
				s.keys, s.fetched = prev.keys, prev.fetched
			}
		}
		k.mu.Lock()
		if _, ok := k.sets[location]; !ok && len(k.sets) >= keySetsKept {
			for uri := range k.sets { // forget one, any
				delete(k.sets, uri)
				break
			}
		}
		k.sets[location] = s
		k.mu.Unlock()
		return s, nil
	})
	s := v.(*keySet)
	if s.usable(k.now()) {
		return s.keys, nil
	}
	return nil, s.err
}

// known is what is known of location.
func (k *keySets) known(location string) (*keySet, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.sets[location]
	return s, ok
}

// fetch GETs the key set at location and checks it as a registered
// inline set is checked (client.CheckJWKS): at most client.MaxJWKSSize
// bytes and client.MaxJWKSKeys keys, no private or symmetric key
// material, no oversized RSA key.
func (k *keySets) fetch(ctx context.Context, location string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, location, nil)
	if err != nil {
		return nil, err
	}
	if req.URL.Scheme != "https" {
		return nil, errors.New("jwks_uri is not https")
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	res, err := k.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", location, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, client.MaxJWKSSize+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", location, err)
	}
	if err := client.CheckJWKS(body); err != nil {
		return nil, fmt.Errorf("GET %s: %w", location, err)
	}
	set, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", location, err)
	}
	return set, nil
}

// parseKeySet reads a client's key set, inline or fetched, as fosite
// will use it, and checks the keys go-jose made of it, whatever the
// JSON said: public keys only; RSA keys with a modulus of at most
// client.MaxRSAKeyBits and an exponent client.RSAExponentValid accepts.
// client.CheckJWKS has checked the JSON already (for a fetched set) or
// at registration (for an inline one); this holds when the two readings
// differ, or for a set registered before a rule was.
//
// A key without "use" is a signing key: RFC 7517 §4.2 makes the member
// optional, and fosite verifies assertions only with keys whose use is
// "sig". A key for another use ("enc") stays unusable for signatures.
func parseKeySet(raw []byte) (*jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	for i := range set.Keys {
		key := &set.Keys[i]
		if key.Use == "" {
			key.Use = "sig"
		}
		if !key.IsPublic() {
			return nil, errors.New("the key set holds private or symmetric key material")
		}
		if k, ok := key.Key.(*rsa.PublicKey); ok {
			if bits := k.N.BitLen(); bits > client.MaxRSAKeyBits {
				return nil, fmt.Errorf("key %d is an RSA key of %d bits; at most %d are accepted", i, bits, client.MaxRSAKeyBits)
			}
			if !client.RSAExponentValid(big.NewInt(int64(k.E))) {
				return nil, fmt.Errorf("key %d is an RSA key with exponent %d", i, k.E)
			}
		}
	}
	return &set, nil
}
