package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The browser tests drive Debian's headless Chromium with chromedp: one
// browser process for the whole package, started by the first test that
// needs it and stopped by TestMain, and a fresh browser context (a
// profile of its own, like an incognito window: no cookies shared) for
// each test. A test that fails leaves a screenshot and the HTML of each
// of its tabs in [artifactsDir], which its log names.

// TestMain stops the package's browser once every test has run.
func TestMain(m *testing.M) {
	code := m.Run()
	stopChromium()
	os.Exit(code)
}

const (
	// browserTestTimeout bounds each browser test: the actions of a tab
	// run under a deadline this far from its opening.
	browserTestTimeout = 120 * time.Second
	// chromiumStartTimeout bounds the start of the browser.
	chromiumStartTimeout = 60 * time.Second
	// windowWidth and windowHeight are a laptop's window.
	windowWidth, windowHeight = 1280, 800
)

// chromium is the package's browser.
var chromium struct {
	once   sync.Once
	ctx    context.Context // the browser's first tab: new contexts derive from it
	cancel context.CancelFunc
	err    error
}

// browserRoot returns the context of the package's browser, starting it
// the first time. Without Chromium, the test fails: the browser tests are
// part of `make test`, never skipped.
func browserRoot(t *testing.T) context.Context {
	t.Helper()
	chromium.once.Do(func() { chromium.ctx, chromium.cancel, chromium.err = startChromium() })
	if chromium.err != nil {
		t.Fatal(chromium.err)
	}
	return chromium.ctx
}

// startChromium starts headless Chromium: without the sandbox only when
// running as root (as CI does), where Chromium refuses to start with it.
func startChromium() (context.Context, context.CancelFunc, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return nil, nil, fmt.Errorf("the console's browser tests need Chromium: apt-get install chromium (.ci/run does): %w", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.WindowSize(windowWidth, windowHeight),
		chromedp.DisableGPU, chromedp.Flag("lang", "en-US"))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, bcancel := chromedp.NewContext(actx)
	cancel := func() { bcancel(); acancel() }
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(bctx) }()
	select {
	case err = <-started:
	case <-time.After(chromiumStartTimeout):
		err = fmt.Errorf("no answer within %s", chromiumStartTimeout)
	}
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("start Chromium (%s): %w", path, err)
	}
	return bctx, cancel, nil
}

// stopChromium stops the package's browser, when it was started.
func stopChromium() {
	if chromium.cancel != nil {
		chromium.cancel()
	}
}

// tab is a browser tab of one test, in the test's own browser context.
type tab struct {
	t *testing.T
	h *harness
	// ctx runs the test's actions: it ends at the test's deadline.
	ctx context.Context
	// own is the tab's context without the deadline (to save what a
	// failed test saw, after the deadline).
	own context.Context
	// dialogs collects the JavaScript dialogs the page opened.
	dialogs *dialogs
	// name tells the test's tabs apart in the saved artifacts.
	name string
}

// dialogs are the JavaScript dialogs (alert, confirm, prompt) pages
// opened and the script errors they threw: the console opens no dialog,
// so each is a script that should not have run, and its script throws
// nothing.
type dialogs struct {
	mu   sync.Mutex
	seen []string
}

// tabCounts counts each running test's tabs, to name them.
var tabCounts sync.Map // *testing.T → *atomic.Int32

// nextTab is the name of test t's next tab: tab1, tab2…
func nextTab(t *testing.T) string {
	n, loaded := tabCounts.LoadOrStore(t, new(atomic.Int32))
	if !loaded {
		t.Cleanup(func() { tabCounts.Delete(t) })
	}
	return fmt.Sprintf("tab%d", n.(*atomic.Int32).Add(1))
}

func (d *dialogs) add(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen = append(d.seen, s)
}

func (d *dialogs) list() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.seen)
}

// take returns the dialogs noted so far and forgets them.
func (d *dialogs) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	seen := d.seen
	d.seen = nil
	return seen
}

// browse opens a tab in a new browser context of its own, which ends
// with the test. When the test fails, each of its tabs is saved (see
// saveArtifacts); when a page opened a JavaScript dialog or threw a
// script error, the test fails.
func (h *harness) browse(t *testing.T) *tab {
	t.Helper()
	root := browserRoot(t)
	d := &dialogs{}
	own, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext(), chromedp.WithListener(d.listener()))
	t.Cleanup(cancel)
	b := h.newTab(t, own, d, nextTab(t))
	t.Cleanup(func() {
		if seen := d.list(); len(seen) > 0 {
			t.Errorf("pages opened JavaScript dialogs or threw script errors (a script ran that should not have, or failed): %q", seen)
		}
	})
	return b
}

// another opens another tab in b's browser context: it shares b's
// cookies, as a second tab of the same window does.
func (b *tab) another(t *testing.T) *tab {
	t.Helper()
	own, cancel := chromedp.NewContext(b.own, chromedp.WithListener(b.dialogs.listener()))
	t.Cleanup(cancel)
	return b.h.newTab(t, own, b.dialogs, nextTab(t))
}

// newTab opens the tab own stands for and bounds its actions by the
// test's deadline.
func (h *harness) newTab(t *testing.T, own context.Context, d *dialogs, name string) *tab {
	t.Helper()
	opened := make(chan error, 1)
	go func() { opened <- chromedp.Do(own) }()
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("open a tab: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("open a tab: no answer within 30s")
	}
	deadline := time.Now().Add(browserTestTimeout)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-5 * time.Second)
	}
	ctx, cancel := context.WithDeadline(own, deadline)
	t.Cleanup(cancel)
	b := &tab{t: t, h: h, ctx: ctx, own: own, dialogs: d, name: name}
	// Answer the dialogs, after noting them, so that they block nothing.
	go func() {
		for _, err := range chromedp.Events(own, page.JavascriptDialogOpening) {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(own, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b.saveArtifacts()
		}
	})
	return b
}

// listener notes each dialog a page opens, and each uncaught script
// error (the console's own script must run without one).
func (d *dialogs) listener() func(any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			d.add(string(ev.Type) + ": " + ev.Message)
		case *runtime.EventExceptionThrown:
			msg := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil && ev.ExceptionDetails.Exception.Description != "" {
				msg += " " + ev.ExceptionDetails.Exception.Description
			}
			d.add(fmt.Sprintf("script error at %s:%d: %s", ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber+1, msg))
		}
	}
}

// artifactsDir is where a failed test's screenshots and pages go:
// $CLAVIS_ARTIFACTS/<test>/ when set, else
// $TMPDIR/clavis-console-failures/<test>/.
func artifactsDir(t *testing.T) string {
	base := os.Getenv("CLAVIS_ARTIFACTS")
	if base == "" {
		base = filepath.Join(os.TempDir(), "clavis-console-failures")
	}
	return filepath.Join(base, regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_"))
}

// saveArtifacts saves a full-page screenshot, the HTML and the URL of
// what the tab shows, and logs where.
func (b *tab) saveArtifacts() {
	ctx, cancel := context.WithTimeout(b.own, 15*time.Second)
	defer cancel()
	dir := artifactsDir(b.t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("save what the browser showed: %v", err)
		return
	}
	var saved []string
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(dir, b.name+".png")
		if os.WriteFile(p, png, 0o644) == nil {
			saved = append(saved, p)
		}
	} else {
		b.t.Logf("screenshot of %s: %v", b.name, err)
	}
	if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`)); err == nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		p := filepath.Join(dir, b.name+".html")
		if os.WriteFile(p, []byte("<!-- "+strings.ReplaceAll(loc, "--", "%2D%2D")+" -->\n"+html), 0o644) == nil {
			saved = append(saved, p)
		}
	} else {
		b.t.Logf("HTML of %s: %v", b.name, err)
	}
	if len(saved) > 0 {
		b.t.Logf("what the browser showed when the test failed: %s", strings.Join(saved, ", "))
	}
}

// ---- actions: each fails the test when it fails, saying what it did.

// do runs steps, failing the test with what.
func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s (at %s): %v", what, b.location(), err)
	}
}

// location is the URL the tab shows ("" when it cannot tell).
func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.own, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// path is the path and query of the URL the tab shows.
func (b *tab) path() string {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatal(err)
	}
	return u.RequestURI()
}

// open navigates to path on the node and returns the status of the page
// it ends on.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.h.url+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	if res == nil {
		return 0
	}
	return res.Status
}

// submit clicks sel (a submit button, or a link) and waits for the page
// it leads to, whose status it returns.
func (b *tab) submit(sel string) int64 {
	b.t.Helper()
	b.need(sel)
	return b.navigate("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// navigate runs steps that lead to a new page, waits for it and returns
// its status.
func (b *tab) navigate(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	res, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s (at %s): %v", what, b.location(), err)
	}
	if res == nil {
		return 0
	}
	return res.Status
}

// back goes back in the tab's history and returns the status of the
// page it shows then: 0 when the browser shows its own error page (as
// it does rather than post a form again).
func (b *tab) back() int64 {
	b.t.Helper()
	res, err := chromedp.RunResponse(b.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, page.GetNavigationHistory, cdp.Empty{})
		if err != nil {
			return err
		}
		if res.CurrentIndex <= 0 {
			return errors.New("nothing to go back to")
		}
		_, err = cdp.Call(ctx, t, page.NavigateToHistoryEntry, page.NavigateToHistoryEntryParams{EntryID: res.Entries[res.CurrentIndex-1].ID})
		return err
	}))
	var loadErr *chromedp.LoadError
	switch {
	case errors.As(err, &loadErr):
		return 0
	case err != nil:
		b.t.Fatalf("go back (at %s): %v", b.location(), err)
	case res == nil:
		return 0
	}
	return res.Status
}

// goBackAndWait goes back in the tab's history, as the browser's Back
// button does (the page may come from the back/forward cache: no request,
// perhaps no load event), and fails the test unless sel appears within
// ten seconds.
func (b *tab) goBackAndWait(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	_ = chromedp.Do(ctx, chromedp.NavigateBack())
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("going back shows %s, without %s:\n%s", b.path(), sel, clip(b.body()))
	}
}

// reload reloads the page and returns its status.
func (b *tab) reload() int64 {
	b.t.Helper()
	return b.navigate("reload", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.Reload, page.ReloadParams{})
		return err
	}))
}

// fill sets the value of the inputs by CSS selector (as pasting would),
// and fires their input and change events.
func (b *tab) fill(fields map[string]string) {
	b.t.Helper()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, sel := range keys {
		b.need(sel)
		got := eval[string](b, `(() => { const e = document.querySelector(`+jsString(sel)+`); e.value = `+jsString(fields[sel])+`;
			e.dispatchEvent(new Event("input", {bubbles: true})); e.dispatchEvent(new Event("change", {bubbles: true})); return e.value; })()`)
		if got != fields[sel] {
			b.t.Fatalf("%s takes no value %q (it holds %q) on %s", sel, fields[sel], got, b.path())
		}
	}
}

// text is the text of the first element sel matches, waiting for it.
func (b *tab) text(sel string) string {
	b.t.Helper()
	b.need(sel)
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeReady))
	if err != nil {
		b.t.Fatalf("read %s (at %s): %v", sel, b.location(), err)
	}
	return s
}

// value is the value of the input sel.
func (b *tab) value(sel string) string {
	b.t.Helper()
	b.need(sel)
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("read the value of %s (at %s): %v", sel, b.location(), err)
	}
	return s
}

// eval evaluates a JavaScript expression in the page and decodes its
// value.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %.80s (at %s): %v", expr, b.location(), err)
	}
	return v
}

// count is how many elements sel matches now.
func (b *tab) count(sel string) int {
	b.t.Helper()
	return eval[int](b, `document.querySelectorAll(`+jsString(sel)+`).length`)
}

// need fails the test at once when sel matches nothing on the page
// (the actions would wait for it until the test's deadline).
func (b *tab) need(sel string) {
	b.t.Helper()
	if !b.has(sel) {
		b.t.Fatalf("%s has no %s:\n%s", b.path(), sel, clip(b.body()))
	}
}

// has reports whether sel matches anything now.
func (b *tab) has(sel string) bool {
	b.t.Helper()
	return b.count(sel) > 0
}

// body is the text of the page's main element, as a person reads it.
func (b *tab) body() string {
	b.t.Helper()
	return eval[string](b, `(document.querySelector("main") || document.body).innerText`)
}

// html is the page's HTML, as the browser parsed it.
func (b *tab) html() string {
	b.t.Helper()
	return eval[string](b, `document.documentElement.outerHTML`)
}

// see fails the test unless the page's main text holds each of want.
func (b *tab) see(want ...string) {
	b.t.Helper()
	body := b.body()
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.t.Fatalf("%s does not show %q; it shows:\n%s", b.path(), w, clip(body))
		}
	}
}

// notSee fails the test when the page's main text holds any of bad.
func (b *tab) notSee(bad ...string) {
	b.t.Helper()
	body := b.body()
	for _, w := range bad {
		if strings.Contains(body, w) {
			b.t.Fatalf("%s shows %q:\n%s", b.path(), w, clip(body))
		}
	}
}

// wantStatus fails the test unless got is want.
func (b *tab) wantStatus(what string, got, want int64) {
	b.t.Helper()
	if got != want {
		b.t.Fatalf("%s: status %d, want %d, at %s:\n%s", what, got, want, b.path(), clip(b.body()))
	}
}

// wantPath fails the test unless the tab's path (without query) matches
// the regular expression re.
func (b *tab) wantPath(re string) {
	b.t.Helper()
	p := b.path()
	if i := strings.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if !regexp.MustCompile("^" + re + "$").MatchString(p) {
		b.t.Fatalf("the tab shows %s, want %s:\n%s", p, re, clip(b.body()))
	}
}

// clip shortens a page's text for a failure message.
func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

// jsString is s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ---- signing in

// signIn signs subject in to tenant slug's console in the tab, through
// the development login: it types the user name, then at consent keeps
// only scopes checked (every scope the console asks for when none are
// given; openid always), and ends on the console's clients page.
func (b *tab) signIn(slug, subject string, scopes ...string) {
	b.t.Helper()
	b.wantStatus("open the console", b.open("/t/"+slug+"/console/"), 200)
	if !b.has(`input[name=subject]`) {
		b.t.Fatalf("opening the console of %s did not lead to the login page but to %s:\n%s", slug, b.path(), clip(b.body()))
	}
	b.do("type the user name", chromedp.SendKeys(chromedp.CSS(`input[name=subject]`), subject))
	b.wantStatus("sign in", b.submit(`button[name=action][value=accept]`), 200)
	if !b.has(`input[name=grant_scope]`) {
		b.t.Fatalf("signing in did not lead to the consent page but to %s:\n%s", b.path(), clip(b.body()))
	}
	if len(scopes) > 0 {
		keep := jsString(strings.Join(append(scopes, "openid"), " "))
		// Uncheck the others as a person does: click them.
		ids := eval[[]string](b, `(() => { const keep = `+keep+`.split(" "); const out = [];
			document.querySelectorAll("input[name=grant_scope]").forEach((c, i) => {
				if (!keep.includes(c.value) && c.checked) { c.id = c.id || "grant-" + i; out.push(c.id); } });
			return out; })()`)
		for _, id := range ids {
			b.do("uncheck "+id, chromedp.Click(chromedp.ID(id)))
		}
	}
	b.wantStatus("consent", b.submit(`button[name=action][value=accept]`), 200)
	b.wantPath(regexp.QuoteMeta("/t/"+slug+"/console/") + "clients")
}

// signOut signs out with the layout's button and ends on the signed-out
// page.
func (b *tab) signOut() {
	b.t.Helper()
	b.wantStatus("sign out", b.submit(`form.signout button[type=submit]`), 200)
	b.see("signed out")
}

// csrf is the CSRF token of the page's forms.
func (b *tab) csrf() string {
	b.t.Helper()
	v := eval[string](b, `(document.querySelector("input[name=_csrf]") || {value: ""}).value`)
	if v == "" {
		b.t.Fatalf("%s has no form with a CSRF token", b.path())
	}
	return v
}

// forge posts fields to path from the page, as a script or a crafted
// form of the same site would (no button of the page), and returns the
// status of the answer.
func (b *tab) forge(path string, fields map[string]string) int64 {
	b.t.Helper()
	js, _ := json.Marshal(fields)
	return b.navigate("post a forged form to "+path, chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.createElement("form"); f.method = "post"; f.action = `+jsString(path)+`;
		for (const [k, v] of Object.entries(`+string(js)+`)) { const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.appendChild(i); }
		document.body.appendChild(f); f.submit(); })()`))
}

// ---- downloads

// download runs trigger, which starts a download, and returns the
// downloaded file's path in a directory of the test's own.
func (b *tab) download(trigger chromedp.Action[chromedp.Void]) string {
	b.t.Helper()
	dir := b.t.TempDir()
	bc := chromedp.FromContext(b.own).BrowserContextID
	_, err := chromedp.CallBrowser(b.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: bc, DownloadPath: dir, EventsEnabled: new(true)})
	if err != nil {
		b.t.Fatalf("allow downloads: %v", err)
	}
	progress := chromedp.BrowserEvents(b.ctx, browser.DownloadProgress)
	b.do("start the download", trigger)
	for ev, err := range progress {
		if err != nil {
			b.t.Fatalf("wait for the download: %v", err)
		}
		if ev.FilePath != "" && filepath.Dir(ev.FilePath) != dir {
			continue // another test's download
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			p := ev.FilePath
			if p == "" {
				p = filepath.Join(dir, ev.GUID)
			}
			return p
		case browser.DownloadProgressStateCanceled:
			b.t.Fatal("the download was cancelled")
		}
	}
	b.t.Fatal("the download did not end")
	return ""
}

// ---- accessibility

// axeSource is axe-core's script, read once from the npm package that
// `npm ci --prefix .ci/npm` installs.
var axeSource = sync.OnceValues(func() (string, error) {
	p := filepath.Join("..", "..", ".ci", "npm", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("axe-core is not installed (%w): run npm ci --prefix .ci/npm (make test does)", err)
	}
	return string(b), nil
})

// axeViolation is a rule a page breaks, as axe-core reports it.
type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target  []any  `json:"target"`
		HTML    string `json:"html"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkAccessibility runs axe-core on the page the tab shows and fails
// the test on any serious or critical violation, listing each with the
// elements at fault.
func (b *tab) checkAccessibility() {
	b.t.Helper()
	if bad := b.axe(); len(bad) > 0 {
		b.t.Errorf("axe-core finds %d serious or critical violation(s) on %s:\n  %s", len(bad), b.path(), strings.Join(bad, "\n  "))
	}
}

// axe runs axe-core on the page the tab shows (only rules, when given;
// else every rule it runs by default: WCAG 2 A and AA and best
// practices) and returns its serious and critical violations, each with
// the elements at fault. The script goes in through the DevTools
// protocol, which the page's Content-Security-Policy does not govern.
func (b *tab) axe(rules ...string) []string {
	b.t.Helper()
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	only := ""
	if len(rules) > 0 {
		r, _ := json.Marshal(rules)
		only = `, runOnly: {type: "rule", values: ` + string(r) + `}`
	}
	if !eval[bool](b, `typeof window.axe === "object"`) {
		b.do("load axe-core", chromedp.Evaluate[chromedp.Void](src))
	}
	encoded, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]`+only+`}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("run axe-core on %s: %v", b.path(), err)
	}
	var all []axeViolation
	if err := json.Unmarshal([]byte(encoded), &all); err != nil {
		b.t.Fatalf("axe-core's violations: %v", err)
	}
	var bad []string
	for _, v := range all {
		if v.Impact != "serious" && v.Impact != "critical" {
			continue
		}
		s := fmt.Sprintf("%s (%s): %s — %s", v.ID, v.Impact, v.Help, v.HelpURL)
		for _, n := range v.Nodes {
			s += fmt.Sprintf("\n    %v %s\n      %s", n.Target, n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n      "))
		}
		bad = append(bad, s)
	}
	return bad
}
