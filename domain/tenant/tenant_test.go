package tenant_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/eventtest"
	"github.com/clavisiam/clavis/domain/tenant"
)

// now has nanoseconds and a non-UTC zone, to show both are normalised.
var now = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

var nowUTC = time.Date(2025, 3, 14, 14, 9, 26, 535897000, time.UTC)

func wantProblem(t *testing.T, err error, field, code string) {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *domain.ValidationError", err)
	}
	if !errors.Is(err, domain.ErrValidation) {
		t.Error("errors.Is(err, domain.ErrValidation) = false")
	}
	for _, f := range ve.Fields {
		if f.Field == field && f.Code == code {
			return
		}
	}
	t.Fatalf("want problem %s/%s, got %v", field, code, err)
}

func created(t *testing.T, slug, name string) *tenant.Tenant {
	t.Helper()
	events, err := tenant.Create(slug, name, newKey("k1"), now)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	tn, err := tenant.Replay(events)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return tn
}

func apply(t *testing.T, tn *tenant.Tenant, events []domain.Event) {
	t.Helper()
	for _, e := range events {
		if err := tn.Apply(e); err != nil {
			t.Fatalf("Apply(%T): %v", e, err)
		}
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	events, err := tenant.Create("acme", "  Acme Corp  ", newKey("k1"), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{
		tenant.TenantCreated{Slug: "acme", Name: "Acme Corp", At: nowUTC},
		tenant.SigningKeyAdded{
			KID: "k1", Alg: tenant.AlgES256, PublicJWK: newKey("k1").PublicJWK, Sealed: "sealed:k1",
			ActiveFrom: nowUTC, At: nowUTC,
		},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %#v, want %#v", events, want)
	}
	tn, err := tenant.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Slug() != "acme" || tn.Name() != "Acme Corp" || tn.Suspended() || tn.Version() != 2 ||
		!tn.CreatedAt().Equal(nowUTC) || !tn.UpdatedAt().Equal(nowUTC) {
		t.Errorf("tenant = %q %q suspended=%v v%d %v", tn.Slug(), tn.Name(), tn.Suspended(), tn.Version(), tn.CreatedAt())
	}
	if tn.CreatedAt().Location() != time.UTC {
		t.Errorf("CreatedAt location = %v, want UTC", tn.CreatedAt().Location())
	}
}

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		slug, title string
		field, code string
	}{
		{"empty slug", "", "Acme", "slug", "required"},
		{"uppercase slug", "Acme", "Acme", "slug", "invalid_value"},
		{"leading hyphen", "-acme", "Acme", "slug", "invalid_value"},
		{"trailing hyphen", "acme-", "Acme", "slug", "invalid_value"},
		{"underscore", "ac_me", "Acme", "slug", "invalid_value"},
		{"dot", "ac.me", "Acme", "slug", "invalid_value"},
		{"space", " acme", "Acme", "slug", "invalid_value"},
		{"too long", strings.Repeat("a", 64), "Acme", "slug", "too_long"},
		{"reserved admin", "admin", "Acme", "slug", "reserved"},
		{"reserved api", "api", "Acme", "slug", "reserved"},
		{"reserved www", "www", "Acme", "slug", "reserved"},
		{"reserved healthz", "healthz", "Acme", "slug", "reserved"},
		{"reserved readyz", "readyz", "Acme", "slug", "reserved"},
		{"reserved static", "static", "Acme", "slug", "reserved"},
		{"reserved openapi", "openapi.json", "Acme", "slug", "invalid_value"},
		{"empty name", "acme", "", "name", "required"},
		{"blank name", "acme", "   ", "name", "required"},
		{"control char", "acme", "Ac\x00me", "name", "invalid_value"},
		{"newline", "acme", "Ac\nme", "name", "invalid_value"},
		{"invalid UTF-8", "acme", "Ac\xffme", "name", "invalid_value"},
		{"name too long", "acme", strings.Repeat("é", 201), "name", "too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, err := tenant.Create(tt.slug, tt.title, newKey("k1"), now)
			if events != nil {
				t.Errorf("events = %v, want none", events)
			}
			wantProblem(t, err, tt.field, tt.code)
		})
	}
}

func TestCreateAcceptsEdgeValues(t *testing.T) {
	t.Parallel()
	for _, slug := range []string{"a", "0", "a-b", "x1-2-3", strings.Repeat("a", 63)} {
		if _, err := tenant.Create(slug, strings.Repeat("é", 200), newKey("k1"), now); err != nil {
			t.Errorf("Create(%q): %v", slug, err)
		}
	}
}

func TestCreateReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := tenant.Create("Admin!", "", newKey("k1"), now)
	wantProblem(t, err, "slug", "invalid_value")
	wantProblem(t, err, "name", "required")
}

func TestSlugHelpers(t *testing.T) {
	t.Parallel()
	reserved := tenant.ReservedSlugs()
	if !slices.IsSorted(reserved) {
		t.Errorf("ReservedSlugs() not sorted: %q", reserved)
	}
	for _, s := range []string{"admin", "api", "www", "healthz", "readyz", "static", "openapi.json"} {
		if !tenant.IsReserved(s) {
			t.Errorf("IsReserved(%q) = false", s)
		}
		if tenant.ValidSlug(s) {
			t.Errorf("ValidSlug(%q) = true", s)
		}
	}
	reserved[0] = "mutated"
	if tenant.ReservedSlugs()[0] == "mutated" {
		t.Error("ReservedSlugs returned shared state")
	}
	if !tenant.ValidSlug("acme") || tenant.ValidSlug("ACME") || tenant.ValidSlug("") {
		t.Error("ValidSlug misjudged acme, ACME or empty")
	}
}

func TestCreatedClaimsSlug(t *testing.T) {
	t.Parallel()
	events, _ := tenant.Create("acme", "Acme", newKey("k1"), now)
	c, ok := events[0].(domain.Claimer)
	if !ok {
		t.Fatal("TenantCreated does not implement domain.Claimer")
	}
	want := []domain.Claim{{Kind: "tenant_slug", Value: "acme", Global: true}}
	if got := c.Claims(); !reflect.DeepEqual(got, want) {
		t.Errorf("Claims() = %+v, want %+v", got, want)
	}
}

func TestRename(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	later := now.Add(time.Hour)

	events, err := tn.Rename(" Acme ", later)
	if err != nil || events != nil {
		t.Fatalf("same name: events = %v, err = %v; want none", events, err)
	}
	_, err = tn.Rename(" ", later)
	wantProblem(t, err, "name", "required")

	events, err = tn.Rename("Acme Inc.", later)
	if err != nil {
		t.Fatal(err)
	}
	want := []domain.Event{tenant.TenantRenamed{Name: "Acme Inc.", PreviousName: "Acme", At: nowUTC.Add(time.Hour)}}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %#v, want %#v", events, want)
	}
	if tn.Name() != "Acme" || tn.Version() != 2 {
		t.Fatal("Rename changed the aggregate")
	}
	apply(t, tn, events)
	if tn.Name() != "Acme Inc." || tn.Version() != 3 || !tn.UpdatedAt().Equal(nowUTC.Add(time.Hour)) {
		t.Errorf("after apply: %q v%d %v", tn.Name(), tn.Version(), tn.UpdatedAt())
	}
}

func TestSetLoginURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"https", "https://login.example.com/", "https://login.example.com/"},
		{"trimmed", "  https://login.example.com/signin \t", "https://login.example.com/signin"},
		{"port, path and query", "https://login.example.com:8443/a/b?tenant=acme&x=1", "https://login.example.com:8443/a/b?tenant=acme&x=1"},
		{"no path", "https://login.example.com", "https://login.example.com"},
		{"IP host", "https://192.0.2.10/login", "https://192.0.2.10/login"},
		{"http on localhost", "http://localhost:3000/login", "http://localhost:3000/login"},
		{"http on LOCALHOST", "http://LOCALHOST/login", "http://LOCALHOST/login"},
		{"http on 127.0.0.1", "http://127.0.0.1:8080/login", "http://127.0.0.1:8080/login"},
		{"http on [::1]", "http://[::1]:8080/login", "http://[::1]:8080/login"},
		{"at the limit", "https://login.example.com/" + strings.Repeat("a", 2000-26), "https://login.example.com/" + strings.Repeat("a", 2000-26)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn := created(t, "acme", "Acme")
			events, err := tn.SetLoginURL(tt.in, now)
			if err != nil {
				t.Fatal(err)
			}
			want := []domain.Event{tenant.LoginURLSet{LoginURL: tt.want, At: nowUTC}}
			if !reflect.DeepEqual(events, want) {
				t.Fatalf("events = %#v, want %#v", events, want)
			}
			if tn.LoginURL() != "" || tn.Version() != 2 {
				t.Fatal("SetLoginURL changed the aggregate")
			}
			apply(t, tn, events)
			if tn.LoginURL() != tt.want || tn.Version() != 3 || !tn.UpdatedAt().Equal(nowUTC) {
				t.Errorf("after apply: %q v%d %v", tn.LoginURL(), tn.Version(), tn.UpdatedAt())
			}
		})
	}
}

func TestSetLoginURLValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, code string
	}{
		{"too long", "https://login.example.com/" + strings.Repeat("a", 2000-25), "too_long"},
		{"relative", "/login", "invalid_uri"},
		{"no scheme", "login.example.com/login", "invalid_uri"},
		{"scheme-relative", "//login.example.com/login", "invalid_uri"},
		{"no host", "https:///login", "invalid_uri"},
		{"opaque", "https:login.example.com", "invalid_uri"},
		{"port only", "https://:443/login", "invalid_uri"},
		{"fragment", "https://login.example.com/login#top", "invalid_uri"},
		{"empty fragment", "https://login.example.com/login#", "invalid_uri"},
		{"user information", "https://user:pass@login.example.com/", "invalid_uri"},
		{"user name only", "https://evil.example@login.example.com/", "invalid_uri"},
		{"inner space", "https://login.example.com/sign in", "invalid_uri"},
		{"control character", "https://login.example.com/\x00", "invalid_uri"},
		{"non-ASCII", "https://lögin.example.com/", "invalid_uri"},
		{"backslash", "https://login.example.com\\@evil.example/", "invalid_uri"},
		{"bad port", "https://login.example.com:http/", "invalid_uri"},
		{"http on a public host", "http://login.example.com/", "not_allowed"},
		{"http on 127.0.0.2", "http://127.0.0.2/login", "not_allowed"},
		{"http on a loopback-looking name", "http://localhost.example.com/", "not_allowed"},
		{"javascript", "javascript:alert(1)", "not_allowed"},
		{"ftp", "ftp://login.example.com/", "not_allowed"},
		{"custom scheme", "com.example.app:/login", "not_allowed"},
	}
	tn := created(t, "acme", "Acme")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			events, err := tn.SetLoginURL(tt.in, now)
			if events != nil {
				t.Errorf("events = %v, want none", events)
			}
			wantProblem(t, err, "login_url", tt.code)
		})
	}
}

func TestSetLoginURLUnchangedAndClear(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	later := now.Add(time.Hour)

	// Clearing a setting that was never made changes nothing.
	for _, empty := range []string{"", "   "} {
		if events, err := tn.SetLoginURL(empty, later); err != nil || events != nil {
			t.Fatalf("clear unset %q: events = %v, err = %v; want none", empty, events, err)
		}
	}
	events, err := tn.SetLoginURL("https://login.example.com/", later)
	if err != nil {
		t.Fatal(err)
	}
	apply(t, tn, events)
	if events, err := tn.SetLoginURL(" https://login.example.com/ ", later); err != nil || events != nil {
		t.Fatalf("same URL: events = %v, err = %v; want none", events, err)
	}
	// An invalid URL is refused even when a valid one is set.
	_, err = tn.SetLoginURL("http://login.example.com/", later)
	wantProblem(t, err, "login_url", "not_allowed")

	events, err = tn.SetLoginURL(" ", later)
	if err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{tenant.LoginURLSet{LoginURL: "", At: nowUTC.Add(time.Hour)}}; !reflect.DeepEqual(events, want) {
		t.Fatalf("clear: events = %#v, want %#v", events, want)
	}
	apply(t, tn, events)
	if tn.LoginURL() != "" || tn.Version() != 4 {
		t.Errorf("after clear: %q v%d", tn.LoginURL(), tn.Version())
	}
}

func TestSetLoginURLWhileSuspended(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	events, _ := tn.Suspend("audit", now)
	apply(t, tn, events)
	events, err := tn.SetLoginURL("https://login.example.com/", now)
	if err != nil || len(events) != 1 {
		t.Fatalf("set while suspended: events = %v, err = %v", events, err)
	}
	apply(t, tn, events)
	if !tn.Suspended() || tn.LoginURL() != "https://login.example.com/" {
		t.Errorf("after apply: suspended=%v login URL %q", tn.Suspended(), tn.LoginURL())
	}
}

func TestSuspendResumeAreIdempotent(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")

	events, err := tn.Resume(now)
	if err != nil || events != nil {
		t.Fatalf("resume active: events = %v, err = %v; want none", events, err)
	}
	events, err = tn.Suspend(" unpaid invoice ", now)
	if err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{tenant.TenantSuspended{Reason: "unpaid invoice", At: nowUTC}}; !reflect.DeepEqual(events, want) {
		t.Fatalf("events = %#v, want %#v", events, want)
	}
	if tn.Suspended() {
		t.Fatal("Suspend changed the aggregate")
	}
	apply(t, tn, events)
	if !tn.Suspended() || tn.SuspensionReason() != "unpaid invoice" {
		t.Fatalf("after apply: suspended=%v reason=%q", tn.Suspended(), tn.SuspensionReason())
	}
	events, err = tn.Suspend("again", now)
	if err != nil || events != nil {
		t.Fatalf("suspend suspended: events = %v, err = %v; want none", events, err)
	}
	events, err = tn.Resume(now)
	if err != nil || len(events) != 1 {
		t.Fatalf("resume: events = %v, err = %v", events, err)
	}
	apply(t, tn, events)
	if tn.Suspended() || tn.SuspensionReason() != "" || tn.Version() != 4 {
		t.Errorf("after resume: suspended=%v reason=%q v%d", tn.Suspended(), tn.SuspensionReason(), tn.Version())
	}
}

func TestSuspendValidation(t *testing.T) {
	t.Parallel()
	tn := created(t, "acme", "Acme")
	tests := []struct {
		name, reason, code string
	}{
		{"too long", strings.Repeat("x", 501), "too_long"},
		{"control", "bad\x07", "invalid_value"},
		{"invalid UTF-8", "\xff", "invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tn.Suspend(tt.reason, now)
			wantProblem(t, err, "reason", tt.code)
		})
	}
	if _, err := tn.Suspend(strings.Repeat("é", 500), now); err != nil {
		t.Errorf("500-character reason: %v", err)
	}
	if _, err := tn.Suspend("line one\nline two", now); err != nil {
		t.Errorf("multi-line reason: %v", err)
	}
}

func TestCommandsWithoutHistory(t *testing.T) {
	t.Parallel()
	var tn tenant.Tenant
	for name, run := range map[string]func() ([]domain.Event, error){
		"rename":  func() ([]domain.Event, error) { return tn.Rename("x", now) },
		"suspend": func() ([]domain.Event, error) { return tn.Suspend("", now) },
		"resume":  func() ([]domain.Event, error) { return tn.Resume(now) },
		"set login URL": func() ([]domain.Event, error) {
			return tn.SetLoginURL("https://login.example.com/", now)
		},
		"rotate key": func() ([]domain.Event, error) {
			return tn.RotateKey(newKey("k2"), time.Minute, time.Hour, now)
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := run(); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("err = %v, want domain.ErrNotFound", err)
			}
		})
	}
}

func history() []domain.Event {
	at := nowUTC
	return []domain.Event{
		tenant.TenantCreated{Slug: "acme", Name: "Acme", At: at},
		tenant.TenantRenamed{Name: "Acme Inc.", PreviousName: "Acme", At: at.Add(time.Minute)},
		tenant.TenantSuspended{Reason: "unpaid", At: at.Add(2 * time.Minute)},
		tenant.TenantResumed{At: at.Add(3 * time.Minute)},
		tenant.TenantSuspended{Reason: "fraud", At: at.Add(4 * time.Minute)},
		tenant.LoginURLSet{LoginURL: "https://login.acme.example/", At: at.Add(5 * time.Minute)},
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	tn, err := tenant.Replay(history())
	if err != nil {
		t.Fatal(err)
	}
	if tn.Slug() != "acme" || tn.Name() != "Acme Inc." || !tn.Suspended() || tn.SuspensionReason() != "fraud" ||
		tn.LoginURL() != "https://login.acme.example/" ||
		tn.Version() != 6 || !tn.CreatedAt().Equal(nowUTC) || !tn.UpdatedAt().Equal(nowUTC.Add(5*time.Minute)) {
		t.Errorf("replayed tenant: %q %q suspended=%v %q %q v%d", tn.Slug(), tn.Name(), tn.Suspended(), tn.SuspensionReason(),
			tn.LoginURL(), tn.Version())
	}

	// A cleared login URL replays as cleared.
	cleared, err := tenant.Replay(append(history(), tenant.LoginURLSet{At: nowUTC.Add(6 * time.Minute)}))
	if err != nil {
		t.Fatal(err)
	}
	if cleared.LoginURL() != "" || cleared.Version() != 7 {
		t.Errorf("after clearing: %q v%d", cleared.LoginURL(), cleared.Version())
	}

	empty, err := tenant.Replay(nil)
	if err != nil || empty.Version() != 0 {
		t.Fatalf("Replay(nil) = v%d, %v", empty.Version(), err)
	}
}

func TestApplyAcceptsPointers(t *testing.T) {
	t.Parallel()
	var tn tenant.Tenant
	if err := tn.Apply(&tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC}); err != nil {
		t.Fatal(err)
	}
	if err := tn.Apply(&tenant.TenantSuspended{At: nowUTC}); err != nil {
		t.Fatal(err)
	}
	if tn.Slug() != "acme" || !tn.Suspended() {
		t.Error("pointer events not applied")
	}
}

type foreignEvent struct{}

func (foreignEvent) EventType() string  { return "client.registered" }
func (foreignEvent) SchemaVersion() int { return 1 }

func TestApplyRefusesImpossibleSequences(t *testing.T) {
	t.Parallel()
	createdEvent := tenant.TenantCreated{Slug: "acme", Name: "Acme", At: nowUTC}
	tests := []struct {
		name    string
		history []domain.Event
		next    domain.Event
		want    error
	}{
		{"rename before create", nil, tenant.TenantRenamed{Name: "x", At: nowUTC}, domain.ErrCorruptEvent},
		{"suspend before create", nil, tenant.TenantSuspended{At: nowUTC}, domain.ErrCorruptEvent},
		{"resume before create", nil, tenant.TenantResumed{At: nowUTC}, domain.ErrCorruptEvent},
		{"login URL before create", nil, tenant.LoginURLSet{LoginURL: "https://login.example.com/", At: nowUTC}, domain.ErrCorruptEvent},
		{"create twice", []domain.Event{createdEvent}, createdEvent, domain.ErrCorruptEvent},
		{"foreign event", []domain.Event{createdEvent}, foreignEvent{}, domain.ErrUnknownEvent},
		{"nil event", []domain.Event{createdEvent}, nil, domain.ErrUnknownEvent},
		{"nil pointer", []domain.Event{createdEvent}, (*tenant.TenantRenamed)(nil), domain.ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tn, err := tenant.Replay(tt.history)
			if err != nil {
				t.Fatal(err)
			}
			before := *tn
			if err := tn.Apply(tt.next); !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			if !reflect.DeepEqual(*tn, before) {
				t.Error("a refused event changed the tenant")
			}
			if _, err := tenant.Replay(append(slices.Clone(tt.history), tt.next)); !errors.Is(err, tt.want) {
				t.Errorf("Replay = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	eventtest.RoundTrip(t, history(), tenant.Decode)
}

func TestEventJSONNames(t *testing.T) {
	t.Parallel()
	data, _ := json.Marshal(tenant.TenantRenamed{Name: "b", PreviousName: "a", At: nowUTC})
	want := `{"name":"b","previous_name":"a","at":"2025-03-14T14:09:26.535897Z"}`
	if string(data) != want {
		t.Errorf("JSON = %s, want %s", data, want)
	}
	data, _ = json.Marshal(tenant.LoginURLSet{LoginURL: "https://login.example.com/", At: nowUTC})
	want = `{"login_url":"https://login.example.com/","at":"2025-03-14T14:09:26.535897Z"}`
	if string(data) != want {
		t.Errorf("JSON = %s, want %s", data, want)
	}
	if tenant.EventTypeLoginURLSet != "tenant.login_url_set" {
		t.Errorf("EventTypeLoginURLSet = %q", tenant.EventTypeLoginURLSet)
	}
}

func TestDecodeUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ     string
		version int
	}{
		{"tenant.deleted", 1},
		{"client.registered", 1},
		{"tenant.created", 2},
		{"tenant.created", 0},
		{"", 1},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			t.Parallel()
			_, err := tenant.Decode(tt.typ, tt.version, []byte(`{}`))
			if !errors.Is(err, domain.ErrUnknownEvent) {
				t.Fatalf("err = %v, want domain.ErrUnknownEvent", err)
			}
			if !strings.Contains(err.Error(), tt.typ) || !strings.Contains(err.Error(), "version") {
				t.Errorf("error %q does not name the type and version", err)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, data string
	}{
		{"not JSON", "tenant.created", `{`},
		{"empty", "tenant.created", ``},
		{"null", "tenant.created", `null`},
		{"array", "tenant.renamed", `[]`},
		{"unknown field", "tenant.created", `{"slug":"acme","name":"A","at":"2025-01-01T00:00:00Z","owner":"x"}`},
		{"wrong type", "tenant.created", `{"slug":1,"name":"A","at":"2025-01-01T00:00:00Z"}`},
		{"bad time", "tenant.resumed", `{"at":"yesterday"}`},
		{"trailing data", "tenant.resumed", `{"at":"2025-01-01T00:00:00Z"} {}`},
		{"missing slug", "tenant.created", `{"name":"A","at":"2025-01-01T00:00:00Z"}`},
		{"missing at", "tenant.suspended", `{"reason":"x"}`},
		{"missing at renamed", "tenant.renamed", `{"name":"x"}`},
		{"missing at resumed", "tenant.resumed", `{}`},
		{"missing at login URL", "tenant.login_url_set", `{"login_url":"https://login.example.com/"}`},
		{"wrong type login URL", "tenant.login_url_set", `{"login_url":1,"at":"2025-01-01T00:00:00Z"}`},
		{"unknown field login URL", "tenant.login_url_set", `{"login_url":"","previous":"x","at":"2025-01-01T00:00:00Z"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := tenant.Decode(tt.typ, 1, []byte(tt.data))
			if !errors.Is(err, domain.ErrCorruptEvent) || e != nil {
				t.Errorf("Decode = %v, %v; want domain.ErrCorruptEvent", e, err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range append(history(), keyHistory()...) {
		data, _ := json.Marshal(e)
		f.Add(e.EventType(), string(data))
	}
	f.Add("tenant.created", "{")
	f.Fuzz(func(t *testing.T, typ, data string) {
		e, err := tenant.Decode(typ, 1, []byte(data))
		if (e == nil) == (err == nil) {
			t.Fatalf("Decode = %v, %v: want exactly one of event and error", e, err)
		}
		if err == nil {
			var tn tenant.Tenant
			_ = tn.Apply(e) // must not panic
		}
	})
}
