package domain_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/internal/eventset"
)

// TestNoSwitchOverEventsOutsideTheDomain keeps every switch over an
// aggregate's event types in the domain: what an event does (to state,
// to its public or history form) is said once, by the aggregate's
// package, so that adding an event type changes the domain and nothing
// else.
func TestNoSwitchOverEventsOutsideTheDomain(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	domainDir := filepath.Join(root, "domain")
	for _, agg := range []string{"client", "tenant", "webhook"} {
		names, err := eventset.Declared(filepath.Join(domainDir, agg))
		if err != nil {
			t.Fatal(err)
		}
		if len(names) < 2 {
			t.Fatalf("found %d %s event types: %v", len(names), agg, names)
		}
		switches, err := eventset.Switches(root, allowedPrefix+"/"+agg, names, func(dir string) bool {
			return dir == domainDir || strings.HasPrefix(dir, domainDir+string(filepath.Separator))
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range switches {
			t.Errorf("%s: a switch over %s events outside the domain (%s); ask the %s package instead",
				s.Pos, agg, strings.Join(s.Names, ", "), agg)
		}
	}
}
