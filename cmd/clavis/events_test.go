package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/poll"
	"github.com/clavisiam/clavis/internal/testnode"
)

// cutProxy forwards TCP connections to a node and can cut every one it
// carries, as a proxy or a network failure would.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

// cut closes every connection carried so far.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestCLIEventsTail: clavis events tail follows the stream, reconnects
// with Last-Event-ID after the connection is cut (no event lost or
// repeated), prints JSON with --json, and tells the cursor to resume
// from when it stops.
func TestCLIEventsTail(t *testing.T) {
	t.Parallel()
	n := startNode(t, testConfig(t, node.SQLite))
	proxy := startCutProxy(t, strings.TrimPrefix(n.URL, "http://"))
	c := cliRunner{t: t, endpoint: n.URL, token: n.RootToken}
	acme := uniqueSlug("tail")
	c.ok("tenant", "create", acme)
	head, err := n.Store.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(t.Context())
	var out, errOut testnode.Logs
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"events", "tail", "--tenant", acme, "--after", head.String(), "--endpoint", proxy.url(), "--token", n.RootToken},
			envMap(nil), &out, &errOut)
	}()
	lines := func() []string {
		s := strings.TrimSpace(out.String())
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}
	for i := range 2 {
		c.ok("client", "create", "--tenant", acme, "--name", "Web", "--code", "urn:tail/web-"+string(rune('a'+i)), "--type", "m2m", "--grant-type", "client_credentials")
	}
	poll.Until(t, 20*time.Second, "two events", func() bool { return len(lines()) >= 2 })
	proxy.cut()
	c.ok("client", "create", "--tenant", acme, "--name", "Late", "--code", "urn:tail/late", "--type", "m2m", "--grant-type", "client_credentials")
	poll.Until(t, 20*time.Second, "the event after the cut", func() bool { return len(lines()) >= 3 })
	time.Sleep(200 * time.Millisecond) // room for a duplicate to show
	stop()
	if code := <-done; code != exitOK {
		t.Fatalf("tail exited %d: %s", code, errOut.String())
	}

	var want []string
	events, err := n.Store.ReadTenant(t.Context(), acme, head, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		want = append(want, e.Position.String()+"\t"+e.Type)
	}
	var got []string
	for _, l := range lines() {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Fatalf("line %q is not cursor, time, type, subject, actor", l)
		}
		got = append(got, f[0]+"\t"+f[2])
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tail printed\n%s\nthe store holds\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	last := events[len(events)-1].Position.String()
	if !strings.Contains(errOut.String(), "resume with --after "+last) {
		t.Errorf("tail did not tell the cursor %s to resume from:\n%s", last, errOut.String())
	}
	if !strings.Contains(errOut.String(), "reconnecting") {
		t.Errorf("the cut went unnoticed:\n%s", errOut.String())
	}

	t.Run("json, filtered, from a cursor", func(t *testing.T) {
		ctx, stop := context.WithCancel(t.Context())
		var out, errOut testnode.Logs
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"events", "tail", "--tenant", acme, "--after", "0.0", "--type", "client.registered", "--json", "--endpoint", n.URL, "--token", n.RootToken},
				envMap(nil), &out, &errOut)
		}()
		poll.Until(t, 20*time.Second, "the registrations", func() bool { return strings.Count(out.String(), "\n") >= 4 }) // the admin client's and three
		stop()
		<-done
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			var ce map[string]any
			if err := json.Unmarshal([]byte(l), &ce); err != nil || ce["type"] != "dev.clavis.client.registered" || ce["clavistenant"] != acme {
				t.Errorf("line %q: %v %v", l, err, ce)
			}
		}
	})
	t.Run("a refused token ends it at once", func(t *testing.T) {
		code, _, stderr := runCmd(t.Context(), []string{"events", "tail", "--tenant", acme, "--endpoint", n.URL, "--token", "nope"}, nil)
		if code != exitFailure || !strings.Contains(stderr, "401") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		code, _, stderr = runCmd(t.Context(), []string{"events", "tail", "--endpoint", n.URL, "--token", "nope"}, nil)
		if code != exitUsage || !strings.Contains(stderr, "--tenant") {
			t.Errorf("without --tenant: exit %d: %s", code, stderr)
		}
	})
}
