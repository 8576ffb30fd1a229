package client_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
)

const testSalt = "pairwise-salt-0123456789abcdef"

// The pairwise subject salt is secret: every redaction shows the marker
// in its place, never the salt.
func TestRedactHidesThePairwiseSalt(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.PairwiseSubjectSalt = testSalt
	if got := s.Redact().PairwiseSubjectSalt; got != client.Redacted {
		t.Errorf("Redact shows salt %q", got)
	}
	if s.PairwiseSubjectSalt != testSalt {
		t.Errorf("Redact changed its receiver")
	}
	if got := settingsFor(client.TypeConfidential).Redact().PairwiseSubjectSalt; got != "" {
		t.Errorf("an unset salt shows as %q", got)
	}
	c := register(t, "c1", s, secretPtr("s1"))
	upd := applied(t, c)(c.Update(client.Patch{PairwiseSubjectSalt: ptr(testSalt + "-2")}, cat, now))
	reg, _ := client.Register("c1", s, cat, secretPtr("s1"), now)
	for _, e := range append(reg, upd...) {
		for name, v := range map[string]any{"Redact": client.Redact(e, domain.RedactHistory), "Public": client.Redact(e, domain.RedactPublic)} {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), testSalt) || !strings.Contains(string(b), `"pairwise_subject_salt":"[REDACTED]"`) {
				t.Errorf("%s(%s) = %s", name, e.EventType(), b)
			}
			if name == "Redact" && strings.Contains(string(b), "-hash") {
				t.Errorf("Redact(%s) shows a hash: %s", e.EventType(), b)
			}
		}
	}
}

// The marker sent back keeps the salt; it is never a salt itself.
func TestRedactedSaltIsNotASalt(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.PairwiseSubjectSalt = testSalt
	c := register(t, "c1", s, secretPtr("s1"))
	events, err := c.Update(client.Patch{PairwiseSubjectSalt: ptr(client.Redacted)}, cat, now)
	if err != nil || len(events) != 0 {
		t.Errorf("sending the marker back: %v, %v; want no change", events, err)
	}
	applied(t, c)(c.Update(client.Patch{PairwiseSubjectSalt: ptr(client.Redacted), ClientName: ptr("Renamed")}, cat, now))
	if got := c.Settings().PairwiseSubjectSalt; got != testSalt {
		t.Errorf("salt after an update with the marker = %q", got)
	}

	s.PairwiseSubjectSalt = client.Redacted
	_, err = client.Register("c2", s, cat, secretPtr("s1"), now)
	wantProblem(t, err, "pairwise_subject_salt", "invalid_value")
}

// A clone gets a salt of its own, never its source's.
func TestCloneTakesItsOwnSalt(t *testing.T) {
	t.Parallel()
	s := settingsFor(client.TypeConfidential)
	s.PairwiseSubjectSalt = testSalt
	src := register(t, "c1", s, secretPtr("s1"))
	for _, salt := range []string{"", testSalt} {
		_, err := src.Clone("c2", "Copy", "urn:acme/copy", salt, cat, secretPtr("s2"), now)
		wantProblem(t, err, "pairwise_subject_salt", "required")
	}
	events, err := src.Clone("c2", "Copy", "urn:acme/copy", "another-salt-0123456789", cat, secretPtr("s2"), now)
	if err != nil {
		t.Fatal(err)
	}
	if got := events[0].(client.ClientRegistered).Settings.PairwiseSubjectSalt; got != "another-salt-0123456789" {
		t.Errorf("clone's salt = %q", got)
	}
	// Without pairwise subjects at the source, the clone has none either.
	plain := register(t, "c3", settingsFor(client.TypeConfidential), secretPtr("s1"))
	events, err = plain.Clone("c4", "Copy", "urn:acme/copy", "unused-salt-0123456789", cat, secretPtr("s2"), now)
	if err != nil {
		t.Fatal(err)
	}
	if got := events[0].(client.ClientRegistered).Settings.PairwiseSubjectSalt; got != "" {
		t.Errorf("clone of a client without a salt got %q", got)
	}
}
