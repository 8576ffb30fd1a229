package client_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
)

// benchPayloads returns the stored JSON of a realistic client.registered
// and client.updated event, as the projections' rebuild benchmark
// (projections/projectiontest) writes them: a confidential client with a
// secret, a description, API scopes, a CORS origin, a logout URI and
// metadata, then renamed.
func benchPayloads(tb testing.TB) (registered, updated []byte) {
	tb.Helper()
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := client.DefaultSettings(client.TypeConfidential)
	s.ClientName, s.Code = "Client 4242", "urn:t042/client-04242"
	s.DefaultScopes = []string{scope.OpenID}
	s.RedirectURIs = []string{"https://app.example.com/cb"}
	s.Description = "A client of the rebuild benchmark, with a description of a realistic length."
	s.APIScopes = []string{"read", "write"}
	s.AllowedCORSOrigins = []string{"https://app.example.com"}
	s.PostLogoutRedirectURIs = []string{"https://app.example.com/bye"}
	s.Metadata = map[string]string{"team": "benchmarks", "cost_center": "42"}
	events, err := client.Register("client-04242", s, scope.NewCatalogue(), &client.Secret{ID: "s1", Hash: "sha256$client-04242"}, at)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := client.Replay(events)
	if err != nil {
		tb.Fatal(err)
	}
	name := "Client 4242, take 1"
	update, err := c.Update(client.Patch{ClientName: &name}, scope.NewCatalogue(), at.Add(time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	if registered, err = json.Marshal(events[0]); err != nil {
		tb.Fatal(err)
	}
	if updated, err = json.Marshal(update[0]); err != nil {
		tb.Fatal(err)
	}
	return registered, updated
}

// BenchmarkDecode measures Decode of the two events a rebuild reads most.
// The strict sub-benchmarks run domain.DecodeStrict (encoding/json's
// Decoder with DisallowUnknownFields) alone, the reference that Decode's
// fast path must agree with and that Decode used before it, for
// comparison.
func BenchmarkDecode(b *testing.B) {
	registered, updated := benchPayloads(b)
	for _, bc := range []struct {
		typ  string
		data []byte
		into func() any
	}{
		{client.EventTypeRegistered, registered, func() any { return new(client.ClientRegistered) }},
		{client.EventTypeUpdated, updated, func() any { return new(client.ClientUpdated) }},
	} {
		b.Run(bc.typ, func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.Decode(bc.typ, 1, bc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.typ+"/strict", func(b *testing.B) {
			b.SetBytes(int64(len(bc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := domain.DecodeStrict(bc.data, bc.into()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestBenchPayloadsDecode keeps the benchmark honest: its payloads
// decode, and are as large as a rebuild's.
func TestBenchPayloadsDecode(t *testing.T) {
	t.Parallel()
	registered, updated := benchPayloads(t)
	for typ, data := range map[string][]byte{client.EventTypeRegistered: registered, client.EventTypeUpdated: updated} {
		if _, err := client.Decode(typ, 1, data); err != nil {
			t.Errorf("Decode(%s) of the benchmark payload: %v", typ, err)
		}
		if len(data) < 1500 {
			t.Errorf("%s payload is only %d bytes: %s", typ, len(data), data)
		}
	}
}
