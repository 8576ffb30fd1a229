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

// globalUnicast6 is the only IPv6 space IANA has allocated for global
// unicast (2000::/3): outside it every address is reserved, deprecated
// or special (IPv4-compatible ::/96, discard-only 100::/64, SRv6 SIDs
// 5f00::/16, site-local fec0::/10, unique local fc00::/7 ...).
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// nonPublic are the address blocks PublicAddress refuses besides those
// netip classifies (loopback, private, link-local, multicast,
// unspecified) and, for IPv6, besides all that lies outside
// globalUnicast6: the blocks of the IANA special-purpose registries
// that are not globally reachable or that embed or translate IPv4
// addresses. Those outside 2000::/3 are listed too, so that the list
// reads as the registry does.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("192.88.99.0/24"), // 6to4 relay anycast (deprecated)
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated), :: and ::1 included
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated (SIIT)
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),       // discard-only
	netip.MustParsePrefix("100:0:0:1::/64"), // dummy prefix
	// IETF protocol assignments: Teredo 2001::/32, benchmarking
	// 2001:2::/48, ORCHID 2001:10::/28 and ORCHIDv2 2001:20::/28,
	// AMT, AS112 and the rest: none is a webhook receiver.
	netip.MustParsePrefix("2001::/23"),
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("2002::/16"),     // 6to4
	netip.MustParsePrefix("2620:4f:8000::/48"),
	netip.MustParsePrefix("3fff::/20"), // documentation
	netip.MustParsePrefix("5f00::/16"), // SRv6 SIDs
	netip.MustParsePrefix("fec0::/10"), // site-local (deprecated)
}

// PublicAddress reports whether ip is a public unicast address.
func PublicAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	if ip.Is6() && !globalUnicast6.Contains(ip) {
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
