package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// The audit commands: `clavis audit log|show|checkpoint|export` read a
// tenant's audit API over HTTP, with an auditor's token (clavis:audit)
// or an admin's; `clavis audit verify` checks an export offline, trusting
// only the verifier keys and checkpoints the auditor holds, or checks a
// store directly, as its operator.

// auditCommands are the audit commands over HTTP.
var auditCommands = []apiCommand{
	{group: "audit", name: "log", summary: "list the tenant's audit log: who changed what, when and why (all pages with --all)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.auditClient, "client", "", "only this client's events")
			fs.StringVar(&o.auditAggregate, "aggregate", "", "only this aggregate's events: tenant, client or webhook")
			fs.StringVar(&o.typ, "type", "", "only this event type")
			fs.StringVar(&o.auditActor, "actor", "", "only this actor's events (root, client:{id}, …)")
			fs.StringVar(&o.auditSince, "since", "", "only events recorded at or after this RFC 3339 time")
			fs.StringVar(&o.auditUntil, "until", "", "only events recorded before this RFC 3339 time")
			fs.IntVar(&o.limit, "limit", 100, "page size")
			fs.BoolVar(&o.all, "all", false, "follow the cursor through every page")
		},
		run: auditLog},
	{group: "audit", name: "show", args: "<client_id> [<t2>]", nargs: 1, optional: 1,
		summary: "show a client as it was at an instant (--at), or what changed between two (--diff t1 t2)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.auditAt, "at", "", "the instant: an RFC 3339 time or a store position (commit.seq); default now")
			fs.StringVar(&o.auditDiff, "diff", "", "the first of two instants (the second follows the client_id): print what changed between them")
		},
		run: auditShow},
	{group: "audit", name: "checkpoint", summary: "print the tenant's latest signed checkpoint (save it to check later exports against)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			return c.stream(ctx, auditPath(o, "/checkpoint"), c.out)
		}},
	{group: "audit", name: "export", summary: "export the tenant's audit log up to a signed checkpoint, for clavis audit verify",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.Int64Var(&o.auditSize, "size", 0, "the size of a signed checkpoint (default: the latest)")
			fs.StringVar(&o.out, "o", "", "file to write (default: standard output)")
		},
		run: auditExport},
}

func init() { apiCommands = append(apiCommands, auditCommands...) }

// auditPath is the path of a route of the tenant's audit API.
func auditPath(o *apiOptions, p string) string {
	return "/t/" + url.PathEscape(o.tenant) + "/audit" + p
}

// auditLogColumns are the columns of `clavis audit log`.
var auditLogColumns = []string{"index", "recorded_at", "actor", "type", "stream_id", "version", "reason", "changed"}

func auditLog(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
	q := url.Values{}
	for k, v := range map[string]string{"client": o.auditClient, "aggregate": o.auditAggregate, "type": o.typ, "actor": o.auditActor,
		"since": o.auditSince, "until": o.auditUntil, "limit": strconv.Itoa(o.limit)} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var all []map[string]any
	for {
		data, err := c.do(ctx, http.MethodGet, auditPath(o, "/events")+"?"+q.Encode(), nil, nil)
		if err != nil {
			return err
		}
		var page struct {
			Events []map[string]any `json:"events"`
			Next   *int64           `json:"next"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return fmt.Errorf("answer is not a page of events: %w", err)
		}
		all = append(all, page.Events...)
		if !o.all || page.Next == nil {
			break
		}
		q.Set("after", strconv.FormatInt(*page.Next, 10))
	}
	if o.json {
		b, _ := json.MarshalIndent(map[string]any{"events": all}, "", "  ")
		_, err := c.out.Write(append(b, '\n'))
		return err
	}
	for _, e := range all {
		var fields []any
		changes, _ := e["changes"].([]any)
		for _, ch := range changes {
			if m, ok := ch.(map[string]any); ok {
				fields = append(fields, m["field"])
			}
		}
		e["changed"] = fields
	}
	return table(c.out, auditLogColumns, all)
}

// auditShow prints a client at an instant, or the members that changed
// between two.
func auditShow(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
	at := func(instant string) (map[string]json.RawMessage, error) {
		p := auditPath(o, "/clients/"+url.PathEscape(a[0]))
		if instant != "" {
			p += "?" + url.Values{"at": {instant}}.Encode()
		}
		data, err := c.do(ctx, http.MethodGet, p, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("the client at %q: %w", instant, err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("answer is not a JSON object: %w", err)
		}
		return m, nil
	}
	if o.auditDiff == "" {
		if len(a) > 1 {
			return usageError("a second instant needs --diff <t1>")
		}
		m, err := at(o.auditAt)
		if err != nil {
			return err
		}
		b, _ := json.Marshal(m)
		if o.json {
			_, err = c.out.Write(append(indent(b), '\n'))
			return err
		}
		return c.table(b, append(slices.Clone(clientColumns[:len(clientColumns)-1]), "deleted", "at"))
	}
	if len(a) < 2 || o.auditAt != "" {
		return usageError("--diff takes two instants: --diff <t1> <t2>, without --at")
	}
	p := auditPath(o, "/clients/"+url.PathEscape(a[0])+"/changes") + "?" + url.Values{"from": {o.auditDiff}, "to": {a[1]}}.Encode()
	data, err := c.do(ctx, http.MethodGet, p, nil, nil)
	if err != nil {
		return fmt.Errorf("the changes from %q to %q: %w", o.auditDiff, a[1], err)
	}
	if o.json {
		_, err = c.out.Write(append(indent(data), '\n'))
		return err
	}
	var answer struct {
		Changes []memberChange `json:"changes"`
	}
	if err := json.Unmarshal(data, &answer); err != nil {
		return fmt.Errorf("answer: %w", err)
	}
	changes := answer.Changes
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tBEFORE\tAFTER")
	for _, ch := range changes {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ch.Field, shownJSON(ch.Before), shownJSON(ch.After))
	}
	return tw.Flush()
}

// memberChange is a member of a client that differs between two
// instants.
type memberChange struct {
	Field  string          `json:"field"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after"`
}

// shownJSON is a JSON value in a table cell: "-" when absent.
func shownJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "-"
	}
	return escapeForged(string(raw))
}

func auditExport(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
	p := auditPath(o, "/export")
	if o.auditSize < 0 {
		return usageError("--size must be a checkpoint's size")
	}
	if o.auditSize > 0 {
		p += "?size=" + strconv.FormatInt(o.auditSize, 10)
	}
	if o.out == "" || o.out == "-" {
		return c.stream(ctx, p, c.out)
	}
	tmp := o.out + ".partial"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = c.stream(ctx, p, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, o.out)
}

// stream writes the body of a 2xx answer to GET path to w as it comes;
// an error answer becomes an error as [apiClient.do] makes it.
func (c *apiClient) stream(ctx context.Context, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// An export may take longer than one API call.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return problemError(resp, data)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("read the answer: %w", err)
	}
	return nil
}

// problemError is the error of a non-2xx answer: its problem's title,
// detail and field errors when it is one.
func problemError(resp *http.Response, data []byte) error {
	var p struct {
		Title, Detail string
		Errors        []struct{ Field, Message string }
	}
	if json.Unmarshal(data, &p) == nil && p.Title != "" {
		msg := fmt.Sprintf("%d %s", resp.StatusCode, p.Title)
		if p.Detail != "" {
			msg += ": " + p.Detail
		}
		for _, e := range p.Errors {
			msg += fmt.Sprintf("\n  %s: %s", e.Field, e.Message)
		}
		return errors.New(msg)
	}
	return fmt.Errorf("%s", resp.Status)
}

// usageErr is a command's misuse: it exits with status 2.
type usageErr struct{ msg string }

func (e usageErr) Error() string { return e.msg }

func usageError(msg string) error { return usageErr{msg} }

// ---- clavis audit verify

// auditVerifySummary is verify's line in the audit commands' help.
const auditVerifySummary = "verify an export offline (exit 0 only when everything verifies), or a store directly"

const auditVerifyUsage = `Usage:
  clavis audit verify <export.jsonl> --key <verifier key or file> [--key …] [--checkpoint <file>]…
  clavis audit verify --tenant <slug> (--database-url <url> | --data-dir <dir>) [--checkpoint <file>]…

Verify checks a tenant's audit log. With an export (clavis audit export, or
GET /t/{tenant}/audit/export), it trusts nothing the server says but the
verifier keys given (GET /t/{tenant}/audit/key; a key, or a file of keys, one
a line) and the checkpoints saved earlier (clavis audit checkpoint): it
recomputes every leaf from its event and the tree's root, checks the
checkpoint's signature and root, and that the history agrees with every
saved checkpoint. With --database-url or --data-dir instead, the operator's
self-check, it opens the event store and its audit log directly, exports the
tenant itself and verifies that with every verifier key the tenant's history
holds; no server is needed.

It prints each failure, the first event that fails first, then a summary.
Exit status: 0 when everything verifies, 1 when something does not, 2 on a
usage error.

Flags:
`

// auditVerifyOptions are the flags of `clavis audit verify`.
type auditVerifyOptions struct {
	keys, checkpoints            multiFlag
	tenant, databaseURL, dataDir string
}

// auditVerify runs `clavis audit verify` and returns the exit status.
func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o auditVerifyOptions
	fs := flag.NewFlagSet("clavis audit verify", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&o.keys, "key", "a verifier key (name+hash+base64), or a file of them, one a line (repeatable)")
	fs.Var(&o.checkpoints, "checkpoint", "a file holding a signed checkpoint saved earlier (repeatable)")
	fs.StringVar(&o.tenant, "tenant", getenv("CLAVIS_TENANT"), "with a store: the tenant to check (env CLAVIS_TENANT)")
	fs.StringVar(&o.databaseURL, "database-url", "", "with a store: the PostgreSQL event store (env CLAVIS_DATABASE_URL)")
	fs.StringVar(&o.dataDir, "data-dir", "", "with a store: the data directory of an embedded SQLite store (env CLAVIS_DATA_DIR)")
	usage := func(w io.Writer) {
		fmt.Fprint(w, auditVerifyUsage)
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	misuse := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "clavis audit verify: "+format+"\n\n", a...)
		usage(stderr)
		return exitUsage
	}
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				usage(stdout)
				return exitOK
			}
			return misuse("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	var saved [][]byte
	for _, name := range o.checkpoints {
		b, err := os.ReadFile(name)
		if err != nil {
			return misuse("--checkpoint: %v", err)
		}
		saved = append(saved, b)
	}
	var (
		rep *auditlog.Report
		err error
	)
	switch {
	case len(positional) == 1:
		if o.databaseURL != "" || o.dataDir != "" || o.tenant != "" {
			return misuse("give an export file, or --tenant with --database-url or --data-dir, not both")
		}
		keys, kerr := readVerifierKeys(o.keys)
		if kerr != nil {
			return misuse("%v", kerr)
		}
		if len(keys) == 0 {
			return misuse("--key is required with an export: the tenant's verifier key (GET /t/{tenant}/audit/key)")
		}
		rep, err = verifyFile(positional[0], keys, saved)
	case len(positional) > 1:
		return misuse("want one export file, got %d arguments", len(positional))
	default:
		if o.databaseURL == "" && o.dataDir == "" {
			o.databaseURL, o.dataDir = getenv("CLAVIS_DATABASE_URL"), getenv("CLAVIS_DATA_DIR")
		}
		switch {
		case o.databaseURL == "" && o.dataDir == "":
			return misuse("give an export file, or --database-url or --data-dir")
		case o.tenant == "":
			return misuse("--tenant is required with a store")
		case !tenant.ValidSlug(o.tenant):
			return misuse("--tenant %q is not a tenant slug", o.tenant)
		case len(o.keys) > 0:
			return misuse("--key is for exports: with a store, the tenant's own verifier keys are used")
		}
		if o.dataDir == "" {
			o.dataDir = defaultDataDir
		}
		rep, err = verifyStore(ctx, node.Config{DatabaseURL: o.databaseURL, DataDir: o.dataDir}, o.tenant, saved)
	}
	if err != nil {
		fmt.Fprintf(stderr, "clavis audit verify: %v\n", err)
		if rep == nil {
			return exitFailure
		}
		// What was read verified, but not the rest: the summary must
		// not say that everything does.
		rep.Failures = append(rep.Failures, auditlog.Failure{Index: -1, Problem: fmt.Sprintf("the export cannot be read to its end: %v", err)})
	}
	printReport(stdout, rep)
	if err != nil || !rep.OK() {
		return exitFailure
	}
	return exitOK
}

// readVerifierKeys reads each --key: a verifier key itself, or a file of
// them, one a line (blank lines and lines starting with # skipped).
func readVerifierKeys(args []string) ([]string, error) {
	var keys []string
	for _, k := range args {
		if _, _, err := tenant.ParseAuditVerifier(strings.TrimSpace(k)); err == nil {
			keys = append(keys, strings.TrimSpace(k))
			continue
		}
		b, err := os.ReadFile(k)
		if err != nil {
			return nil, fmt.Errorf("--key %q is neither a verifier key nor a readable file", k)
		}
		for line := range strings.Lines(string(b)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if _, _, err := tenant.ParseAuditVerifier(line); err != nil {
				return nil, fmt.Errorf("--key %s: %q is not a verifier key: %v", k, line, err)
			}
			keys = append(keys, line)
		}
	}
	return keys, nil
}

func verifyFile(name string, keys []string, saved [][]byte) (*auditlog.Report, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return auditlog.Verify(f, keys, saved...)
}

// verifyStore exports tenant slug's audit log from the store cfg selects
// through a pipe, and verifies it with the verifier keys of every audit
// key the tenant's history holds.
func verifyStore(ctx context.Context, cfg node.Config, slug string, saved [][]byte) (*auditlog.Report, error) {
	log := slog.New(slog.DiscardHandler)
	store, err := node.OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	keys, err := tenantVerifiers(ctx, store, slug)
	if err != nil {
		return nil, err
	}
	l, err := openAuditLog(store, log)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	exported := make(chan error, 1)
	go func() {
		err := l.Export(ctx, slug, 0, pw)
		pw.CloseWithError(err)
		exported <- err
	}()
	rep, verr := auditlog.Verify(pr, keys, saved...)
	pr.CloseWithError(errors.New("verification stopped"))
	if err := <-exported; err != nil {
		return rep, fmt.Errorf("export tenant %q: %w", slug, err)
	}
	return rep, verr
}

// tenantVerifiers returns the verifier keys of every audit key tenant
// slug's history holds, the domain's fold of its stream.
func tenantVerifiers(ctx context.Context, store eventstore.Store, slug string) ([]string, error) {
	history, _, err := aggregate.Load(ctx, store, tenants.TenantStream(slug), tenant.Decode)
	if err != nil {
		return nil, fmt.Errorf("read tenant %q: %w", slug, err)
	}
	agg, err := tenant.Replay(history)
	if err != nil {
		return nil, fmt.Errorf("fold tenant %q: %w", slug, err)
	}
	if agg.Version() == 0 {
		return nil, fmt.Errorf("the store holds no tenant %q", slug)
	}
	keys := tenant.AuditVerifiers(agg.AuditKeys())
	if len(keys) == 0 {
		return nil, fmt.Errorf("tenant %q has no audit key", slug)
	}
	return keys, nil
}

// printReport prints each failure, first first, and a summary line.
func printReport(w io.Writer, rep *auditlog.Report) {
	for _, f := range rep.Failures {
		fmt.Fprintf(w, "FAIL %s\n", f)
	}
	if rep.Omitted > 0 {
		fmt.Fprintf(w, "FAIL … and %d more\n", rep.Omitted)
	}
	what := fmt.Sprintf("tenant %s: %d entries against the checkpoint of size %d (root %s), %d saved checkpoint(s)",
		rep.Tenant, rep.Entries, rep.Checkpoint.Size, rep.Checkpoint.Root, rep.Saved)
	if rep.OK() {
		fmt.Fprintf(w, "OK %s: everything verifies\n", what)
		return
	}
	fmt.Fprintf(w, "FAILED %s: %d failure(s)\n", what, len(rep.Failures)+rep.Omitted)
}

// openAuditLog opens the audit log kept in the database of store.
func openAuditLog(store node.Backend, log *slog.Logger) (*auditlog.Log, error) {
	as, err := node.AuditStore(store)
	if err != nil {
		return nil, err
	}
	return auditlog.New(as, store, log)
}
