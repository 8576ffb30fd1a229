package webhook_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/eventtest"
	"github.com/clavisiam/clavis/domain/webhook"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func secret(id string) webhook.NewSecret { return webhook.NewSecret{ID: id, Sealed: "sealed$" + id} }

// Endpoint URLs that are capabilities: whoever knows them may post.
const (
	capabilityURL  = "https://hooks.example.com/services/T0001/B0001/cap-path-token"
	capabilityURL2 = "https://hooks.example.com:8443/v2/in?token=cap-query-token"
)

// history is every webhook event, in an order the aggregate accepts.
func history(t *testing.T) []domain.Event {
	t.Helper()
	var all []domain.Event
	apply := func(w *webhook.Webhook, evs []domain.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if err := w.Apply(e); err != nil {
				t.Fatal(err)
			}
		}
		all = append(all, evs...)
	}
	w := new(webhook.Webhook)
	evs, err := webhook.CreateInSlot("wh_1", 3, webhook.Settings{URL: capabilityURL, Types: []string{"client.*"}}, secret("s1"), t0)
	apply(w, evs, err)
	evs, err = w.Update(webhook.Settings{URL: capabilityURL2, Description: "orders"}, t0.Add(time.Minute))
	apply(w, evs, err)
	evs, err = w.RotateSecret(secret("s2"), time.Hour, t0.Add(2*time.Minute))
	apply(w, evs, err)
	evs, err = w.Deactivate("failing since yesterday", true, t0.Add(3*time.Minute))
	apply(w, evs, err)
	evs, err = w.Activate(t0.Add(4 * time.Minute))
	apply(w, evs, err)
	evs, err = w.Replay("815.12", t0.Add(5*time.Minute))
	apply(w, evs, err)
	evs, err = w.Delete(t0.Add(6 * time.Minute))
	apply(w, evs, err)
	return all
}

func TestEveryEventTypeIsHandled(t *testing.T) {
	t.Parallel()
	eventtest.EveryEventTypeIsHandled(t, eventtest.Kind[*webhook.Webhook, webhook.State]{
		Dir: ".", New: func() *webhook.Webhook { return new(webhook.Webhook) }, FromState: webhook.FromState,
		Decode: webhook.Decode, Redact: webhook.Redact,
		Leaks: func(_ domain.Event, r domain.Redaction, b []byte) string {
			switch {
			case strings.Contains(string(b), "sealed$"):
				return "a sealed secret"
			case r == domain.RedactPublic && strings.Contains(string(b), "cap-"):
				return "a capability URL's path or query"
			}
			return ""
		},
	}, history(t))
}

func TestRotationOverlapsThenRetires(t *testing.T) {
	t.Parallel()
	evs := history(t)[:1]
	w, err := webhook.Replay(evs)
	if err != nil {
		t.Fatal(err)
	}
	rot := func(id string, overlap time.Duration, now time.Time) {
		t.Helper()
		evs, err := w.RotateSecret(secret(id), overlap, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Apply(evs[0]); err != nil {
			t.Fatal(err)
		}
	}
	signing := func(now time.Time) []string {
		var ids []string
		for _, s := range w.Secrets() {
			if s.Signs(now) {
				ids = append(ids, s.ID)
			}
		}
		return ids
	}
	rot("s2", time.Hour, t0.Add(time.Minute))
	if got := signing(t0.Add(30 * time.Minute)); !slices.Equal(got, []string{"s1", "s2"}) {
		t.Fatalf("during the overlap %v sign", got)
	}
	if got := signing(t0.Add(2 * time.Hour)); !slices.Equal(got, []string{"s2"}) {
		t.Fatalf("after the overlap %v sign", got)
	}
	// A second rotation within the overlap ends s1 at once: never more
	// than two secrets sign.
	rot("s3", time.Hour, t0.Add(10*time.Minute))
	if got := signing(t0.Add(11 * time.Minute)); !slices.Equal(got, []string{"s2", "s3"}) {
		t.Fatalf("after a second rotation %v sign", got)
	}
	if _, err := w.RotateSecret(secret("s3"), 0, t0); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("a reused secret id: %v", err)
	}
	if _, err := w.RotateSecret(secret("s4"), webhook.MaxOverlap+time.Second, t0); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("an overlap beyond the maximum: %v", err)
	}
}

func TestSettingsAreValidated(t *testing.T) {
	t.Parallel()
	bad := []webhook.Settings{
		{},
		{URL: "http://hooks.example.com/in"},
		{URL: "https://user:pw@hooks.example.com/in"},
		{URL: "https://hooks.example.com/in#x"},
		{URL: "ftp://hooks.example.com/in"},
		{URL: "https:///in"},
		{URL: "https://hooks.example.com:0/in"},
		{URL: "https://hooks.example.com:65536/in"},
		{URL: "https://hooks.example.com:99999/in"},
		{URL: "https://hooks.example.com:99999999999999999999999/in"},
		{URL: "https://hooks.example.com:https/in"},
		{URL: "http://[::1]:70000/in"},
		{URL: "https://hooks.example.com/in", Types: []string{"client"}},
		{URL: "https://hooks.example.com/in", Description: "a\u202eb"},
		{URL: "https://hooks.example.com/in", Description: "a\nb"},
		{URL: "https://hooks.example.com/in", Description: strings.Repeat("x", 501)},
		{URL: "https://hooks.example.com/" + strings.Repeat("x", 2000)},
	}
	for _, s := range bad {
		if _, err := webhook.Create("wh_1", s, secret("s1"), t0); !errors.Is(err, domain.ErrValidation) {
			t.Errorf("Create(%+v) = %v, want a validation error", s, err)
		}
	}
	for _, u := range []string{"https://hooks.example.com:1/in", "https://hooks.example.com:65535/in", "https://hooks.example.com:/in"} {
		if _, err := webhook.Normalize(webhook.Settings{URL: u}); err != nil {
			t.Errorf("Normalize(%s) = %v, want it taken", u, err)
		}
	}
	s, err := webhook.Normalize(webhook.Settings{URL: " http://127.0.0.1:9/in ", Types: []string{"dev.clavis.client.registered", "tenant.*"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.URL != "http://127.0.0.1:9/in" || !slices.Equal(s.Types, []string{"client.registered", "tenant.*"}) {
		t.Fatalf("normalized %+v", s)
	}
}

// TestSlotIsClaimedUntilDeletion: an endpoint created in a slot claims
// it within the tenant and its deletion releases it; one created without
// a slot claims nothing; a stored negative slot is corruption.
func TestSlotIsClaimedUntilDeletion(t *testing.T) {
	t.Parallel()
	all := history(t)
	claims := func(e domain.Event) []domain.Claim {
		c, ok := e.(domain.Claimer)
		if !ok {
			return nil
		}
		return c.Claims()
	}
	if got, want := claims(all[0]), []domain.Claim{{Kind: webhook.ClaimKindSlot, Value: "3"}}; !slices.Equal(got, want) {
		t.Errorf("creation claims %v, want %v", got, want)
	}
	if got, want := claims(all[len(all)-1]), []domain.Claim{{Kind: webhook.ClaimKindSlot, Value: "3", Release: true}}; !slices.Equal(got, want) {
		t.Errorf("deletion claims %v, want %v", got, want)
	}
	for _, e := range all[1 : len(all)-1] {
		if c := claims(e); c != nil {
			t.Errorf("%s claims %v", e.EventType(), c)
		}
	}
	w, err := webhook.Replay(all[:1])
	if err != nil || w.Slot() != 3 || w.State().Slot != 3 || webhook.FromState(w.State()).Slot() != 3 {
		t.Fatalf("slot after creation: %v %d", err, w.Slot())
	}

	// Without a slot: nothing claimed, nothing released.
	evs, err := webhook.Create("wh_2", webhook.Settings{URL: "https://hooks.example.com/in"}, secret("s1"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if c := claims(evs[0]); c != nil {
		t.Errorf("a creation without a slot claims %v", c)
	}
	w, _ = webhook.Replay(evs)
	del, err := w.Delete(t0)
	if err != nil || claims(del[0]) != nil {
		t.Errorf("the deletion of an endpoint without a slot: %v, claims %v", err, claims(del[0]))
	}

	if _, err := webhook.CreateInSlot("wh_3", -1, webhook.Settings{URL: "https://hooks.example.com/in"}, secret("s1"), t0); !errors.Is(err, domain.ErrValidation) {
		t.Errorf("a negative slot: %v", err)
	}
	for typ, data := range map[string]string{
		webhook.EventTypeCreated: `{"id":"wh_1","slot":-1,"settings":{"url":"https://h.example/","types":["*"],"description":""},"secret":{"id":"s1","sealed":"x"},"at":"2026-12-01T10:00:00Z"}`,
		webhook.EventTypeDeleted: `{"slot":-2,"at":"2026-12-01T10:00:00Z"}`,
	} {
		if _, err := webhook.Decode(typ, 1, []byte(data)); !errors.Is(err, domain.ErrCorruptEvent) {
			t.Errorf("decode %s with a negative slot: %v", typ, err)
		}
	}
}

// TestPublicFormShowsOnlyTheURLsOrigin: downstream readers see where an
// endpoint points (scheme, host, port) but not the path or query that
// may be its capability, nor the slot; history keeps the whole URL for
// auditors.
func TestPublicFormShowsOnlyTheURLsOrigin(t *testing.T) {
	t.Parallel()
	all := history(t)
	show := func(e domain.Event, r domain.Redaction) string {
		t.Helper()
		b, err := json.Marshal(webhook.Redact(e, r))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	created, updated, deleted := all[0], all[1], all[len(all)-1]
	for _, tc := range []struct {
		e       domain.Event
		r       domain.Redaction
		has     []string
		hasNot  []string
		because string
	}{
		{created, domain.RedactPublic, []string{`"url":"https://hooks.example.com"`, `"secret":{"id":"s1"}`}, []string{"/services", "slot"}, "public creation"},
		{updated, domain.RedactPublic, []string{`"url":"https://hooks.example.com:8443"`, `"previous":{"url":"https://hooks.example.com"`}, []string{"/v2", "token", "/services"}, "public update"},
		{deleted, domain.RedactPublic, []string{`"at":`}, []string{"slot"}, "public deletion"},
		{created, domain.RedactHistory, []string{`"url":"` + capabilityURL + `"`, `"slot":3`, `"sealed":"[REDACTED]"`}, nil, "creation in history"},
		{updated, domain.RedactHistory, []string{capabilityURL2, capabilityURL}, nil, "update in history"},
		{deleted, domain.RedactHistory, []string{`"slot":3`}, nil, "deletion in history"},
	} {
		got := show(tc.e, tc.r)
		for _, s := range tc.has {
			if !strings.Contains(got, s) {
				t.Errorf("%s: %s lacks %s", tc.because, got, s)
			}
		}
		for _, s := range tc.hasNot {
			if strings.Contains(got, s) {
				t.Errorf("%s: %s shows %s", tc.because, got, s)
			}
		}
	}
	// Redacting leaves the event itself whole.
	if e := created.(webhook.Created); e.Settings.URL != capabilityURL {
		t.Errorf("the event's URL became %s", e.Settings.URL)
	}
	for raw, want := range map[string]string{
		"https://hooks.example.com/a/b?c=d":  "https://hooks.example.com",
		"https://hooks.example.com:8443/":    "https://hooks.example.com:8443",
		"https://hooks.example.com:/x":       "https://hooks.example.com",
		"http://[::1]:9000/in?x=1":           "http://[::1]:9000",
		"https://user:pw@hooks.example.com/": "https://hooks.example.com",
		"/relative":                          "",
		"%zz":                                "",
	} {
		if got := webhook.Origin(raw); got != want {
			t.Errorf("Origin(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestCommandsOnAMissingOrDeletedEndpoint(t *testing.T) {
	t.Parallel()
	w := new(webhook.Webhook)
	if _, err := w.Activate(t0); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("Activate on no history: %v", err)
	}
	w, err := webhook.Replay(history(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Update(webhook.Settings{URL: "https://x.example/"}, t0); !errors.Is(err, domain.ErrDeleted) {
		t.Fatalf("Update after delete: %v", err)
	}
	if err := w.Apply(webhook.Activated{At: t0}); !errors.Is(err, domain.ErrCorruptEvent) {
		t.Fatalf("Apply after delete: %v", err)
	}
	if _, err := new(webhook.Webhook).Replay("x", t0); !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	w2, _ := webhook.Replay(history(t)[:1])
	if _, err := w2.Replay("12", t0); !errors.Is(err, domain.ErrValidation) {
		t.Fatalf("a malformed cursor: %v", err)
	}
}
