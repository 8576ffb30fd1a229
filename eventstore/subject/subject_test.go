package subject_test

import (
	"testing"

	"github.com/clavisiam/clavis/eventstore/subject"
)

func TestNewNamesValidatesThePrefix(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		prefix string
		ok     bool
	}{
		{"clavis", true},
		{"a", true},
		{"team-a_2", true},
		{"", false},
		{"Clavis", false},
		{"1clavis", false},
		{"cla.vis", false},
		{"cla*", false},
		{"cla>", false},
		{"abcdefghijklmnopqrstuvwxyz0123456", false}, // 33 characters
	} {
		_, err := subject.NewNames(tc.prefix)
		if (err == nil) != tc.ok {
			t.Errorf("NewNames(%q) = %v, want ok=%v", tc.prefix, err, tc.ok)
		}
	}
}

func TestNamesDeriveFromThePrefix(t *testing.T) {
	t.Parallel()
	n, err := subject.NewNames("team-a")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"internal stream", n.InternalStream(), "TEAM_A_INTERNAL"},
		{"public stream", n.PublicStream(), "TEAM_A_EVENTS"},
		{"lease bucket", n.LeaseBucket(), "TEAM_A_LEASES"},
		{"revoked bucket", n.RevokedBucket(), "TEAM_A_REVOKED"},
		{"assertions bucket", n.AssertionsBucket(), "TEAM_A_ASSERTIONS"},
		{"grants prefix", n.GrantsPrefix(), "TEAM_A"},
		{"inbox prefix", n.InboxPrefix(), "_TEAM_A_INBOX"},
		{"wake subject", n.WakeSubject(), "team-a.wake"},
		{"internal filter", n.InternalFilter(), "team-a.internal.>"},
		{"public filter", n.PublicFilter(), "team-a.events.>"},
		{"internal subject", n.InternalSubject("acme", "client.registered"), "team-a.internal.acme.client.registered"},
		{"public subject", n.PublicSubject("acme", "client.registered"), "team-a.events.acme.client.registered"},
		// No tenant or event type can change a subject's shape.
		{"wildcards escaped", n.PublicSubject("a.*", "client.>"), "team-a.events.a__.client._"},
		{"no aggregate", n.PublicSubject("acme", "registered"), "team-a.events.acme.unknown.registered"},
		{"empty tenant", n.PublicSubject("", "client.registered"), "team-a.events._.client.registered"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}
