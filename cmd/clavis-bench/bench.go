package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
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
}

// benchMore ends every bench command's help.
const benchMore = `The client authenticates with HTTP Basic (RFC 6749 §2.3.1) unless --auth post
puts client_id and client_secret in the body. The report gives the requests
measured and their rate, the failures by kind (transport, or the HTTP status)
and the exact p50, p99, p99.9 and maximum latency of every measured request,
failures included. Ctrl-C stops early and still reports. The exit status is 1
when not one measured request succeeded (the first failure is printed), 2 for
a bad flag, 0 otherwise.`

// benchOptions are the flags of the bench commands.
type benchOptions struct {
	endpoint, tenant, clientID, clientSecret, auth, scope, token string
	concurrency                                                  int
	duration, warmup                                             time.Duration
	json                                                         bool
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
	endpoint := getenv("CLAVIS_ENDPOINT")
	if endpoint == "" {
		endpoint = "http://127.0.0.1:8080"
	}
	fs.StringVar(&o.endpoint, "endpoint", endpoint, "base URL of a Clavis node (env CLAVIS_ENDPOINT)")
	fs.StringVar(&o.tenant, "tenant", getenv("CLAVIS_TENANT"), "tenant slug (env CLAVIS_TENANT)")
	fs.StringVar(&o.clientID, "client-id", "", "the client's client_id")
	fs.StringVar(&o.clientSecret, "client-secret", "", "the client's secret")
	fs.StringVar(&o.auth, "auth", "basic", "client authentication: basic (HTTP Basic) or post (client_id and client_secret in the body)")
	if cmd.name == "token" {
		fs.StringVar(&o.scope, "scope", "", "scope to request, space-separated (default: none, the client's default scopes)")
	} else {
		fs.StringVar(&o.token, "token", "", "the token to introspect")
	}
	fs.IntVar(&o.concurrency, "concurrency", 64, "workers, each with one request in flight and its own connection")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "how long to send requests before measuring (not recorded)")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	usage := func(w io.Writer) {
		extra := ""
		if cmd.name == "introspect" {
			extra = " --token TOKEN"
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
	cfg, err := o.plan(cmd)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "%s: %s\n", name, line)
		}
		return exitUsage
	}

	res, err := runLoad(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFailure
	}
	if err := printLoad(stdout, cfg, res, o.json); err != nil {
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
	if cmd.name == "introspect" && o.token == "" {
		errs = append(errs, errors.New("--token is required: the token to introspect"))
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
		body.WriteString("&client_id=" + url.QueryEscape(o.clientID) + "&client_secret=" + url.QueryEscape(o.clientSecret))
	} else {
		header.Set("Authorization", basicAuth(o.clientID, o.clientSecret))
	}
	return loadPlan{
		url:         strings.TrimRight(o.endpoint, "/") + "/t/" + url.PathEscape(o.tenant) + cmd.path,
		body:        []byte(body.String()),
		header:      header,
		success:     []byte(cmd.success),
		concurrency: o.concurrency,
		warmup:      o.warmup,
		duration:    o.duration,
	}, nil
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

// loadResult is what a load run measured. Only requests that started
// after the warm-up and finished before the end (or the cancellation)
// count; one cut off by the end is neither a success nor a failure.
type loadResult struct {
	requests  int            // measured requests, failures included
	errors    map[string]int // failed measured requests: "transport", or the HTTP status ("401")
	latencies []time.Duration
	warmup    int           // requests answered during the warm-up
	elapsed   time.Duration // the measured time: --duration unless interrupted
	// interrupted is whether the caller's context ended the run early.
	interrupted bool
	// firstFailure describes the first failed request, warm-up included:
	// the transport error, or the status and up to loadMaxFailureBody
	// bytes of the body.
	firstFailure string
}

// succeeded is the number of measured requests that succeeded.
func (r loadResult) succeeded() int {
	n := r.requests
	for _, c := range r.errors {
		n -= c
	}
	return n
}

// rate is the measured requests per second.
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
// been read and closed. Cancelling ctx ends the run early; what was
// measured until then is returned, marked interrupted. The workers share
// one client whose transport keeps a connection per worker alive; each
// worker records into its own tally, merged at the end, so nothing is
// locked per request. An error means cfg is unusable.
func runLoad(ctx context.Context, cfg loadPlan) (loadResult, error) {
	switch {
	case cfg.concurrency < 1:
		return loadResult{}, fmt.Errorf("concurrency %d is less than 1", cfg.concurrency)
	case cfg.duration <= 0:
		return loadResult{}, fmt.Errorf("duration %s is not positive", cfg.duration)
	case cfg.warmup < 0:
		return loadResult{}, fmt.Errorf("warm-up %s is negative", cfg.warmup)
	}
	if _, err := url.Parse(cfg.url); err != nil {
		return loadResult{}, fmt.Errorf("parse URL: %w", err)
	}
	client := loadClient(cfg.concurrency)
	defer client.CloseIdleConnections()

	start := time.Now()
	from := start.Add(cfg.warmup)
	end := from.Add(cfg.duration)
	runCtx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var first atomic.Pointer[string]
	tallies := make([]*loadTally, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		wg.Go(func() { tallies[i] = loadWorker(runCtx, client, cfg, from, &first) })
	}
	wg.Wait()
	stopped := time.Now()

	res := loadResult{errors: map[string]int{}, interrupted: stopped.Before(end)}
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
		if t.transport > 0 {
			res.errors["transport"] += t.transport
		}
		for code, c := range t.statuses {
			res.errors[strconv.Itoa(code)] += c
		}
	}
	slices.Sort(res.latencies)
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
	transport int         // failed without an answer
	statuses  map[int]int // failed with an answer, by status
	warmup    int
}

// loadWorker sends cfg's request until ctx ends, recording the requests
// that started at or after from. A request cut off by ctx's end is not
// recorded. The first failure, warm-up included, is stored in first.
func loadWorker(ctx context.Context, client *fasthttp.Client, cfg loadPlan, from time.Time, first *atomic.Pointer[string]) *loadTally {
	t := &loadTally{latencies: make([]time.Duration, 0, 1024), statuses: map[int]int{}}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(cfg.url)
	req.Header.SetMethod(fasthttp.MethodPost)
	for k, vs := range cfg.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.SetBody(cfg.body)
	for ctx.Err() == nil {
		began := time.Now()
		// Do, not DoDeadline: fasthttp's deadline variants lend the
		// request's body to a goroutine of their own and give back an
		// empty one. The client's read and write timeouts bound a request.
		err := client.Do(req, resp)
		status, ok := 0, false // 0: a transport error
		body := resp.Body()
		if err == nil {
			status = resp.StatusCode()
			ok = status == fasthttp.StatusOK && bytes.Contains(body[:min(len(body), loadMaxBody)], cfg.success)
		}
		took := time.Since(began)
		if ctx.Err() != nil {
			break // cut off by the end of the run: neither success nor failure
		}
		if !ok && first.Load() == nil {
			msg := describeFailure(err, status, body)
			first.CompareAndSwap(nil, &msg)
		}
		if began.Before(from) {
			t.warmup++
			continue
		}
		t.latencies = append(t.latencies, took)
		switch {
		case ok:
		case status == 0:
			t.transport++
		default:
			t.statuses[status]++
		}
	}
	return t
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

// loadReport is the --json output of a bench command.
type loadReport struct {
	Endpoint          string         `json:"endpoint"`
	Concurrency       int            `json:"concurrency"`
	DurationSeconds   float64        `json:"duration_seconds"`
	Interrupted       bool           `json:"interrupted"`
	Requests          int            `json:"requests"`
	RequestsPerSecond float64        `json:"requests_per_second"`
	Errors            map[string]int `json:"errors"`
	P50MS             float64        `json:"p50_ms"`
	P99MS             float64        `json:"p99_ms"`
	P999MS            float64        `json:"p999_ms"`
	MaxMS             float64        `json:"max_ms"`
}

// printLoad prints what a run measured, as a table or as one JSON object.
func printLoad(w io.Writer, cfg loadPlan, r loadResult, asJSON bool) error {
	p50, p99 := latencyPercentile(r.latencies, 500), latencyPercentile(r.latencies, 990)
	p999, maxd := latencyPercentile(r.latencies, 999), latencyPercentile(r.latencies, 1000)
	if asJSON {
		ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
		b, err := json.MarshalIndent(loadReport{
			Endpoint: cfg.url, Concurrency: cfg.concurrency,
			DurationSeconds: r.elapsed.Seconds(), Interrupted: r.interrupted,
			Requests: r.requests, RequestsPerSecond: r.rate(), Errors: r.errors,
			P50MS: ms(p50), P99MS: ms(p99), P999MS: ms(p999), MaxMS: ms(maxd),
		}, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(append(b, '\n'))
		return err
	}
	duration := r.elapsed.Round(time.Millisecond).String()
	if r.interrupted {
		duration += " (interrupted)"
	}
	failed := r.requests - r.succeeded()
	errs := strconv.Itoa(failed)
	if failed > 0 {
		kinds := make([]string, 0, len(r.errors))
		for _, k := range slices.Sorted(maps.Keys(r.errors)) {
			kinds = append(kinds, fmt.Sprintf("%s: %d", k, r.errors[k]))
		}
		errs += " (" + strings.Join(kinds, ", ") + ")"
	}
	_, err := fmt.Fprintf(w, "%-13s%s\n%-13s%d\n%-13s%s\n%-13s%d (%.1f/s)\n%-13s%s\n%-13sp50 %s  p99 %s  p999 %s  max %s\n",
		"endpoint", cfg.url,
		"concurrency", cfg.concurrency,
		"duration", duration,
		"requests", r.requests, r.rate(),
		"errors", errs,
		"latency", fmtMS(p50), fmtMS(p99), fmtMS(p999), fmtMS(maxd))
	return err
}

// fmtMS prints a latency in milliseconds: to a tenth, or to a thousandth
// below one.
func fmtMS(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 1 {
		return strconv.FormatFloat(ms, 'f', 3, 64) + "ms"
	}
	return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
}
