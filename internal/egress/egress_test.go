package egress_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/egress"
)

func TestPublicAddress(t *testing.T) {
	for addr, want := range map[string]bool{
		"93.184.215.14":            true,
		"8.8.8.8":                  true,
		"2606:4700:4700::1111":     true,
		"127.0.0.1":                false,
		"127.8.8.8":                false,
		"10.1.2.3":                 false,
		"172.16.0.1":               false,
		"192.168.1.1":              false,
		"169.254.169.254":          false, // cloud metadata services
		"100.64.0.1":               false,
		"0.0.0.0":                  false,
		"0.1.2.3":                  false,
		"224.0.0.1":                false,
		"255.255.255.255":          false,
		"198.18.0.1":               false,
		"::1":                      false,
		"::":                       false,
		"fe80::1":                  false,
		"fd00::1":                  false,
		"::ffff:127.0.0.1":         false,
		"::ffff:10.0.0.1":          false,
		"64:ff9b::a00:1":           false, // NAT64 of 10.0.0.1
		"2002:a00:1::1":            false, // 6to4 of 10.0.0.1
		"2001:db8::1":              false,
		"ff02::1":                  false,
		"::ffff:93.184.215.14":     true,
		"2a00:1450:4001:80e::200e": true,
	} {
		if got := egress.PublicAddress(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PublicAddress(%s) = %v, want %v", addr, got, want)
		}
	}
}

// TestDialerRefusesWhatIsDialled dials a listener on loopback by name
// and by address: the check is on the address dialled, after resolution.
func TestDialerRefusesWhatIsDialled(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		d := egress.Dialer(&net.Dialer{}, egress.PublicOnly)
		if c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, port)); !errors.Is(err, egress.ErrNotPublic) {
			if c != nil {
				c.Close()
			}
			t.Errorf("dial %s with PublicOnly: err = %v, want ErrNotPublic", host, err)
		}
	}
	d := egress.Dialer(&net.Dialer{}, egress.AllowPrivate)
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		t.Fatalf("dial with AllowPrivate: %v", err)
	}
	c.Close()
}
