package client_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
)

// now has nanoseconds and a non-UTC zone, to show both are normalised.
var now = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600))

// nowUTC is now as it enters events.
var nowUTC = time.Date(2025, 3, 14, 14, 9, 26, 535897000, time.UTC)

// cat is a tenant catalogue with one other resource server.
var cat = scope.NewCatalogue(scope.Resource{Code: "urn:acme/orders", Scopes: []string{"read", "write"}})

const testJWKS = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}`

// settingsFor returns valid settings of the given type.
func settingsFor(typ client.Type) client.Settings {
	s := client.DefaultSettings(typ)
	s.ClientName = "Orders Web"
	s.Code = "urn:acme/orders-web"
	s.DefaultScopes = []string{"openid"}
	s.OptionalScopes = []string{"profile", "urn:acme/orders:read"}
	if typ != client.TypeM2M {
		s.RedirectURIs = []string{"https://app.example.com/cb"}
	}
	return s
}

// fapiSettings returns valid FAPI 2.0 settings.
func fapiSettings() client.Settings {
	s := settingsFor(client.TypeConfidential)
	s.FAPI = true
	s.TokenEndpointAuthMethod = client.AuthPrivateKeyJWT
	s.JWKS = json.RawMessage(testJWKS)
	return s
}

func secret(id string) client.Secret {
	return client.Secret{ID: id, Hash: "sha256$" + id + "-hash"}
}

func secretPtr(id string) *client.Secret {
	s := secret(id)
	return &s
}

func ptr[T any](v T) *T { return &v }

// problems returns the field errors of err, failing unless err is a
// *domain.ValidationError.
func problems(t *testing.T, err error) []*domain.FieldError {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v, want a *domain.ValidationError", err)
	}
	if !errors.Is(err, domain.ErrValidation) {
		t.Fatal("errors.Is(err, domain.ErrValidation) = false")
	}
	return ve.Fields
}

func wantProblem(t *testing.T, err error, field, code string) {
	t.Helper()
	fields := problems(t, err)
	for _, f := range fields {
		if f.Field == field && f.Code == code {
			return
		}
	}
	t.Fatalf("want problem %s/%s, got %s", field, code, describe(fields))
}

func describe(fields []*domain.FieldError) string {
	s := ""
	for _, f := range fields {
		s += fmt.Sprintf("\n\t%s/%s: %s", f.Field, f.Code, f.Message)
	}
	return s
}

// register registers a client and replays it.
func register(t *testing.T, id string, s client.Settings, initial *client.Secret) *client.Client {
	t.Helper()
	events, err := client.Register(id, s, cat, initial, now)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	c, err := client.Replay(events)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return c
}

// confidential returns a registered confidential client holding secret s1.
func confidential(t *testing.T) *client.Client {
	t.Helper()
	return register(t, "c1", settingsFor(client.TypeConfidential), secretPtr("s1"))
}

// apply applies events to c, failing on error.
func apply(t *testing.T, c *client.Client, events []domain.Event) {
	t.Helper()
	for _, e := range events {
		if err := c.Apply(e); err != nil {
			t.Fatalf("Apply(%T): %v", e, err)
		}
	}
}

// applied returns a function that takes a command's results, fails the
// test on error, applies the events to c and returns them:
//
//	events := applied(t, c)(c.Update(p, cat, now))
func applied(t *testing.T, c *client.Client) func([]domain.Event, error) []domain.Event {
	t.Helper()
	return func(events []domain.Event, err error) []domain.Event {
		t.Helper()
		if err != nil {
			t.Fatalf("command: %v", err)
		}
		apply(t, c, events)
		return events
	}
}
