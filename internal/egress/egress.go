// Package egress guards the calls a node makes to addresses that its
// users choose (a client's jwks_uri, a webhook endpoint's URL): off the
// public internet, a user could otherwise make the node call its own
// network (a cloud's metadata service, an admin port). The check is made
// on the address actually dialled, after name resolution, so that a name
// that resolves to a public address when registered and to a private one
// when called gains nothing.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// ErrNotPublic matches the error of a dial refused by [Control].
var ErrNotPublic = errors.New("not a public address")

// nonPublic are the address blocks PublicAddress refuses besides those
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

// PublicAddress reports whether ip is a public unicast address.
func PublicAddress(ip netip.Addr) bool {
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

// Control is a [net.Dialer] Control function that refuses, with an
// error matching [ErrNotPublic], to connect to an address that is not
// public. It runs after resolution, before the connection is made.
func Control(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !PublicAddress(ip) {
		return fmt.Errorf("%s is %w", host, ErrNotPublic)
	}
	return nil
}

// Policy says which addresses a dialer may connect to.
type Policy int

// The policies.
const (
	// PublicOnly refuses loopback, private, link-local and every other
	// non-public address.
	PublicOnly Policy = iota
	// AllowPrivate allows every address: for development and for
	// deployments whose targets live on the operator's own network.
	AllowPrivate
)

// Dialer returns d set up to follow p: with PublicOnly, its Control
// refuses non-public addresses (see [Control]).
func Dialer(d *net.Dialer, p Policy) *net.Dialer {
	if p == PublicOnly {
		d.Control = Control
	}
	return d
}
