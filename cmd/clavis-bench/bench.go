package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clavisiam/clavis/internal/gctune"
)

// benchCommand is one clavis-bench command: which endpoint it loads
// and what a successful answer looks like.
type benchCommand struct {
	name    string
	summary string
	about   string
	path    string // below {endpoint}/t/{tenant}
	success string // a 200 whose body contains this succeeded
}

var benchCommands = []benchCommand{
	{name: "token", summary: "measure the token endpoint with client_credentials grants",
		path: "/oauth2/token", success: `access_token`,
		about: `Bench token measures the token endpoint: --concurrency workers each POST a
client_credentials grant to {endpoint}/t/{tenant}/oauth2/token and send the
next as soon as the answer has arrived (a closed loop), for --warmup without
recording, then for --duration recorded. A request succeeds when the answer is
200 and its body contains "access_token".`},
	{name: "introspect", summary: "measure the introspection endpoint with one token",
		path: "/oauth2/introspect", success: `"active":true`,
		about: `Bench introspect measures the introspection endpoint: --concurrency workers
each POST --token to {endpoint}/t/{tenant}/oauth2/introspect and send the next
as soon as the answer has arrived (a closed loop), for --warmup without
recording, then for --duration recorded. A request succeeds when the answer is
200 and its body contains "active":true.`},
	{name: "flow", summary: "measure whole authorization code flows with PKCE, login and consent",
		about: `Bench flow measures the authorization code flow as a browser and a login
application run it: --concurrency workers, each a browser with cookies of its
own, run whole flows one after another (a closed loop), for --warmup without
recording, then for --duration recorded. A flow is six requests: the
authorization request (PKCE S256, a new state and verifier each time); the
login application's acceptance of the login challenge through the login API
(as --subject, with a token of the login application's client, which holds
clavis:login); the browser back at the authorization endpoint; the acceptance
of the consent challenge (the scopes of --scope); the browser back again, to
a redirect to --redirect-uri with a code, which is not followed; and the code
exchanged at the token endpoint with its verifier. A client that asks no
consent skips the consent steps. A flow succeeds when the exchange answers
200 with an access token. Redirects are followed at --endpoint, whatever
host they name, so a node whose public URL is another host can be measured
directly; each flow starts with the worker's cookies cleared, as a new
user's browser would. --steps adds each step's latencies.`},
	{name: "refresh", summary: "measure refresh grants, each worker following a chain of its own",
		about: `Bench refresh measures the refresh grant: --concurrency workers each start a
chain with a whole authorization code flow (as bench flow runs one, not
measured), then POST refresh_token grants to {endpoint}/t/{tenant}/oauth2/token,
each with the refresh token the previous one returned, in a closed loop, for
--warmup without recording, then for --duration recorded. --chain N starts a
new chain after N refreshes (0: one chain for the whole run), so that short
and long chains can be compared; a chain also starts anew after a refresh
failed for a reason other than 429 or 503. A refresh succeeds when the answer
is 200 with an access token and a refresh token. The report adds the chains
started in the measured time, the share of the workers' time they took, and
the rate of refreshes in the rest of it. A chain that could not be started is
a failed refresh ("chain …").`},
}

// isFlow says whether a command runs code flows (flow and refresh).
func (c benchCommand) isFlow() bool { return c.name == "flow" || c.name == "refresh" }

// benchMore ends every bench command's help.
const benchMore = `The client authenticates with HTTP Basic (RFC 6749 §2.3.1) unless --auth post
puts client_id and client_secret in the body. The report gives the requests
(flows, refreshes) measured and their rate, the failures by kind (transport,
or the HTTP status, after the step's name for a flow) and the exact p50, p99,
p99.9 and maximum latency of every measured request, failures included.
Ctrl-C stops early and still reports. The exit status is 1 when not one
measured request succeeded (the first failure is printed), 2 for
a bad flag, 0 otherwise.`

// benchOptions are the flags of the bench commands.
type benchOptions struct {
	endpoint, tenant, clientID, clientSecret, auth, scope, token string
	concurrency                                                  int
	duration, warmup                                             time.Duration
	json                                                         bool
	// The code flow's (flow, refresh).
	redirectURI, loginClientID, loginClientSecret, subject string
	chain                                                  int
	steps                                                  bool
}

// run runs clavis-bench with args (without the program name) and
// returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	defer gctune.Start(getenv)() // the load generator allocates like the server
	// clavis-bench help token is clavis-bench token --help.
	if len(args) > 1 && args[0] == "help" {
		return run(ctx, append(slices.Clone(args[1:]), "--help"), getenv, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		benchUsage(w)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	i := slices.IndexFunc(benchCommands, func(c benchCommand) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "clavis-bench: unknown command %q\n\n", args[0])
		benchUsage(stderr)
		return exitUsage
	}
	cmd := benchCommands[i]
	name := "clavis-bench " + cmd.name

	o := &benchOptions{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	defaultEndpoint := getenv("CLAVIS_ENDPOINT")
	if defaultEndpoint == "" {
		defaultEndpoint = "http://127.0.0.1:8080"
	}
	fs.StringVar(&o.endpoint, "endpoint", defaultEndpoint, "base URL of a Clavis node (env CLAVIS_ENDPOINT)")
	fs.StringVar(&o.tenant, "tenant", getenv("CLAVIS_TENANT"), "tenant slug (env CLAVIS_TENANT)")
	fs.StringVar(&o.clientID, "client-id", "", "the client's client_id")
	fs.StringVar(&o.clientSecret, "client-secret", "", "the client's secret")
	fs.StringVar(&o.auth, "auth", "basic", "client authentication: basic (HTTP Basic) or post (client_id and client_secret in the body)")
	switch cmd.name {
	case "token":
		fs.StringVar(&o.scope, "scope", "", "scope to request, space-separated (default: none, the client's default scopes)")
	case "introspect":
		fs.StringVar(&o.token, "token", "", "the token to introspect")
	default:
		fs.StringVar(&o.redirectURI, "redirect-uri", "", "a redirect URI the client registered")
		fs.StringVar(&o.scope, "scope", "openid", "scope to request and consent to, space-separated")
		fs.StringVar(&o.loginClientID, "login-client-id", "", "the login application's client_id (a client holding clavis:login)")
		fs.StringVar(&o.loginClientSecret, "login-client-secret", "", "the login application's secret")
		fs.StringVar(&o.subject, "subject", "bench", "the user the login application signs in")
		if cmd.name == "flow" {
			fs.BoolVar(&o.steps, "steps", false, "also report each step's latencies")
		} else {
			fs.IntVar(&o.chain, "chain", 0, "refreshes after which a worker starts a new chain (0: never)")
		}
	}
	fs.IntVar(&o.concurrency, "concurrency", 64, "workers, each with one request in flight and its own connection")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "how long to send requests before measuring (not recorded)")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	usage := func(w io.Writer) {
		extra := ""
		switch {
		case cmd.name == "introspect":
			extra = " --token TOKEN"
		case cmd.isFlow():
			extra = " --redirect-uri URI \\\n      --login-client-id ID --login-client-secret SECRET"
		}
		fmt.Fprintf(w, "Usage:\n  %s --tenant SLUG --client-id ID --client-secret SECRET%s [flags]\n\n%s\n\n%s\n\nFlags:\n",
			name, extra, cmd.about, benchMore)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "%s: %v\n\n", name, err)
		usage(stderr)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n\n", name, fs.Arg(0))
		usage(stderr)
		return exitUsage
	}
	var (
		res      loadResult
		endpoint string
		report   = reportOptions{json: o.json}
	)
	if cmd.isFlow() {
		fp, err := o.flowPlan(cmd)
		if err != nil {
			usageErrors(stderr, name, err)
			return exitUsage
		}
		endpoint, report.steps, report.chains = fp.tenantURL, o.steps, cmd.name == "refresh"
		res, err = runFlows(ctx, fp)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitFailure
		}
	} else {
		cfg, err := o.plan(cmd)
		if err != nil {
			usageErrors(stderr, name, err)
			return exitUsage
		}
		endpoint = cfg.url
		res, err = runLoad(ctx, cfg)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return exitFailure
		}
	}
	if err := printLoad(stdout, endpoint, res, report); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailure
	}
	if res.succeeded() == 0 {
		switch {
		case res.requests > 0:
			fmt.Fprintf(stderr, "%s: not one request succeeded\n", name)
		case res.interrupted:
			fmt.Fprintf(stderr, "%s: interrupted before a request was measured\n", name)
		default:
			fmt.Fprintf(stderr, "%s: no request finished within --duration\n", name)
		}
		if res.firstFailure != "" {
			fmt.Fprintf(stderr, "first failure: %s\n", res.firstFailure)
		}
		return exitFailure
	}
	return exitOK
}

// usageErrors prints each line of err, the flags' problems.
func usageErrors(w io.Writer, name string, err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(w, "%s: %s\n", name, line)
	}
}

func benchUsage(w io.Writer) {
	fmt.Fprint(w, "Usage:\n  clavis-bench <command> [flags]\n\nCommands:\n")
	for _, c := range benchCommands {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun \"clavis-bench <command> --help\" for its flags.\n")
}

// plan checks the flags, reporting every problem at once, and
// builds the request every worker sends: its body and headers are made
// here, once.
func (o *benchOptions) plan(cmd benchCommand) (loadPlan, error) {
	errs := o.check()
	if cmd.name == "introspect" && o.token == "" {
		errs = append(errs, errors.New("--token is required: the token to introspect"))
	}
	if len(errs) > 0 {
		return loadPlan{}, errors.Join(errs...)
	}

	// application/x-www-form-urlencoded, in the order RFC 6749 shows.
	var body strings.Builder
	if cmd.name == "token" {
		body.WriteString("grant_type=client_credentials")
		if o.scope != "" {
			body.WriteString("&scope=" + url.QueryEscape(o.scope))
		}
	} else {
		body.WriteString("token=" + url.QueryEscape(o.token))
	}
	header := http.Header{
		"Content-Type": {"application/x-www-form-urlencoded"},
		"Accept":       {"application/json"},
	}
	if o.auth == "post" {
		body.WriteString(o.postAuth())
	} else {
		header.Set("Authorization", basicAuth(o.clientID, o.clientSecret))
	}
	return loadPlan{
		url:         o.tenantURL() + cmd.path,
		body:        []byte(body.String()),
		header:      header,
		success:     []byte(cmd.success),
		concurrency: o.concurrency,
		warmup:      o.warmup,
		duration:    o.duration,
	}, nil
}

// tenantURL is the tenant's base URL at the endpoint.
func (o *benchOptions) tenantURL() string {
	return strings.TrimRight(o.endpoint, "/") + "/t/" + url.PathEscape(o.tenant)
}

// postAuth is the client's credentials in a form body (--auth post).
func (o *benchOptions) postAuth() string {
	return "&client_id=" + url.QueryEscape(o.clientID) + "&client_secret=" + url.QueryEscape(o.clientSecret)
}

// check checks the flags every command has.
func (o *benchOptions) check() []error {
	var errs []error
	u, err := url.Parse(o.endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("--endpoint %q is not an http(s) URL", o.endpoint))
	}
	if o.tenant == "" {
		errs = append(errs, errors.New("--tenant (or CLAVIS_TENANT) is required"))
	}
	if o.clientID == "" {
		errs = append(errs, errors.New("--client-id is required"))
	}
	if o.clientSecret == "" {
		errs = append(errs, errors.New("--client-secret is required"))
	}
	if o.auth != "basic" && o.auth != "post" {
		errs = append(errs, fmt.Errorf("--auth must be basic or post, not %q", o.auth))
	}
	if o.concurrency < 1 {
		errs = append(errs, fmt.Errorf("--concurrency must be at least 1, not %d", o.concurrency))
	}
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("--duration must be positive, not %s", o.duration))
	}
	if o.warmup < 0 {
		errs = append(errs, fmt.Errorf("--warmup must not be negative, not %s", o.warmup))
	}
	return errs
}

// basicAuth is the Authorization header of a client authenticating with
// HTTP Basic as RFC 6749 §2.3.1 says: the client_id and the secret are
// each form-urlencoded (Appendix B) before they are joined and base64
// encoded, so an id or secret holding ":" or non-ASCII survives. (Go's
// Request.SetBasicAuth skips the form-encoding.)
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// Limits of one request.
const (
	loadRequestTimeout = 10 * time.Second
	// loadMaxBody is as much of an answer as is kept to look for success
	// in; the rest is read and discarded.
	loadMaxBody = 1 << 20
	// loadMaxFailureBody is as much of a failed answer's body as is shown.
	loadMaxFailureBody = 512
)

// loadPlan is one load run: the request every worker sends, and how
// many workers send it for how long.
type loadPlan struct {
	url     string
	body    []byte      // sent as is with every request
	header  http.Header // sent with every request; not changed
	success []byte      // a 200 whose body contains this succeeded

	concurrency int
	warmup      time.Duration // sent but not recorded
	duration    time.Duration // recorded
}

// loadResult is what a load run measured. Only operations that started
// after the warm-up and finished before the end (or the cancellation)
// count; one cut off by the end is neither a success nor a failure.
type loadResult struct {
	concurrency int
	requests    int            // measured operations, failures included
	errors      map[string]int // failed measured operations by kind: "transport", the HTTP status ("401"), or a step's ("token 400")
	latencies   []time.Duration
	warmup      int           // operations finished during the warm-up
	elapsed     time.Duration // the measured time: --duration unless interrupted
	// interrupted is whether the caller's context ended the run early.
	interrupted bool
	// firstFailure describes the first failed operation, warm-up
	// included: the transport error, or the status and up to
	// loadMaxFailureBody bytes of the body.
	firstFailure string
	// stepNames name the steps of an operation; steps holds each one's
	// sorted latencies, of measured operations.
	stepNames []string
	steps     [][]time.Duration
	// setups counts the unmeasured preparations (new refresh chains)
	// that ended in the measured time, and setupTime is the workers' time
	// they took in it.
	setups    int
	setupTime time.Duration
}

// succeeded is the number of measured operations that succeeded.
func (r loadResult) succeeded() int {
	n := r.requests
	for _, c := range r.errors {
		n -= c
	}
	return n
}

// rate is the measured operations per second.
func (r loadResult) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
}

// runLoad sends cfg's request from cfg.concurrency workers in a closed
// loop, each sending its next request as soon as its previous one has
// been answered, for cfg.warmup and then cfg.duration, and returns what it
// measured in the second period, with the latencies sorted. A request's
// latency runs from just before it is sent until its answer's body has
// been read. Cancelling ctx ends the run early; what was measured until
// then is returned, marked interrupted. The workers share one client
// whose transport keeps a connection per worker alive. An error means
// cfg is unusable.
func runLoad(ctx context.Context, cfg loadPlan) (loadResult, error) {
	if _, err := url.Parse(cfg.url); err != nil {
		return loadResult{}, fmt.Errorf("parse URL: %w", err)
	}
	client := loadClient(cfg.concurrency)
	defer client.CloseIdleConnections()
	run := loadRun{concurrency: cfg.concurrency, warmup: cfg.warmup, duration: cfg.duration}
	return runWorkers(ctx, run, func(int) loadOp { return newRequestOp(client, cfg) })
}

// loadRun is how long and by how many workers a load runs.
type loadRun struct {
	concurrency int
	warmup      time.Duration // run but not recorded
	duration    time.Duration // recorded
	// steps name the steps whose latencies an operation reports.
	steps []string
}

// loadOp is one worker's operation, run again and again. It is used by
// its worker alone.
type loadOp interface {
	do(ctx context.Context) opOutcome
}

// opOutcome is how one operation went.
type opOutcome struct {
	// failure is "" for a success, else the kind of failure to count.
	failure string
	// describe tells a failure in full (status, where it was sent, the
	// start of the body); it is called before the next operation.
	describe func() string
	// setup is the time the operation first spent on a preparation
	// that is not measured (a new refresh chain): its latency begins
	// after it.
	setup time.Duration
	// steps are the latencies of the operation's steps, by the index of
	// loadRun.steps, 0 for a step not taken; read before the next
	// operation.
	steps []time.Duration
}

// runWorkers runs cfg.concurrency workers, each with the operation newOp
// makes for it, in a closed loop for cfg.warmup and then cfg.duration,
// and returns what they measured in the second period, with the
// latencies sorted. Cancelling ctx ends the run early; what was measured
// until then is returned, marked interrupted. Each worker records into a
// tally of its own, merged at the end, so nothing is locked per
// operation. An error means cfg is unusable.
func runWorkers(ctx context.Context, cfg loadRun, newOp func(worker int) loadOp) (loadResult, error) {
	switch {
	case cfg.concurrency < 1:
		return loadResult{}, fmt.Errorf("concurrency %d is less than 1", cfg.concurrency)
	case cfg.duration <= 0:
		return loadResult{}, fmt.Errorf("duration %s is not positive", cfg.duration)
	case cfg.warmup < 0:
		return loadResult{}, fmt.Errorf("warm-up %s is negative", cfg.warmup)
	}
	start := time.Now()
	from := start.Add(cfg.warmup)
	end := from.Add(cfg.duration)
	runCtx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var first atomic.Pointer[string]
	tallies := make([]*loadTally, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() { tallies[i] = loadWorker(runCtx, newOp(i), len(cfg.steps), from, &first) })
	}
	wg.Wait()
	stopped := time.Now()

	res := loadResult{concurrency: cfg.concurrency, errors: map[string]int{}, interrupted: stopped.Before(end),
		stepNames: cfg.steps, steps: make([][]time.Duration, len(cfg.steps))}
	if res.interrupted {
		res.elapsed = max(0, stopped.Sub(from))
	} else {
		res.elapsed = cfg.duration
	}
	n := 0
	for _, t := range tallies {
		n += len(t.latencies)
	}
	res.latencies = make([]time.Duration, 0, n)
	for _, t := range tallies {
		res.latencies = append(res.latencies, t.latencies...)
		res.warmup += t.warmup
		res.setups += t.setups
		res.setupTime += t.setupTime
		for kind, c := range t.errors {
			res.errors[kind] += c
		}
		for i, ds := range t.steps {
			res.steps[i] = append(res.steps[i], ds...)
		}
	}
	slices.Sort(res.latencies)
	for _, ds := range res.steps {
		slices.Sort(ds)
	}
	res.requests = len(res.latencies)
	if f := first.Load(); f != nil {
		res.firstFailure = *f
	}
	return res, nil
}

// loadClient is a client for n workers: a connection each, kept alive
// between requests, HTTP/1.1, no compression (the client would pay for
// it, not the endpoint), no redirects followed (a redirect is an answer
// to count). It is fasthttp's: on a machine the load shares with the
// node, net/http's client took some 60% more CPU per request (two
// goroutines per connection), CPU the node then lacked.
func loadClient(n int) *fasthttp.Client {
	return &fasthttp.Client{
		MaxConnsPerHost:          n,
		MaxConnWaitTimeout:       loadRequestTimeout,
		MaxIdleConnDuration:      90 * time.Second,
		ReadTimeout:              loadRequestTimeout,
		WriteTimeout:             loadRequestTimeout,
		NoDefaultUserAgentHeader: true,
		// A request the server dropped is a transport error to count,
		// not one to send again (fasthttp retries even a POST when the
		// connection closed before the answer).
		RetryIf:                   func(*fasthttp.Request) bool { return false },
		MaxIdemponentCallAttempts: 1,
		Dial:                      (&fasthttp.TCPDialer{}).Dial,
	}
}

// loadTally is what one worker recorded.
type loadTally struct {
	latencies []time.Duration
	errors    map[string]int
	steps     [][]time.Duration
	warmup    int
	setups    int
	setupTime time.Duration
}

// loadWorker runs op until ctx ends, recording the operations that
// started (after their setup) at or after from. An operation cut off by
// ctx's end is not recorded. The first failure, warm-up included, is
// stored in first.
func loadWorker(ctx context.Context, op loadOp, steps int, from time.Time, first *atomic.Pointer[string]) *loadTally {
	t := &loadTally{latencies: make([]time.Duration, 0, 1024), errors: map[string]int{}, steps: make([][]time.Duration, steps)}
	for ctx.Err() == nil {
		began := time.Now()
		o := op.do(ctx)
		ended := time.Now()
		if ctx.Err() != nil {
			break // cut off by the end of the run: neither success nor failure
		}
		if o.failure != "" && first.Load() == nil {
			msg := o.describe()
			first.CompareAndSwap(nil, &msg)
		}
		measuredFrom := began.Add(o.setup)
		if o.setup > 0 && measuredFrom.After(from) {
			t.setups++
			t.setupTime += measuredFrom.Sub(later(began, from))
		}
		if measuredFrom.Before(from) {
			t.warmup++
			continue
		}
		t.latencies = append(t.latencies, ended.Sub(measuredFrom))
		if o.failure != "" {
			t.errors[o.failure]++
		}
		for i, d := range o.steps {
			if d > 0 {
				t.steps[i] = append(t.steps[i], d)
			}
		}
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// requestOp sends one request again and again: the token and introspect
// commands' operation.
type requestOp struct {
	client  *fasthttp.Client
	req     *fasthttp.Request
	resp    *fasthttp.Response
	success []byte
}

func newRequestOp(client *fasthttp.Client, cfg loadPlan) *requestOp {
	o := &requestOp{client: client, req: &fasthttp.Request{}, resp: &fasthttp.Response{}, success: cfg.success}
	o.req.SetRequestURI(cfg.url)
	o.req.Header.SetMethod(fasthttp.MethodPost)
	for k, vs := range cfg.header {
		for _, v := range vs {
			o.req.Header.Add(k, v)
		}
	}
	o.req.SetBody(cfg.body)
	return o
}

func (o *requestOp) do(context.Context) opOutcome {
	// Do, not DoDeadline: fasthttp's deadline variants lend the
	// request's body to a goroutine of their own and give back an
	// empty one. The client's read and write timeouts bound a request.
	err := o.client.Do(o.req, o.resp)
	if err != nil {
		return opOutcome{failure: "transport", describe: func() string { return describeFailure(err, 0, nil) }}
	}
	status, body := o.resp.StatusCode(), o.resp.Body()
	if status == fasthttp.StatusOK && bytes.Contains(body[:min(len(body), loadMaxBody)], o.success) {
		return opOutcome{}
	}
	return opOutcome{failure: strconv.Itoa(status), describe: func() string { return describeFailure(nil, status, body) }}
}

// describeFailure describes a failed request: its transport error, or its
// answer's status and the start of its body.
func describeFailure(err error, status int, body []byte) string {
	if err != nil {
		return err.Error()
	}
	truncated := ""
	if len(body) > loadMaxFailureBody {
		body, truncated = body[:loadMaxFailureBody], "\n[truncated]"
	}
	return fmt.Sprintf("%d %s\n%s%s", status, http.StatusText(status), body, truncated)
}

// latencyPercentile returns the latency below or at which perMille
// thousandths of the sorted latencies lie: p50 is 500, p99 990, p99.9 999
// and the maximum 1000. It is exact, by the nearest-rank method: the
// value at rank ⌈perMille·n/1000⌉ (counting from 1), always one that was
// measured, never an interpolation or a histogram bucket's bound. It
// computes the rank in integers, so p99.9 of 1000 values is the 999th.
// No latencies give 0.
func latencyPercentile(sorted []time.Duration, perMille int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (perMille*n + 999) / 1000
	return sorted[min(max(rank, 1), n)-1]
}
