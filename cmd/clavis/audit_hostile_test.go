package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/clavisiam/clavis/projections/auditlog"
)

// TestAuditVerifyUnreadableExport: an export that stops making sense
// after its header (a hostile or broken server's) exits 1, and the
// summary on stdout says FAILED, never that everything verifies.
func TestAuditVerifyUnreadableExport(t *testing.T) {
	t.Parallel()
	const origin = "id.example.com/t/acme/audit"
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := auditlog.Sign(auditlog.Checkpoint{Origin: origin, Size: 2}, signer)
	if err != nil {
		t.Fatal(err)
	}
	header, err := json.Marshal(auditlog.ExportHeader{Format: auditlog.ExportFormat, Tenant: "acme", Checkpoint: string(signed)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, entries := range map[string]string{
		"entry misplaced": `{"index":5}`,
		"not JSON":        `{"index":0,`,
		"too deep":        strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".jsonl")
			if err := os.WriteFile(file, []byte(string(header)+"\n"+entries+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCmd(t.Context(), []string{"audit", "verify", file, "--key", vkey}, nil)
			if code != exitFailure || strings.Contains(stdout, "OK ") || !strings.Contains(stdout, "FAILED tenant acme") {
				t.Errorf("clavis audit verify = %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
		})
	}
}

// TestTableEscapesForgingCharacters: a value the server kept (a reason,
// an actor, a name) cannot add a row or a column to a CLI table, nor
// reorder what follows it, such as clavis audit log's.
func TestTableEscapesForgingCharacters(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	rows := []map[string]any{{"index": float64(20), "actor": "root", "reason": "routine\n42  root  client.deleted\tx \u202eexe.png\u2028"}}
	if err := table(&out, []string{"index", "actor", "reason"}, rows); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := `routine\n42  root  client.deleted\tx \u202eexe.png\u2028`
	if len(lines) != 2 || !strings.HasSuffix(lines[1], want) {
		t.Errorf("table:\n%s\nwant one row ending in %s", out.String(), want)
	}
}

// TestDiffEscapesForgingCharacters: clavis audit show --diff prints a
// member's values as JSON, which keeps bidirectional controls (a
// description may hold them) as they are: they are escaped too.
func TestDiffEscapesForgingCharacters(t *testing.T) {
	t.Parallel()
	raw := json.RawMessage("\"desc \u202eevil\u202c\\nline\"")
	if got, want := shownJSON(raw), `"desc \u202eevil\u202c\nline"`; got != want {
		t.Errorf("shownJSON(%s) = %s, want %s", raw, got, want)
	}
}
