package eventtype_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/eventtype"
)

func TestFilterMatches(t *testing.T) {
	cases := []struct {
		patterns []string
		match    []string
		miss     []string
		canon    []string
	}{
		{nil, []string{"client.registered", "tenant.created"}, nil, []string{"*"}},
		{[]string{"*"}, []string{"webhook.created"}, nil, []string{"*"}},
		{[]string{"client.*"}, []string{"client.registered", "client.deleted"}, []string{"tenant.created", "clientx.registered"}, []string{"client.*"}},
		{[]string{"dev.clavis.client.registered", "tenant.*"}, []string{"client.registered", "tenant.renamed"}, []string{"client.updated"}, []string{"client.registered", "tenant.*"}},
		{[]string{"client.registered", "client.*", "client.registered"}, []string{"client.updated"}, []string{"tenant.created"}, []string{"client.*"}},
	}
	for _, c := range cases {
		f, err := eventtype.Parse(c.patterns)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.patterns, err)
		}
		for _, m := range c.match {
			if !f.Match(m) {
				t.Errorf("%q does not match %s", c.patterns, m)
			}
		}
		for _, m := range c.miss {
			if f.Match(m) {
				t.Errorf("%q matches %s", c.patterns, m)
			}
		}
		if got := f.Patterns(); !slices.Equal(got, c.canon) {
			t.Errorf("Patterns(%q) = %q, want %q", c.patterns, got, c.canon)
		}
	}
}

func TestParseRefusesMalformedPatterns(t *testing.T) {
	bad := [][]string{
		{""}, {"client"}, {"client."}, {".registered"}, {"Client.registered"}, {"client.*.x"},
		{"client.reg istered"}, {"*.registered"}, {"client.>"}, {"dev.clavis."}, {"client.registered\x00"},
		{strings.Repeat("a", 101) + ".x"}, slices.Repeat([]string{"client.*"}, 51),
	}
	for _, b := range bad {
		if _, err := eventtype.Parse(b); !errors.Is(err, eventtype.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", b, err)
		}
	}
}
