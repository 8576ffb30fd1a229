package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/clavisiam/clavis/eventstore/postgres"
	"github.com/clavisiam/clavis/eventstore/sqlite"
	"github.com/clavisiam/clavis/internal/node"
	"github.com/clavisiam/clavis/internal/testnode"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/projections/auditlog/auditlogtest"
	projpostgres "github.com/clavisiam/clavis/projections/postgres"
	projsqlite "github.com/clavisiam/clavis/projections/sqlite"
)

// TestAuditVerifyCatchesTampering edits the events table under a signed
// audit log, each way the issue lists, on each backend, and runs the
// clavis binary's `audit verify` on the tenant's export (offline, with
// the tenant's verifier keys and the checkpoint an auditor saved) and on
// the database itself (--database-url or --data-dir): both exit 1 and
// print first the failure that names the event, and exit 0 for the
// untouched store and for the other tenant.
func TestAuditVerifyCatchesTampering(t *testing.T) {
	t.Parallel()
	bin := clavisBinary(t)
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			auditlogtest.RunTamper(t, func(t testing.TB) auditlogtest.TamperEnv {
				db := ""
				if backend == node.Postgres {
					db = dbURL
				}
				return tamperEnv(t, testnode.Config(t, db), bin)
			})
		})
	}
}

// tamperEnv opens the store cfg selects, as a node does, and verifies
// with the clavis binary bin.
func tamperEnv(t testing.TB, cfg node.Config, bin string) auditlogtest.TamperEnv {
	t.Helper()
	store, err := node.OpenStore(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := auditlogtest.TamperEnv{Store: store}
	storeArgs := []string{"--data-dir", cfg.DataDir}
	switch s := store.(type) {
	case *postgres.Store:
		env.Dialect = auditlogtest.Postgres
		env.Audit = func(testing.TB) auditlog.Store { return projpostgres.NewAuditStore(s.Pool()) }
		env.Tx = func(ctx context.Context, fn func(auditlogtest.Exec) error) error {
			return pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
				return fn(func(q string, args ...any) error {
					_, err := tx.Exec(ctx, q, args...)
					return err
				})
			})
		}
		storeArgs = []string{"--database-url", cfg.DatabaseURL}
	case *sqlite.Store:
		env.Dialect = auditlogtest.SQLite
		env.Audit = func(testing.TB) auditlog.Store { return projsqlite.NewAuditStore(s.DB()) }
		env.Tx = func(ctx context.Context, fn func(auditlogtest.Exec) error) error {
			writer, _ := s.DB()
			return tamperSQLTx(ctx, writer, fn)
		}
	default:
		t.Fatalf("no audit log for a %T store", store)
	}
	env.Verify = func(t testing.TB, f *auditlogtest.Fixture, tenant string, want *auditlogtest.Expected) {
		t.Helper()
		dir := t.TempDir()
		export, saved := filepath.Join(dir, tenant+".jsonl"), filepath.Join(dir, tenant+".checkpoint")
		writeTamperFile(t, export, f.ExportFile(t, tenant))
		writeTamperFile(t, saved, f.Saved[tenant])
		offline := []string{"audit", "verify", export, "--checkpoint", saved}
		for _, k := range f.Verifiers(t, tenant) {
			offline = append(offline, "--key", k)
		}
		tamperCheckVerify(t, bin, offline, want)
		tamperCheckVerify(t, bin, append([]string{"audit", "verify", "--tenant", tenant, "--checkpoint", saved}, storeArgs...), want)
	}
	return env
}

// tamperCheckVerify runs clavis with args, and checks that it exits 0 saying
// OK when want is nil, else exits 1 with want as its first failure.
func tamperCheckVerify(t testing.TB, bin string, args []string, want *auditlogtest.Expected) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = os.Environ()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("clavis %s: %v", strings.Join(args, " "), err)
	}
	what := fmt.Sprintf("clavis %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.Bytes(), stderr.Bytes())
	how := "on the export"
	if args[2] == "--tenant" {
		how = "on the database"
	}
	t.Logf("clavis audit verify %s: exit %d %s", how, code, tamperFirstFailure(stdout.Bytes()))
	if want == nil {
		if code != exitOK || !bytes.Contains(stdout.Bytes(), []byte("OK tenant ")) {
			t.Errorf("untouched: %s", what)
		}
		return
	}
	if code != exitFailure {
		t.Errorf("tampered: %s", what)
	}
	first := tamperFirstFailure(stdout.Bytes())
	prefix := "FAIL "
	if want.Index >= 0 {
		prefix = fmt.Sprintf("FAIL leaf %d, event %s: ", want.Index, want.EventID)
	}
	if !strings.HasPrefix(first, prefix) || !strings.Contains(first, want.Problem) {
		t.Errorf("first failure %q; want %q…%q\n%s", first, prefix, want.Problem, what)
	}
}

// tamperFirstFailure is the first line of verify's output that says FAIL.
func tamperFirstFailure(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "FAIL ") {
			return sc.Text()
		}
	}
	return ""
}

func writeTamperFile(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// tamperSQLTx runs fn in a transaction on db.
func tamperSQLTx(ctx context.Context, db *sql.DB, fn func(auditlogtest.Exec) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(func(q string, args ...any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}); err != nil {
		return err
	}
	return tx.Commit()
}
