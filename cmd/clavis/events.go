package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The events commands: `clavis events tail` follows a tenant's events
// stream over HTTP, with a reader's token (clavis:events:read) or an
// admin's, as a downstream service would.

// eventsCommands are the events commands over HTTP.
var eventsCommands = []apiCommand{
	{group: "events", name: "tail", summary: "follow the tenant's events as they happen, reconnecting where it left off; on exit, print the cursor to resume from",
		flags: func(fs *flag.FlagSet, o *apiOptions) {
			tenantFlag(fs, o)
			fs.StringVar(&o.eventsAfter, "after", "", "start after this cursor (the id of an event, or the cursor an earlier tail printed); default: from now on")
			fs.Var(&o.eventTypes, "type", "only events of this type pattern: client.registered, client.*, * (repeat for more)")
		},
		run: eventsTail},
}

func init() { apiCommands = append(apiCommands, eventsCommands...) }

// The reconnection delays of tail: the server's retry hint, or
// tailRetry; at most tailMaxRetry after repeated failures.
const (
	tailRetry    = time.Second
	tailMaxRetry = 30 * time.Second
)

// errTailRefused is a failure reconnecting cannot mend: the server
// refused the request itself (a bad token, tenant or parameter).
var errTailRefused = errors.New("refused")

func eventsTail(ctx context.Context, c *apiClient, o *apiOptions, _ []string) error {
	q := url.Values{}
	for _, t := range o.eventTypes {
		q.Add("type", t)
	}
	path := "/t/" + url.PathEscape(o.tenant) + "/events/stream"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	t := &tail{c: c, o: o, path: path, cursor: o.eventsAfter, retry: tailRetry}
	err := t.run(ctx)
	if t.cursor != "" {
		fmt.Fprintf(c.errOut, "clavis events tail: resume with --after %s\n", t.cursor)
	}
	if ctx.Err() != nil {
		return nil // interrupted: the normal end of a tail
	}
	return err
}

// tail is one `clavis events tail`: the cursor of the last event
// received (or the stream's start), sent as Last-Event-ID on every
// reconnection.
type tail struct {
	c      *apiClient
	o      *apiOptions
	path   string
	cursor string
	retry  time.Duration
}

// run follows the stream until ctx ends or the server refuses it.
func (t *tail) run(ctx context.Context) error {
	failures := 0
	for {
		got, err := t.follow(ctx)
		if ctx.Err() != nil || errors.Is(err, errTailRefused) {
			return err
		}
		if got {
			failures = 0
		} else {
			failures++
		}
		delay := min(t.retry<<min(failures, 5), tailMaxRetry)
		if err != nil {
			fmt.Fprintf(t.c.errOut, "clavis events tail: %v; reconnecting in %s\n", err, delay)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// follow reads the stream once, until it ends; got reports whether the
// connection was made.
func (t *tail) follow(ctx context.Context) (got bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.c.base+t.path, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("User-Agent", "clavis/"+version)
	if t.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.c.token)
	}
	if t.cursor != "" {
		req.Header.Set("Last-Event-ID", t.cursor)
	}
	hc := *t.c.http
	hc.Timeout = 0 // a stream lasts
	resp, err := hc.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		err := problemError(resp, data)
		if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return false, fmt.Errorf("%w: %w", errTailRefused, err)
		}
		return false, err
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var id, data string
	for sc.Scan() {
		line := sc.Text()
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch {
		case line == "":
			if id != "" {
				t.cursor = id
			}
			if data != "" {
				if err := t.print(data); err != nil {
					return true, err
				}
			}
			id, data = "", ""
		case field == "id":
			id = value
		case field == "data":
			data = value
		case field == "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				t.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return true, fmt.Errorf("stream cut: %w", err)
	}
	if ctx.Err() == nil {
		return true, errors.New("the server closed the stream")
	}
	return true, nil
}

// print writes one event: its CloudEvent JSON with --json, else a line
// of cursor, time, type, subject and actor.
func (t *tail) print(data string) error {
	if t.o.json {
		_, err := fmt.Fprintln(t.c.out, data)
		return err
	}
	var ce struct {
		Type, Subject, Time, ClavisPosition, ClavisActor string
	}
	if err := json.Unmarshal([]byte(data), &ce); err != nil {
		return fmt.Errorf("an event is not a CloudEvent: %w", err)
	}
	_, err := fmt.Fprintf(t.c.out, "%s\t%s\t%s\t%s\t%s\n", ce.ClavisPosition, ce.Time, strings.TrimPrefix(ce.Type, "dev.clavis."), ce.Subject, ce.ClavisActor)
	return err
}
