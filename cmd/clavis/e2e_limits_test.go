package main

import (
	"fmt"
	"net/http"
	"testing"

	"golang.org/x/oauth2"
)

// TestFlowRateSetting sends one address's authorization requests past
// the default burst (60 flows at once) to a node with the default limit
// and to one whose --flow-rate-per-address is raised: the first refuses
// the excess with 429, the second stores every flow.
func TestFlowRateSetting(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary")
	}
	t.Parallel()
	for _, c := range []struct {
		name    string
		env     []string
		refused bool
	}{
		{"default", nil, true},
		{"raised", []string{"CLAVIS_FLOW_RATE_PER_ADDRESS=1000"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			n := startServe(t, c.name, append([]string{"CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true"}, c.env...)...)
			f := newBrowserFlow(t, n, uniqueSlug("rate"), false)
			refused := 0
			for i := range 100 {
				f.browser = f.newBrowser() // a browser keeps each flow's cookie a while: many would be too large a request
				switch a := f.authorize(fmt.Sprintf("state-%d", i), oauth2.GenerateVerifier()); a.code {
				case http.StatusTooManyRequests:
					refused++
				case http.StatusFound, http.StatusSeeOther:
				default:
					t.Fatalf("authorization request %d = %d %s", i, a.code, a.body)
				}
			}
			if (refused > 0) != c.refused {
				t.Errorf("%d of 100 authorization requests from one address refused; want refusals: %v", refused, c.refused)
			}
		})
	}
}
