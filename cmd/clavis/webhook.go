package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The webhook commands: `clavis webhook …` manage a tenant's webhook
// endpoints over its admin API, with the root token or a token holding
// clavis:admin (clavis:clients:write does not open them).

// webhookCommands are the webhook commands over HTTP.
var webhookCommands = []apiCommand{
	{group: "webhook", name: "create", write: true, summary: "create a webhook endpoint (its signing secret, whsec_…, is shown once)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.webhookURL, "url", "", "the https URL that receives the deliveries (required)")
			fs.Var(&o.webhookTypes, "type", "an event type pattern to deliver: client.created, client.*, * (repeatable; default: every type)")
			fs.StringVar(&o.description, "description", "", "what the endpoint is for")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			if o.webhookURL == "" {
				return usageError("--url is required")
			}
			body := map[string]any{"url": o.webhookURL, "types": []string(o.webhookTypes), "description": o.description}
			return c.printWebhook(ctx, http.MethodPost, webhookPath(c, o, ""), body, nil, o)
		}},
	{group: "webhook", name: "list", summary: "list the tenant's webhook endpoints and how their deliveries stand",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
			data, err := c.do(ctx, http.MethodGet, webhookPath(c, o, ""), nil, nil)
			if err != nil || o.json {
				return c.raw(data, err)
			}
			var list struct {
				Webhooks []map[string]any `json:"webhooks"`
			}
			if err := json.Unmarshal(data, &list); err != nil {
				return fmt.Errorf("answer has no webhooks list: %w", err)
			}
			for _, w := range list.Webhooks {
				flattenDelivery(w)
			}
			return table(c.out, webhookColumns, list.Webhooks)
		}},
	{group: "webhook", name: "get", args: "<id>", nargs: 1, summary: "show a webhook endpoint and how its deliveries stand",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.printWebhook(ctx, http.MethodGet, webhookPath(c, o, a[0]), nil, nil, o)
		}},
	{group: "webhook", name: "update", write: true, args: "<id>", nargs: 1, summary: "change an endpoint's URL, event types or description",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.webhookURL, "url", "", "the new URL")
			fs.Var(&o.webhookTypes, "type", "an event type pattern; the ones given replace the endpoint's (repeatable; * for every type)")
			fs.Var(&o.webhookDescription, "description", `the new description ("" clears it)`)
			fs.StringVar(&o.ifVersion, "if-version", "", "only if the endpoint is at this version (If-Match)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			body := map[string]any{}
			if o.webhookURL != "" {
				body["url"] = o.webhookURL
			}
			if len(o.webhookTypes) > 0 {
				body["types"] = []string(o.webhookTypes)
			}
			if o.webhookDescription.set {
				body["description"] = o.webhookDescription.v
			}
			if len(body) == 0 {
				return usageError("nothing to change: give --url, --type or --description")
			}
			h := http.Header{"Content-Type": {"application/merge-patch+json"}}
			if o.ifVersion != "" {
				h.Set("If-Match", strconv.Quote(o.ifVersion))
			}
			return c.printWebhook(ctx, http.MethodPatch, webhookPath(c, o, a[0]), body, h, o)
		}},
	{group: "webhook", name: "rotate-secret", write: true, args: "<id>", nargs: 1,
		summary: "give an endpoint a new signing secret (shown once); the current one keeps signing beside it for the overlap",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.DurationVar(&o.overlap, "overlap", 24*time.Hour, "how long the current secret keeps signing too (at most 168h)")
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if o.overlap < 0 {
				return usageError("--overlap must not be negative")
			}
			body := map[string]any{"overlap_seconds": int64(o.overlap / time.Second)}
			return c.printWebhook(ctx, http.MethodPost, webhookPath(c, o, a[0])+"/secret/rotate", body, nil, o)
		}},
	{group: "webhook", name: "activate", write: true, args: "<id>", nargs: 1, summary: "turn deliveries on again, from where they stopped",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.printWebhook(ctx, http.MethodPost, webhookPath(c, o, a[0])+"/activate", nil, nil, o)
		}},
	{group: "webhook", name: "deactivate", write: true, args: "<id>", nargs: 1, summary: "stop deliveries (--reason says why; it is shown with the endpoint)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.printWebhook(ctx, http.MethodPost, webhookPath(c, o, a[0])+"/deactivate", nil, nil, o)
		}},
	{group: "webhook", name: "deliveries", args: "<id>", nargs: 1, summary: "list an endpoint's delivery attempts, newest first (all pages with --all)",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.IntVar(&o.limit, "limit", 50, "page size (at most 1000)")
			fs.Int64Var(&o.webhookBefore, "before", 0, "only attempts older than this one (the next of a previous page)")
			fs.BoolVar(&o.all, "all", false, "follow next through every page")
		},
		run: webhookDeliveries},
	{group: "webhook", name: "replay", write: true, args: "<id>", nargs: 1,
		summary: `deliver again (or skip ahead) from a cursor: the events after --from; --from "" starts at the tenant's first event`,
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.Var(&o.webhookFrom, "from", `the events API cursor to deliver after (required; "" for the tenant's first event)`)
		},
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if !o.webhookFrom.set {
				return usageError(`--from is required: a cursor, or "" to deliver every event of the tenant again`)
			}
			body := map[string]any{"from": o.webhookFrom.v}
			return c.printWebhook(ctx, http.MethodPost, webhookPath(c, o, a[0])+"/replay", body, nil, o)
		}},
	{group: "webhook", name: "resend", args: "<id> <cursor>", nargs: 2, summary: "send one event to the endpoint again and show the attempt",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.printAttempt(ctx, webhookPath(c, o, a[0])+"/resend", map[string]any{"event": a[1]}, o)
		}},
	{group: "webhook", name: "ping", args: "<id>", nargs: 1, summary: "send the endpoint a signed test message and show the attempt",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			return c.printAttempt(ctx, webhookPath(c, o, a[0])+"/ping", nil, o)
		}},
	{group: "webhook", name: "delete", write: true, args: "<id>", nargs: 1, summary: "delete an endpoint: nothing more is delivered (its history stays)",
		flags: tenantFlag,
		run: func(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
			if _, err := c.do(ctx, http.MethodDelete, webhookPath(c, o, a[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "deleted %s\n", escapeForged(a[0]))
			return nil
		}},
}

func init() { apiCommands = append(apiCommands, webhookCommands...) }

var (
	webhookColumns = []string{"id", "url", "types", "active", "disabled_reason", "version", "cursor", "failures", "last_status", "next_attempt", "secret"}
	attemptColumns = []string{"id", "at", "trigger", "event_type", "cursor", "status", "latency_ms", "error", "next_retry"}
)

// webhookPath is the path of the tenant's endpoint id ("" for the
// collection).
func webhookPath(c *apiClient, o *apiOptions, id string) string {
	if id == "" {
		return c.tenantPath(o, "/webhooks")
	}
	return c.tenantPath(o, "/webhooks/"+url.PathEscape(id))
}

// optionalString is a string flag that tells "not given" from "given
// empty".
type optionalString struct {
	set bool
	v   string
}

func (s *optionalString) String() string     { return s.v }
func (s *optionalString) Set(v string) error { s.set, s.v = true, v; return nil }

// flattenDelivery lifts the delivery's state into the endpoint's row.
func flattenDelivery(w map[string]any) {
	d, _ := w["delivery"].(map[string]any)
	for _, k := range []string{"cursor", "failures", "last_status", "next_attempt"} {
		if v, ok := d[k]; ok {
			w[k] = v
		}
	}
}

// printWebhook sends a request answered with an endpoint and prints it.
func (c *apiClient) printWebhook(ctx context.Context, method, path string, body any, h http.Header, o *apiOptions) error {
	data, err := c.do(ctx, method, path, body, h)
	if err != nil || o.json {
		return c.raw(data, err)
	}
	var w map[string]any
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("answer is not a JSON object: %w", err)
	}
	flattenDelivery(w)
	return table(c.out, webhookColumns, []map[string]any{w})
}

// printAttempt posts to a route answered with an attempt and prints it.
func (c *apiClient) printAttempt(ctx context.Context, path string, body any, o *apiOptions) error {
	data, err := c.do(ctx, http.MethodPost, path, body, nil)
	if err != nil || o.json {
		return c.raw(data, err)
	}
	return c.table(data, attemptColumns)
}

func webhookDeliveries(ctx context.Context, c *apiClient, o *apiOptions, a []string) error {
	if o.limit < 1 || o.limit > 1000 {
		return usageError("--limit must be from 1 to 1000")
	}
	if o.webhookBefore < 0 {
		return usageError("--before must not be negative")
	}
	q := url.Values{"limit": {strconv.Itoa(o.limit)}}
	if o.webhookBefore > 0 {
		q.Set("before", strconv.FormatInt(o.webhookBefore, 10))
	}
	var all []map[string]any
	var next *string
	for {
		data, err := c.do(ctx, http.MethodGet, webhookPath(c, o, a[0])+"/deliveries?"+q.Encode(), nil, nil)
		if err != nil {
			return err
		}
		var page struct {
			Deliveries []map[string]any `json:"deliveries"`
			Next       *string          `json:"next"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			return fmt.Errorf("answer has no deliveries list: %w", err)
		}
		all, next = append(all, page.Deliveries...), page.Next
		if !o.all || next == nil {
			break
		}
		q.Set("before", *next)
	}
	if o.json {
		b, _ := json.MarshalIndent(map[string]any{"deliveries": all, "next": next}, "", "  ")
		_, err := c.out.Write(append(b, '\n'))
		return err
	}
	if err := table(c.out, attemptColumns, all); err != nil {
		return err
	}
	if next != nil && !o.all {
		fmt.Fprintf(c.out, "more: --before %s\n", escapeForged(*next))
	}
	return nil
}
