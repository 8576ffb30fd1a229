package egress_test

import (
	"net/netip"
	"testing"

	"github.com/clavisiam/clavis/internal/egress"
)

// TestPublicAddressRefusesEmbeddedAndSiteLocal: IPv4-compatible IPv6
// addresses (::/96, deprecated by RFC 4291 but still routed by some
// stacks and tunnels) carry a loopback, private or metadata IPv4
// address; site-local (fec0::/10) and discard-only (100::/64) are not
// public either. Each is accepted today as a public address.
func TestPublicAddressRefusesEmbeddedAndSiteLocal(t *testing.T) {
	for _, addr := range []string{
		"::127.0.0.1",       // ::7f00:1
		"::10.0.0.1",        // ::a00:1
		"::169.254.169.254", // the metadata service
		"fec0::1",
		"100::1",
	} {
		if egress.PublicAddress(netip.MustParseAddr(addr)) {
			t.Errorf("PublicAddress(%s) = true, want false", addr)
		}
	}
}

// TestPublicAddressRefusesSpecialPurposeIPv6: the blocks of the IANA
// IPv6 special-purpose registry that are not globally reachable, and
// all that lies outside 2000::/3, are refused; ordinary global unicast
// addresses still pass.
func TestPublicAddressRefusesSpecialPurposeIPv6(t *testing.T) {
	for _, addr := range []string{
		"::", "::1", "::2", "::ffff:0:a00:1", "100::ffff", "100:0:0:1::1",
		"2001::1", "2001:2::1", "2001:10::1", "2001:20::1", "2001:db8::1", "2002:a00:1::1",
		"3fff::1", "3fff:fff::1", "5f00::1", "fec0::1", "feff::1", "4000::1", "8000::1",
		"192.88.99.1",
	} {
		if egress.PublicAddress(netip.MustParseAddr(addr)) {
			t.Errorf("PublicAddress(%s) = true, want false", addr)
		}
	}
	for _, addr := range []string{"2606:4700::1111", "2a00:1450:4001::1", "3ffe::1", "2001:200::1", "::ffff:1.1.1.1", "1.1.1.1"} {
		if !egress.PublicAddress(netip.MustParseAddr(addr)) {
			t.Errorf("PublicAddress(%s) = false, want true", addr)
		}
	}
}
