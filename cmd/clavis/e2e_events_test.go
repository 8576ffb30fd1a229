package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clavisiam/clavis/internal/poll"
)

// readerToken makes a client of slug that may only read its events, at
// n, and returns an access token of it.
func readerToken(t *testing.T, n *serveProc, slug string) string {
	t.Helper()
	c := n.mustCall("POST", "/t/"+slug+"/admin/clients", map[string]any{"type": "m2m", "client_name": "Reader", "code": "urn:" + slug + "/reader",
		"grant_types": []string{"client_credentials"}, "default_scopes": []string{"clavis:events:read"}}, 201)
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequest("POST", "http://"+n.addr+"/t/"+slug+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(c["client_id"].(string), c["client_secret"].(string))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken
}

// feedPage is a page of the events API.
type feedPage struct {
	Events []struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Position string `json:"clavisposition"`
	} `json:"events"`
	Next string `json:"next"`
}

// feed reads one page of the events API at n.
func feed(t *testing.T, n *serveProc, tok, slug, query string) (int, feedPage) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+n.addr+"/t/"+slug+"/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("events at %s: %v", n.name, err)
	}
	defer res.Body.Close()
	var p feedPage
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == 200 {
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("page %s: %v", b, err)
		}
	}
	return res.StatusCode, p
}

// feedIDs pages through the whole feed of slug at n: the ids and
// cursors of its events, in order.
func feedIDs(t *testing.T, n *serveProc, tok, slug string) []string {
	t.Helper()
	var out []string
	after := "0.0"
	for {
		code, p := feed(t, n, tok, slug, "limit=1000&after="+after)
		if code != 200 {
			t.Fatalf("feed at %s: %d", n.name, code)
		}
		for _, e := range p.Events {
			out = append(out, e.ID+"@"+e.Position)
		}
		if len(p.Events) == 0 {
			return out
		}
		after = p.Next
	}
}

// TestEventsLongPollAcrossNodes: a long poll on node b, at the end of
// the feed, is answered with the event an admin appends on node a (two
// nodes over one PostgreSQL database and one NATS server), long before
// its wait ends.
func TestEventsLongPollAcrossNodes(t *testing.T) {
	t.Parallel()
	ns := startNATS(t)
	env := []string{postgresEnv(t), "CLAVIS_NATS_URL=" + ns.url(), "CLAVIS_PUBLIC_URL=https://id.example.test"} // one issuer: a's tokens work at b
	a := startServe(t, "a", env...)
	b := startServe(t, "b", append(env, "CLAVIS_MIGRATE=false")...)
	slug := uniqueSlug("lp")
	a.mustCall("POST", "/admin/tenants", map[string]string{"slug": slug, "name": "LP"}, 201)
	tok := readerToken(t, a, slug)
	var end string
	poll.Until(t, 20*time.Second, "the tenant's feed at b", func() bool {
		code, p := feed(t, b, tok, slug, "limit=1000")
		end = p.Next
		return code == 200 && len(p.Events) >= 2 // tenant.created, the admin client's and the reader's registration
	})
	for {
		_, p := feed(t, b, tok, slug, "limit=1000&after="+end)
		if len(p.Events) == 0 {
			break
		}
		end = p.Next
	}
	type answer struct {
		code int
		p    feedPage
		took time.Duration
	}
	got := make(chan answer, 1)
	go func() {
		start := time.Now()
		code, p := feed(t, b, tok, slug, "wait=60&after="+end)
		got <- answer{code, p, time.Since(start)}
	}()
	time.Sleep(500 * time.Millisecond) // the poll is waiting at b
	c := a.mustCall("POST", "/t/"+slug+"/admin/clients", newClientBody("urn:lp/late"), 201)
	select {
	case r := <-got:
		if r.code != 200 || len(r.p.Events) != 1 || r.p.Events[0].Type != "dev.clavis.client.registered" {
			t.Fatalf("the long poll answered %d %+v", r.code, r.p)
		}
		if r.p.Next != r.p.Events[0].Position {
			t.Errorf("next %s, want the event's %s", r.p.Next, r.p.Events[0].Position)
		}
		t.Logf("woken after %s by client %v appended at a", r.took, c["client_id"])
	case <-time.After(30 * time.Second):
		t.Fatal("the long poll at b was not woken by the event appended at a")
	}
}

// eventSourceScript is the EventSource client the tests run under node,
// failing the test with how to install what it needs when it cannot.
func eventSourceScript(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: the EventSource test runs the npm package eventsource under it (apt-get install nodejs npm, then npm ci --prefix .ci/npm; make test does the latter)")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", ".ci", "npm"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "eventsource", "package.json")); err != nil {
		t.Fatalf("the npm package eventsource is not installed in %s: run npm ci --prefix .ci/npm (make test does)", dir)
	}
	return filepath.Join(dir, "eventsource-follow.cjs")
}

// esLine is what the EventSource client prints.
type esLine struct {
	Kind, Type, ID, Data, Message string
}

// eventSource runs the EventSource client on u, listening for types.
type eventSource struct {
	mu    sync.Mutex
	lines []esLine
}

func startEventSource(t *testing.T, u string, types ...string) *eventSource {
	t.Helper()
	es := &eventSource{}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", eventSourceScript(t), u, strings.Join(types, ","))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = t.Output()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l esLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				continue
			}
			es.mu.Lock()
			es.lines = append(es.lines, l)
			es.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); <-done; _ = cmd.Wait() })
	return es
}

func (es *eventSource) count(kind string) int {
	es.mu.Lock()
	defer es.mu.Unlock()
	n := 0
	for _, l := range es.lines {
		if l.Kind == kind {
			n++
		}
	}
	return n
}

// received lists the ids and cursors of the events received, in order.
func (es *eventSource) received(t *testing.T) []string {
	t.Helper()
	es.mu.Lock()
	defer es.mu.Unlock()
	var out []string
	for _, l := range es.lines {
		if l.Kind != "event" && l.Kind != "message" {
			continue
		}
		var ce struct {
			ID       string `json:"id"`
			Position string `json:"clavisposition"`
		}
		if err := json.Unmarshal([]byte(l.Data), &ce); err != nil {
			t.Fatalf("event data %q: %v", l.Data, err)
		}
		if l.ID != ce.Position {
			t.Errorf("lastEventId %s, but the event's cursor is %s", l.ID, ce.Position)
		}
		out = append(out, ce.ID+"@"+ce.Position)
	}
	return out
}

// TestEventSourceResumes: a real EventSource (the npm package
// eventsource under node), used as a browser uses it — the token in the
// URL, no header of its own — follows a tenant's stream through a
// connection the network cuts and through a restart of the node, and
// resumes each time with Last-Event-ID: every event arrives once, in
// order, events appended while it was away included.
func TestEventSourceResumes(t *testing.T) {
	t.Parallel()
	eventSourceScript(t) // fail first when node or the package is missing
	n := startServe(t, "es")
	proxy := startCutProxy(t, n.addr)
	slug := uniqueSlug("es")
	n.mustCall("POST", "/admin/tenants", map[string]string{"slug": slug, "name": "ES"}, 201)
	tok := readerToken(t, n, slug)
	u := proxy.url() + "/t/" + slug + "/events/stream?access_token=" + url.QueryEscape(tok)
	es := startEventSource(t, u, "dev.clavis.client.registered", "dev.clavis.client.updated", "dev.clavis.tenant.renamed")
	poll.Until(t, 20*time.Second, "the EventSource opening", func() bool { return es.count("open") == 1 })

	made := 0
	create := func(k int) {
		for range k {
			made++
			n.mustCall("POST", "/t/"+slug+"/admin/clients", newClientBody(fmt.Sprintf("urn:es/c-%d", made)), 201)
		}
	}
	want := func() int { return made }
	create(3)
	poll.Until(t, 20*time.Second, "the first events", func() bool { return len(es.received(t)) == want() })

	// The network cuts the connection; events come while the client
	// waits to reconnect.
	proxy.cut()
	create(2)
	poll.Until(t, 30*time.Second, "the events appended while cut off", func() bool { return len(es.received(t)) == want() })
	if es.count("open") < 2 {
		t.Fatalf("the EventSource did not reconnect after the cut: %d opens", es.count("open"))
	}

	// The node restarts: the stream ends with it, the client retries
	// until the node is back, and resumes.
	n.stop()
	n.start()
	create(2)
	n.mustCall("PATCH", "/admin/tenants/"+slug, map[string]string{"name": "ES renamed"}, 200)
	made++
	poll.Until(t, 60*time.Second, "the events after the restart", func() bool { return len(es.received(t)) == want() })
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show

	got := es.received(t)
	all := feedIDs(t, n, tok, slug)
	var since []string
	for i, id := range all {
		if id == got[0] {
			since = all[i:]
		}
	}
	if strings.Join(got, "\n") != strings.Join(since, "\n") {
		t.Fatalf("the EventSource received\n%s\nthe feed holds, from the first of them,\n%s", strings.Join(got, "\n"), strings.Join(since, "\n"))
	}
	if es.count("open") < 3 {
		t.Errorf("%d opens, want one per connection (3 at least)", es.count("open"))
	}
}
