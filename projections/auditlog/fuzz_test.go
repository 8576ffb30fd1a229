package auditlog_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/projections/auditlog"
)

// fixedKey is a log key that is the same in every process, so that the
// notes it signs in one fuzz process verify in another.
func fixedKey(t testing.TB) key {
	t.Helper()
	skey, vkey, err := note.GenerateKey(strings.NewReader(strings.Repeat("clavis fuzz log key ", 4)), origin)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return key{s, vkey}
}

// FuzzCheckpoint checks the reading of signed checkpoints (GET
// /audit/checkpoint, and those an auditor saved): a refusal matches
// ErrCheckpoint; a checkpoint that opens is one the log's key signed,
// and its text reads back as the same checkpoint.
func FuzzCheckpoint(f *testing.F) {
	k := fixedKey(f)
	es := entries(f, 5)
	var signed []auditlog.Checkpoint
	for n := range 6 {
		c := auditlog.Checkpoint{Origin: origin, Size: int64(n), Root: root(f, es, n)}
		signed = append(signed, c)
		signedNote := checkpoint(f, k, es, n)
		f.Add(signedNote)
		f.Add(append(append([]byte(nil), signedNote...), "\r\n\n"...))
	}
	f.Add([]byte("example.com/t/acme/audit\n5\nAAAA\n\n— example.com/t/acme/audit AAAA\n"))
	f.Add([]byte(auditlog.Checkpoint{Origin: origin, Size: 3, Root: tlog.RecordHash([]byte("x"))}.Text()))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := auditlog.ParseCheckpoint(string(data)); err != nil {
			if !errors.Is(err, auditlog.ErrCheckpoint) {
				t.Fatalf("ParseCheckpoint(%q) = %v: want ErrCheckpoint", data, err)
			}
		} else if again, err := auditlog.ParseCheckpoint(c.Text()); err != nil || !again.Equal(c) {
			t.Fatalf("ParseCheckpoint(%q) = %+v, whose text reads as %+v, %v", data, c, again, err)
		}
		c, err := auditlog.Open(data, k.vkey)
		if err != nil {
			if !errors.Is(err, auditlog.ErrCheckpoint) {
				t.Fatalf("Open(%q) = %v: want ErrCheckpoint", data, err)
			}
			return
		}
		for _, s := range signed {
			if c.Equal(s) {
				return
			}
		}
		t.Fatalf("Open(%q) = %+v, which the log never signed", data, c)
	})
}

// FuzzVerify checks `clavis audit verify`'s reading of an export, which
// comes from the server it audits: an export it cannot read is an error
// matching ErrExport (with the report of what it read before); one it
// reads gets a report with at most
// MaxFailures failures; and an export verifies only when its entries
// recompute the root of a checkpoint the log's key signed.
func FuzzVerify(f *testing.F) {
	k := fixedKey(f)
	es := entries(f, 6)
	var signed []auditlog.Checkpoint
	for _, n := range []int{6, 3} {
		signed = append(signed, auditlog.Checkpoint{Origin: origin, Size: int64(n), Root: root(f, es, n)})
	}
	full, early := checkpoint(f, k, es, 6), checkpoint(f, k, es, 3)
	edited := append([]auditlog.Entry(nil), es...)
	edited[2].Meta.Actor = "mallory"
	f.Add(export(f, full, es, es), false)
	f.Add(export(f, full, es, es), true)
	f.Add(export(f, early, es[:3], es[:3]), false)
	f.Add(export(f, full, es, edited), false)
	f.Add(export(f, full, es, es[:4]), true)
	f.Add([]byte(`{"format":"x"}`+"\n"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, withSaved bool) {
		var saved [][]byte
		if withSaved {
			saved = append(saved, early)
		}
		rep, err := auditlog.Verify(bytes.NewReader(data), []string{k.vkey}, saved...)
		if err != nil {
			// The report, if any, is what was found before the export
			// stopped reading.
			if !errors.Is(err, auditlog.ErrExport) {
				t.Fatalf("Verify = %+v, %v: want ErrExport", rep, err)
			}
			return
		}
		if len(rep.Failures) > auditlog.MaxFailures || rep.Omitted < 0 || rep.Omitted > 0 && len(rep.Failures) < auditlog.MaxFailures {
			t.Fatalf("Verify: %d failures, %d omitted", len(rep.Failures), rep.Omitted)
		}
		if !rep.OK() {
			return
		}
		for _, s := range signed {
			if rep.Checkpoint.Equal(s) && rep.Entries == s.Size {
				return
			}
		}
		t.Fatalf("Verify(%q) passes with checkpoint %+v and %d entries, which the log never signed", data, rep.Checkpoint, rep.Entries)
	})
}

// FuzzDecodeEntry checks the reading of one entry line of an export:
// Verify reads lines with goccy/go-json, for speed, and the server
// writes them with encoding/json. Every line encoding/json reads, Verify
// reads as the same entry, with the same leaf hash; a line that is not
// UTF-8, which the two read apart, Verify refuses. (goccy/go-json also
// takes some malformed JSON that encoding/json refuses, in members
// whose bytes the leaf hash commits to or that are not read.)
func FuzzDecodeEntry(f *testing.F) {
	es := entries(f, 3)
	for _, line := range bytes.Split(export(f, checkpoint(f, fixedKey(f), es, 3), es, es[:2]), []byte("\n"))[1:] {
		f.Add(line)
	}
	f.Add([]byte(`{"index":0,"missing":true,"logged_hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","logged_id":"x"}`))
	f.Add([]byte(`{"index":"0"}`))
	f.Add([]byte(`{"data":{"a":1e400}}`))
	f.Add([]byte(`{"recorded_at":"2026-12-01T10:00:00.001+25:00"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var fast, std auditlog.ExportEntry
		fastErr := auditlog.DecodeEntry(line, &fast)
		stdErr := json.Unmarshal(line, &std)
		if fastErr != nil && !errors.Is(fastErr, auditlog.ErrExport) {
			t.Fatalf("DecodeEntry(%q) = %v: want ErrExport", line, fastErr)
		}
		if !utf8.Valid(line) {
			if fastErr == nil {
				t.Fatalf("DecodeEntry(%q) reads a line that is not UTF-8", line)
			}
			return
		}
		if stdErr != nil {
			return
		}
		if fastErr != nil {
			t.Fatalf("line %q: encoding/json reads it, Verify refuses it: %v", line, fastErr)
		}
		if fast.LeafHash() != std.LeafHash() || !reflect.DeepEqual(normalEntry(fast), normalEntry(std)) {
			t.Fatalf("line %q: Verify reads\n%+v\nencoding/json\n%+v", line, fast, std)
		}
	})
}

// normalEntry is e with its raw JSON compacted and its times in one
// location, so that equal entries compare equal.
func normalEntry(e auditlog.ExportEntry) auditlog.ExportEntry {
	b, _ := json.Marshal(e)
	var out auditlog.ExportEntry
	_ = json.Unmarshal(b, &out)
	return out
}
