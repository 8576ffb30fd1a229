package client_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/internal/eventtest"
)

// lifecycle runs every kind of command on one client and returns the
// events in order, with the client they produced.
func lifecycle(t *testing.T) ([]domain.Event, *client.Client) {
	t.Helper()
	s := settingsFor(client.TypeConfidential)
	s.Metadata = map[string]string{"team": "orders"}
	s.ScopePermissions = map[string][]string{"openid": {"read"}}
	s.ClientClaims = []client.Claim{{Type: "dau", Value: "svc"}}
	s.JWKS = json.RawMessage(testJWKS)
	exp := now.Add(90 * 24 * time.Hour)
	events, err := client.Register("c1", s, cat, &client.Secret{ID: "s1", Hash: "sha256$one", ExpiresAt: &exp, Description: "first"}, now)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Replay(events)
	if err != nil {
		t.Fatal(err)
	}
	at := now
	step := func(e []domain.Event, err error) {
		t.Helper()
		events = append(events, applied(t, c)(e, err)...)
		at = at.Add(time.Minute)
	}
	step(c.Update(client.Patch{ClientName: ptr("Orders"), Code: ptr("urn:acme/orders-v2"), Metadata: ptr(map[string]string{})}, cat, at))
	step(c.AddSecret(client.Secret{ID: "s2", Hash: "sha256$two"}, at))
	step(c.RotateSecret(client.Secret{ID: "s3", Hash: "sha256$three"}, time.Hour, at))
	step(c.RevokeSecret("s2", at))
	step(c.Deactivate("paused", at))
	step(c.Activate(at))
	step(c.Delete(at))
	return events, c
}

func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	events, _ := lifecycle(t)
	eventtest.RoundTrip(t, events, client.Decode)
	seen := make(map[string]bool)
	for _, e := range events {
		seen[e.EventType()] = true
	}
	for _, typ := range []string{
		"client.registered", "client.updated", "client.secret_added", "client.secret_revoked",
		"client.secret_rotated", "client.activated", "client.deactivated", "client.deleted",
	} {
		if !seen[typ] {
			t.Errorf("lifecycle lacks %s", typ)
		}
	}
}

func TestEventJSONShape(t *testing.T) {
	t.Parallel()
	events, _ := lifecycle(t)
	data, _ := json.Marshal(events[0])
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"client_id", "settings", "active", "secrets", "at"} {
		if _, ok := m[k]; !ok {
			t.Errorf("client.registered lacks %q: %s", k, data)
		}
	}
	data, _ = json.Marshal(events[1])
	if !bytes.Contains(data, []byte(`"changed":["client_name","code","metadata"]`)) || !bytes.Contains(data, []byte(`"previous_code":"urn:acme/orders-web"`)) {
		t.Errorf("client.updated = %s", data)
	}
	data, _ = json.Marshal(events[3])
	if !bytes.Contains(data, []byte(`"new":{"id":"s3"`)) || !bytes.Contains(data, []byte(`"expiring":[{"secret_id":"s1","expires_at":`)) {
		t.Errorf("client.secret_rotated = %s", data)
	}
}

func TestReplayReproducesState(t *testing.T) {
	t.Parallel()
	events, live := lifecycle(t)

	var decoded []domain.Event
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := client.Decode(e.EventType(), e.SchemaVersion(), data)
		if err != nil {
			t.Fatal(err)
		}
		decoded = append(decoded, d)
	}
	for name, history := range map[string][]domain.Event{"events": events, "decoded": decoded} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := client.Replay(history)
			if err != nil {
				t.Fatal(err)
			}
			assertSameClient(t, c, live)
		})
	}

	// Every prefix replays to the state the commands saw.
	c, err := client.Replay(events[:4])
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != 4 || c.Settings().Code != "urn:acme/orders-v2" || len(c.Secrets()) != 3 || c.Deleted() {
		t.Errorf("prefix replay: v%d %q %d secrets", c.Version(), c.Settings().Code, len(c.Secrets()))
	}
}

func assertSameClient(t *testing.T, got, want *client.Client) {
	t.Helper()
	if got.ID() != want.ID() || got.Active() != want.Active() || got.Deleted() != want.Deleted() ||
		got.Version() != want.Version() || !got.State().CreatedAt.Equal(want.State().CreatedAt) ||
		!got.State().UpdatedAt.Equal(want.State().UpdatedAt) || got.State().ClonedFrom != want.State().ClonedFrom ||
		got.State().DeactivationReason != want.State().DeactivationReason {
		t.Errorf("client %s v%d active=%v deleted=%v, want %s v%d active=%v deleted=%v",
			got.ID(), got.Version(), got.Active(), got.Deleted(), want.ID(), want.Version(), want.Active(), want.Deleted())
	}
	if !reflect.DeepEqual(got.Settings(), want.Settings()) {
		t.Errorf("settings differ")
	}
	if !reflect.DeepEqual(got.Secrets(), want.Secrets()) {
		t.Errorf("secrets %v, want %v", got.Secrets(), want.Secrets())
	}
}

func TestReplayEmpty(t *testing.T) {
	t.Parallel()
	c, err := client.Replay(nil)
	if err != nil || c.Version() != 0 || c.ID() != "" {
		t.Fatalf("Replay(nil) = %v, %v", c, err)
	}
}

type foreignEvent struct{}

func (foreignEvent) EventType() string  { return "tenant.created" }
func (foreignEvent) SchemaVersion() int { return 1 }

func TestApplyRefusesImpossibleSequences(t *testing.T) {
	t.Parallel()
	registered := client.ClientRegistered{ClientID: "c1", Settings: settingsFor(client.TypeConfidential).Normalize(), Active: true,
		Secrets: []client.Secret{{ID: "s1", Hash: "h", CreatedAt: nowUTC}}, At: nowUTC}
	deleted := client.ClientDeleted{Code: "urn:acme/orders-web", At: nowUTC}
	tests := []struct {
		name    string
		history []domain.Event
		next    domain.Event
		want    error
	}{
		{"update before register", nil, client.ClientUpdated{At: nowUTC}, domain.ErrCorruptEvent},
		{"secret before register", nil, client.SecretAdded{Secret: secret("s2"), At: nowUTC}, domain.ErrCorruptEvent},
		{"delete before register", nil, deleted, domain.ErrCorruptEvent},
		{"register twice", []domain.Event{registered}, registered, domain.ErrCorruptEvent},
		{"register with duplicate secret ids", nil, client.ClientRegistered{ClientID: "c1", Secrets: []client.Secret{secret("a"), secret("a")}, At: nowUTC}, domain.ErrCorruptEvent},
		{"add held secret id", []domain.Event{registered}, client.SecretAdded{Secret: secret("s1"), At: nowUTC}, domain.ErrCorruptEvent},
		{"revoke unknown secret", []domain.Event{registered}, client.SecretRevoked{SecretID: "nope", At: nowUTC}, domain.ErrCorruptEvent},
		{"rotate to held id", []domain.Event{registered}, client.SecretRotated{New: secret("s1"), At: nowUTC}, domain.ErrCorruptEvent},
		{"rotate unknown secret", []domain.Event{registered}, client.SecretRotated{New: secret("s2"), Expiring: []client.SecretExpiry{{SecretID: "nope"}}, At: nowUTC}, domain.ErrCorruptEvent},
		{"event after delete", []domain.Event{registered, deleted}, client.ClientActivated{At: nowUTC}, domain.ErrCorruptEvent},
		{"delete twice", []domain.Event{registered, deleted}, deleted, domain.ErrCorruptEvent},
		{"foreign event", []domain.Event{registered}, foreignEvent{}, domain.ErrUnknownEvent},
		{"nil event", []domain.Event{registered}, nil, domain.ErrUnknownEvent},
		{"nil pointer", []domain.Event{registered}, (*client.ClientUpdated)(nil), domain.ErrUnknownEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := client.Replay(tt.history)
			if err != nil {
				t.Fatal(err)
			}
			version, secrets := c.Version(), c.Secrets()
			if err := c.Apply(tt.next); !errors.Is(err, tt.want) {
				t.Fatalf("Apply = %v, want %v", err, tt.want)
			}
			if c.Version() != version || !reflect.DeepEqual(c.Secrets(), secrets) {
				t.Error("a refused event changed the client")
			}
			history := append(append([]domain.Event(nil), tt.history...), tt.next)
			if _, err := client.Replay(history); !errors.Is(err, tt.want) {
				t.Errorf("Replay = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestApplyAcceptsPointers(t *testing.T) {
	t.Parallel()
	events, _ := lifecycle(t)
	var c client.Client
	for _, e := range events {
		p := reflect.New(reflect.TypeOf(e))
		p.Elem().Set(reflect.ValueOf(e))
		if err := c.Apply(p.Interface().(domain.Event)); err != nil {
			t.Fatalf("Apply(*%T): %v", e, err)
		}
	}
	if c.Version() != int64(len(events)) || !c.Deleted() {
		t.Errorf("v%d deleted=%v", c.Version(), c.Deleted())
	}
}

func TestDecodeUnknown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ     string
		version int
	}{
		{"client.renamed", 1},
		{"tenant.created", 1},
		{"client.registered", 2},
		{"client.deleted", 0},
		{"", 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.typ, tt.version), func(t *testing.T) {
			t.Parallel()
			e, err := client.Decode(tt.typ, tt.version, []byte(`{}`))
			if !errors.Is(err, domain.ErrUnknownEvent) || e != nil {
				t.Fatalf("Decode = %v, %v; want domain.ErrUnknownEvent", e, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.typ)) || !strings.Contains(err.Error(), fmt.Sprint("version ", tt.version)) {
				t.Errorf("error %q does not name the type and version", err)
			}
		})
	}
}

func TestDecodeCorrupt(t *testing.T) {
	t.Parallel()
	const at = `"at":"2025-01-01T00:00:00Z"`
	tests := []struct {
		name, typ, data string
	}{
		{"not JSON", "client.registered", `{"client_id":`},
		{"empty", "client.updated", ``},
		{"null", "client.activated", `null`},
		{"array", "client.deleted", `[]`},
		{"string", "client.deleted", `"x"`},
		{"unknown field", "client.activated", `{` + at + `,"by":"admin"}`},
		{"unknown settings field", "client.updated", `{"settings":{"client_secret":"x"},` + at + `}`},
		{"wrong type", "client.deactivated", `{"reason":5,` + at + `}`},
		{"bad time", "client.deleted", `{"code":"x","at":"soon"}`},
		{"trailing data", "client.activated", `{` + at + `}x`},
		{"two objects", "client.activated", `{` + at + `}{` + at + `}`},
		{"missing at", "client.secret_revoked", `{"secret_id":"s1"}`},
		{"missing client id", "client.registered", `{"settings":{},"active":true,` + at + `}`},
		{"missing secret id in registration", "client.registered", `{"client_id":"c1","secrets":[{"hash":"h"}],` + at + `}`},
		{"missing secret id", "client.secret_added", `{"secret":{"hash":"h"},` + at + `}`},
		{"missing revoked id", "client.secret_revoked", `{` + at + `}`},
		{"missing new secret", "client.secret_rotated", `{"expiring":[],` + at + `}`},
		{"missing at updated", "client.updated", `{"settings":{}}`},
		{"missing at deactivated", "client.deactivated", `{}`},
		{"missing at deleted", "client.deleted", `{"code":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := client.Decode(tt.typ, 1, []byte(tt.data))
			if !errors.Is(err, domain.ErrCorruptEvent) || e != nil {
				t.Errorf("Decode = %v, %v; want domain.ErrCorruptEvent", e, err)
			}
		})
	}
}

// TestSecretsOnlyAppearAsTheirHash checks that a secret's hash is stored
// verbatim in events and nowhere else: not in String, %v, slog output or
// validation errors.
func TestSecretsOnlyAppearAsTheirHash(t *testing.T) {
	t.Parallel()
	const hash = "sha256$c2VjcmV0LWhhc2gtdmFsdWU"
	exp := now.Add(time.Hour)
	sec := client.Secret{ID: "s1", Hash: hash, ExpiresAt: &exp}
	events, err := client.Register("c1", settingsFor(client.TypeConfidential), cat, &sec, now)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.Replay(events)
	more := applied(t, c)(c.RotateSecret(client.Secret{ID: "s2", Hash: hash + "2"}, time.Hour, now))
	more = append(more, applied(t, c)(c.AddSecret(client.Secret{ID: "s3", Hash: hash + "3"}, now))...)

	data, _ := json.Marshal(events[0])
	if n := bytes.Count(data, []byte(`"hash":"`+hash+`"`)); n != 1 {
		t.Errorf("registered event holds the hash %d times: %s", n, data)
	}
	for _, e := range append(events, more...) {
		if s := fmt.Sprintf("%v %+v", e, e); strings.Contains(s, hash) {
			t.Errorf("formatting %T leaks the hash: %s", e, s)
		}
	}
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("secret", "secret", sec)
	for _, e := range append(events, more...) {
		logger.Info("event", "event", e)
	}
	if strings.Contains(buf.String(), hash) {
		t.Errorf("slog output leaks the hash: %s", buf.String())
	}
	if !strings.Contains(sec.String(), "REDACTED") || strings.Contains(sec.String(), hash) {
		t.Errorf("String() = %s", sec.String())
	}

	bad := client.Secret{ID: "s4", Hash: hash + " " + strings.Repeat("x", 2000)}
	_, err = c.AddSecret(bad, now)
	if err == nil || strings.Contains(err.Error(), hash) {
		t.Errorf("validation error leaks the hash: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	exp := nowUTC.Add(time.Hour)
	for _, e := range []domain.Event{
		client.ClientRegistered{ClientID: "c1", Settings: settingsFor(client.TypeConfidential).Normalize(), Active: true,
			Secrets: []client.Secret{{ID: "s1", Hash: "h", CreatedAt: nowUTC, ExpiresAt: &exp}}, At: nowUTC},
		client.ClientUpdated{Settings: fapiSettings().Normalize(), Changed: []string{"fapi"}, PreviousCode: "urn:a/b", At: nowUTC},
		client.SecretAdded{Secret: client.Secret{ID: "s2", Hash: "h", CreatedAt: nowUTC}, At: nowUTC},
		client.SecretRevoked{SecretID: "s1", At: nowUTC},
		client.SecretRotated{New: client.Secret{ID: "s3", Hash: "h"}, Expiring: []client.SecretExpiry{{SecretID: "s1", ExpiresAt: exp}}, At: nowUTC},
		client.ClientActivated{At: nowUTC},
		client.ClientDeactivated{Reason: "r", At: nowUTC},
		client.ClientDeleted{Code: "urn:a/b", At: nowUTC},
	} {
		data, _ := json.Marshal(e)
		f.Add(e.EventType(), string(data))
	}
	f.Add("client.registered", `{"client_id":"c1","settings":{"jwks":null},"at":"2025-01-01T00:00:00Z"}`)
	f.Fuzz(func(t *testing.T, typ, data string) {
		e, err := client.Decode(typ, 1, []byte(data))
		if (e == nil) == (err == nil) {
			t.Fatalf("Decode = %v, %v: want exactly one of event and error", e, err)
		}
		if err == nil {
			var c client.Client
			_ = c.Apply(e) // must not panic
		}
	})
}
