package oauth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"golang.org/x/sync/singleflight"

	"github.com/clavisiam/clavis/domain/client"
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
	return func(p *Provider) error {
		p.keySets = newKeySets(c)
		return nil
	}
}

// How jwks_uri key sets are fetched and kept.
const (
	keySetTTL        = 10 * time.Minute // a fetched set is used this long
	keySetRefetch    = 30 * time.Second // a kid not in the set refetches it at most this often
	keySetFailureTTL = 30 * time.Second // a failed fetch is answered from memory this long
	keySetTimeout    = 5 * time.Second  // a whole fetch, connection to body
	keySetsKept      = 10_000           // sets kept at most (one per jwks_uri)
)

// keySets fetches clients' jwks_uri key sets for fosite (a
// fosite.JWKSFetcherStrategy) and keeps them: a set is used for
// keySetTTL; a kid the set lacks (the client rotated its keys) fetches
// it again, but not more often than every keySetRefetch, so assertions
// with made-up kids cannot make the node fetch at will; a failure is
// remembered for keySetFailureTTL. Concurrent requests for one URI
// share one fetch. Only HTTPS, no redirects, no proxy, at most
// client.MaxJWKSSize bytes of public keys.
type keySets struct {
	http  *http.Client
	now   func() time.Time
	group singleflight.Group

	mu   sync.Mutex
	sets map[string]*keySet
}

// keySet is one URI's last fetch: its keys or its error.
type keySet struct {
	keys *jose.JSONWebKeySet
	err  error
	at   time.Time
}

func newKeySets(c KeySetFetching) *keySets {
	dialer := &net.Dialer{Timeout: keySetTimeout}
	if !c.AllowPrivateNetworks {
		// Checked on the address actually dialled, after resolution: a
		// name that resolves to a public address when registered and to a
		// private one when fetched gains nothing.
		dialer.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			ip, err := netip.ParseAddr(host)
			if err != nil || !publicAddress(ip) {
				return fmt.Errorf("%s is not a public address", host)
			}
			return nil
		}
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    keySetTimeout,
		ResponseHeaderTimeout:  keySetTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConnsPerHost:    1,
		IdleConnTimeout:        keySetTTL,
		ForceAttemptHTTP2:      true,
	}
	return &keySets{
		http: &http.Client{Transport: transport, Timeout: keySetTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") }},
		now:  time.Now,
		sets: map[string]*keySet{},
	}
}

// nonPublic are the address blocks publicAddress refuses besides those
// netip classifies (loopback, private, link-local, multicast,
// unspecified): shared address space, IETF protocol assignments,
// benchmarking, documentation, reserved, and the IPv6 prefixes that
// embed or translate IPv4 addresses.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// publicAddress reports whether ip is a public unicast address.
func publicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Resolve returns the key set at location; refresh asks for a fetch
// unless the last one is younger than keySetRefetch. Errors are
// invalid_client.
func (k *keySets) Resolve(ctx context.Context, location string, refresh bool) (*jose.JSONWebKeySet, error) {
	now := k.now()
	k.mu.Lock()
	s, ok := k.sets[location]
	k.mu.Unlock()
	if ok {
		age := now.Sub(s.at)
		switch {
		case s.err != nil && age < keySetFailureTTL:
			return nil, s.err
		case s.err == nil && age < keySetTTL && (!refresh || age < keySetRefetch):
			return s.keys, nil
		}
	}
	v, _, _ := k.group.Do(location, func() (any, error) {
		// Not the request's context: other requests may be waiting on
		// this fetch, and it should finish for them.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), keySetTimeout)
		defer cancel()
		keys, err := k.fetch(fctx, location)
		if err != nil {
			err = fosite.ErrInvalidClient.WithHint("The client's JSON Web Key Set could not be fetched from its jwks_uri.").WithDebug(err.Error())
		}
		s := &keySet{keys: keys, err: err, at: k.now()}
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
	s = v.(*keySet)
	return s.keys, s.err
}

// fetch GETs the key set at location and checks it as a registered
// inline set is checked: public keys only, at most client.MaxJWKSKeys.
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
	if len(body) > client.MaxJWKSSize {
		return nil, fmt.Errorf("GET %s: the key set is larger than %d bytes", location, client.MaxJWKSSize)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("GET %s: not a JSON Web Key Set: %w", location, err)
	}
	switch {
	case len(set.Keys) == 0:
		return nil, fmt.Errorf("GET %s: the key set has no keys", location)
	case len(set.Keys) > client.MaxJWKSKeys:
		return nil, fmt.Errorf("GET %s: the key set has more than %d keys", location, client.MaxJWKSKeys)
	}
	for _, key := range set.Keys {
		if !key.IsPublic() {
			return nil, fmt.Errorf("GET %s: the key set holds private or symmetric key material", location)
		}
	}
	return &set, nil
}
