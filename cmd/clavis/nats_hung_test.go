package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/clavisiam/clavis/internal/poll"
)

// hungServerBound is how soon a node must leave a NATS server that
// stopped answering: the node's pings (every 3 s, two unanswered) give
// it up within 9 s; the rest is the reconnection to another server.
const hungServerBound = 12 * time.Second

// TestNodeLeavesHungNATSServer pauses (SIGSTOP) the one server of a
// three-server NATS cluster a node connected to: its TCP connection stays
// open, so only unanswered pings tell. The node reconnects to another
// server of the cluster within hungServerBound, and its authorization
// endpoint serves again, instead of failing every request that needs the
// grant store for the minutes nats.go's default pings take.
func TestNodeLeavesHungNATSServer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs the binary and a NATS cluster")
	}
	t.Parallel()
	nc := startNATSCluster(t)
	first := nc.servers[0]
	// The node is told of the first server only, and learns the others
	// from it, as a client of a cluster does.
	url := fmt.Sprintf("nats://clavis:%s@127.0.0.1:%d", nc.clavisPassword, first.port)
	n := startServe(t, "hung", postgresEnv(t), "CLAVIS_NATS_URL="+url, "CLAVIS_NATS_REPLICAS=3",
		"CLAVIS_PUBLIC_URL=https://id.example.test", "CLAVIS_DEV_LOGIN=true")
	f := newBrowserFlow(t, n, uniqueSlug("hung"), false)
	f.challenge(oauth2.GenerateVerifier()) // the grant store serves

	const restored = "NATS connection restored"
	if strings.Contains(n.logs.String(), restored) {
		t.Fatalf("the node reconnected before the pause:\n%s", n.logs.String())
	}
	first.pause()
	paused := time.Now()
	t.Logf("NATS server %s (port %d) paused", first.name, first.port)
	var server string
	poll.Until(t, 5*time.Minute, "the node reconnecting to another NATS server", func() bool {
		for _, r := range n.logs.Records(t) {
			if r["msg"] == restored {
				server, _ = r["server"].(string)
				return true
			}
		}
		return false
	})
	left := time.Since(paused)
	if strings.HasSuffix(server, fmt.Sprintf(":%d", first.port)) {
		t.Errorf("the node reconnected to %s, the paused server", server)
	}
	poll.Until(t, 60*time.Second, "the authorization endpoint serving again", func() bool {
		a := f.authorize("state-after", oauth2.GenerateVerifier())
		return a.code == http.StatusFound && a.location != nil && a.location.Path == "/t/"+f.slug+"/dev/login"
	})
	t.Logf("the node left the paused server for %s after %s; flows served again after %s",
		server, left.Round(100*time.Millisecond), time.Since(paused).Round(100*time.Millisecond))
	if left > hungServerBound {
		t.Errorf("the node left the paused NATS server after %s, want within %s", left.Round(100*time.Millisecond), hungServerBound)
	}
}
