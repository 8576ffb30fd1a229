package auditlogtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clavisiam/clavis/domain"
	domclient "github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
	"github.com/clavisiam/clavis/tenants"
)

// Dialect says which SQL the database speaks.
type Dialect string

// The dialects of the two backends.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Exec runs one statement; queries number their arguments $1, $2, … on
// both dialects.
type Exec func(query string, args ...any) error

// TamperEnv is one fresh database holding an event store and the audit
// log's tables.
type TamperEnv struct {
	// Store is the event store, empty.
	Store eventstore.Store
	// Dialect is the database's.
	Dialect Dialect
	// Tx runs fn in one transaction on the store's database: what an
	// attacker with write access to it does.
	Tx func(ctx context.Context, fn func(Exec) error) error
	// Audit opens the audit log's store in the database, as a node does.
	Audit func(t testing.TB) auditlog.Store
	// Verify, if set, verifies a tenant's log again another way (the
	// command line) after the library has: want nil says it must verify,
	// else what its first failure must be.
	Verify func(t testing.TB, f *Fixture, tenant string, want *Expected)
}

// Expected is the first failure a verifier must report for a tampering:
// the leaf (-1 for the export as a whole), the event it names ("" for
// none) and words of its problem.
type Expected struct {
	Index   int64
	EventID string
	Problem string
}

// Fixture is one workload written, logged and signed, before the
// tampering.
type Fixture struct {
	Env TamperEnv
	Log *auditlog.Log
	// Services wrote the workload; their Tenants sign the checkpoints
	// with the tenants' own audit keys.
	Services *Services
	// Saved are the checkpoints an auditor saved midway through the
	// workload, a tenant's each.
	Saved map[string][]byte
	// Events are Acme's events in the store's order: Events[i] is leaf i.
	Events []eventstore.Event
	// Export is Acme's untouched export.
	Export []byte
}

// NewFixture writes the workload into a fresh env, logging it and signing
// checkpoints midway (which the auditor saves) and at the end.
func NewFixture(t testing.TB, env TamperEnv) *Fixture {
	t.Helper()
	ctx := t.Context()
	f := &Fixture{Env: env, Log: tamperOpenLog(t, env), Services: NewServices(t, env.Store), Saved: map[string][]byte{}}
	last := f.Services.Workload(t, func(last eventstore.Position) {
		f.catchUpAndSign(t, last)
		for _, slug := range []string{Acme, Globex} {
			f.Saved[slug] = []byte(f.Header(t, f.export(t, slug)).Checkpoint)
		}
	})
	f.catchUpAndSign(t, last)
	evs, err := env.Store.ReadTenant(ctx, Acme, eventstore.Position{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	f.Events = evs
	f.Export = f.export(t, Acme)
	return f
}

// catchUpAndSign logs the store up to last at least, and signs.
func (f *Fixture) catchUpAndSign(t testing.TB, last eventstore.Position) {
	t.Helper()
	tamperVisible(t, f.Env.Store, last)
	if _, err := f.Log.CatchUp(t.Context()); err != nil {
		t.Fatalf("catch up: %v", err)
	}
	if _, err := f.Log.Sign(t.Context(), f.Services.Tenants); err != nil {
		t.Fatalf("sign: %v", err)
	}
}

// tamperOpenLog opens the audit log over env's store, as a node does.
func tamperOpenLog(t testing.TB, env TamperEnv) *auditlog.Log {
	t.Helper()
	l, err := auditlog.New(env.Audit(t), env.Store, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// ExportFile returns a tenant's export at its latest checkpoint.
func (f *Fixture) ExportFile(t testing.TB, tenant string) []byte { return f.export(t, tenant) }

func (f *Fixture) export(t testing.TB, tenant string) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.Log.Export(t.Context(), tenant, 0, &b); err != nil {
		t.Fatalf("export %s: %v", tenant, err)
	}
	return b.Bytes()
}

// tamperVisible waits until readers of the store see every event up to last:
// on PostgreSQL a reader stops short of transactions still open, which
// other tests on the same server may hold.
func tamperVisible(t testing.TB, s eventstore.Store, last eventstore.Position) {
	t.Helper()
	for {
		head, err := s.Head(t.Context())
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if !head.Less(last) {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Verify exports a tenant's log at its latest checkpoint and verifies it
// with the tenant's verifier key and the checkpoint the auditor saved.
func (f *Fixture) Verify(t testing.TB, tenant string) (*auditlog.Report, []byte) {
	t.Helper()
	file := f.export(t, tenant)
	rep, err := auditlog.Verify(bytes.NewReader(file), f.Verifiers(t, tenant), f.Saved[tenant])
	if err != nil {
		t.Fatalf("verify %s's export: %v\n%s", tenant, err, file)
	}
	return rep, file
}

// Verifiers returns the verifier keys of a tenant's audit keys, those
// rotated out included, as the audit API publishes them.
func (f *Fixture) Verifiers(t testing.TB, tenant string) []string {
	t.Helper()
	keys, err := f.Services.Tenants.AuditVerifiers(t.Context(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// Header reads an export's header line.
func (f *Fixture) Header(t testing.TB, file []byte) auditlog.ExportHeader {
	t.Helper()
	line, _, _ := bytes.Cut(file, []byte("\n"))
	var h auditlog.ExportHeader
	if err := json.Unmarshal(line, &h); err != nil {
		t.Fatalf("export header %q: %v", line, err)
	}
	return h
}

// Entries reads an export's entry lines.
func Entries(t testing.TB, file []byte) []auditlog.ExportEntry {
	t.Helper()
	var out []auditlog.ExportEntry
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(nil, 16<<20)
	sc.Scan() // the header
	for sc.Scan() {
		var e auditlog.ExportEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("export entry %q: %v", sc.Bytes(), err)
		}
		out = append(out, e)
	}
	return out
}

// Index returns the leaf index of Acme's first event of type typ whose
// data holds has, failing the test when there is none.
func (f *Fixture) Index(t testing.TB, typ, has string) int {
	t.Helper()
	for i, e := range f.Events {
		if e.Type == typ && bytes.Contains(e.Data, []byte(has)) {
			return i
		}
	}
	t.Fatalf("the workload has no %s event with %q in Acme's history", typ, has)
	return -1
}

// Tx runs statements in one transaction on the database.
func (f *Fixture) Tx(t testing.TB, fn func(Exec) error) {
	t.Helper()
	err := f.Env.Tx(t.Context(), func(exec Exec) error {
		return fn(func(query string, args ...any) error {
			if f.Env.Dialect == SQLite {
				query = strings.ReplaceAll(query, "$", "?")
			}
			return exec(query, args...)
		})
	})
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
}

// A Case tampers with the fixture's database and says what the verifier
// must report first.
type Case struct {
	Name   string
	Tamper func(t testing.TB, f *Fixture) Expected
	// Check, if set, checks more of Acme's report and export.
	Check func(t testing.TB, f *Fixture, rep *auditlog.Report, file []byte)
	// Resigned says the case wipes the log, checkpoints included, and
	// signs the rewritten history: the node's own rebuild finds nothing
	// amiss then, only the auditor's saved checkpoint tells.
	Resigned bool
	// Unreadable says the case leaves an event the domain cannot decode:
	// the node's rebuild stops at it, naming it.
	Unreadable bool
	// Forked says the case leaves the node's log holding a tree that
	// forks from the checkpoints it signed: it must sign no more.
	Forked bool
}

// Cases are the tamperings of the issue, each done to Acme's history.
func Cases() []Case {
	return []Case{
		{Name: "OneByteOfData", Tamper: func(t testing.TB, f *Fixture) Expected {
			i := f.Index(t, domclient.EventTypeUpdated, "Orders API v2")
			e := f.Events[i]
			data := bytes.Replace(e.Data, []byte("Orders API v2"), []byte("Orders API v3"), 1)
			f.Tx(t, func(exec Exec) error { return exec(`UPDATE events SET data = $1 WHERE id = $2`, data, e.ID) })
			return Expected{int64(i), e.ID, "stored bytes were changed"}
		}},
		{Name: "OneByteMakesDataUnreadable", Unreadable: true, Tamper: func(t testing.TB, f *Fixture) Expected {
			i := f.Index(t, domclient.EventTypeUpdated, "Orders API v2")
			e := f.Events[i]
			data := bytes.Clone(e.Data)
			data[0] = '('
			f.Tx(t, func(exec Exec) error { return exec(`UPDATE events SET data = $1 WHERE id = $2`, data, e.ID) })
			return Expected{int64(i), e.ID, "stored bytes were changed"}
		}},
		{Name: "Actor", Tamper: func(t testing.TB, f *Fixture) Expected {
			i := f.Index(t, domclient.EventTypeDeactivated, "")
			e := f.Events[i]
			if e.Meta.Actor == "root" {
				t.Fatal("the event to edit is root's already")
			}
			f.Tx(t, func(exec Exec) error { return exec(`UPDATE events SET actor = 'root' WHERE id = $1`, e.ID) })
			return Expected{int64(i), e.ID, "stored bytes were changed"}
		}},
		{Name: "SecretHash", Tamper: func(t testing.TB, f *Fixture) Expected {
			i := f.Index(t, domclient.EventTypeSecretAdded, "eu-west")
			e := f.Events[i]
			data := tamperSecretHash(t, e.Data)
			f.Tx(t, func(exec Exec) error { return exec(`UPDATE events SET data = $1 WHERE id = $2`, data, e.ID) })
			return Expected{int64(i), e.ID, "stored bytes were changed"}
		}, Check: func(t testing.TB, f *Fixture, rep *auditlog.Report, file []byte) {
			// What the auditor reads is the same: only the digest of
			// the withheld bytes tells.
			i := f.Index(t, domclient.EventTypeSecretAdded, "eu-west")
			was, now := Entries(t, f.Export)[i], Entries(t, file)[i]
			if !bytes.Equal(was.Data, now.Data) {
				t.Errorf("the redacted data changed with the secret hash:\n%s\n%s", was.Data, now.Data)
			}
			if was.DataDigest == now.DataDigest {
				t.Error("the data digest did not change with the secret hash")
			}
		}},
		{Name: "EventDeleted", Tamper: func(t testing.TB, f *Fixture) Expected {
			i := f.Index(t, domclient.EventTypeSecretRotated, "")
			e := f.Events[i]
			f.Tx(t, func(exec Exec) error { return exec(`DELETE FROM events WHERE id = $1`, e.ID) })
			// The store's next event now stands where the deleted one
			// was logged.
			return Expected{int64(i), f.Events[i+1].ID, "recorded event " + e.ID}
		}},
		{Name: "EventInserted", Tamper: func(t testing.TB, f *Fixture) Expected {
			// A client slipped in before the deactivation of the SPA: a
			// copy of the orders client's registration, on a stream of
			// its own.
			i := f.Index(t, domclient.EventTypeDeactivated, "")
			before, at := f.Events[i-1], f.Events[i]
			if before.Position.Commit == at.Position.Commit {
				t.Fatal("the events around the insertion share a commit")
			}
			src := f.Events[f.Index(t, domclient.EventTypeRegistered, "Orders API")]
			const forged = "00000000-0000-4000-8000-0000f0f0f0f0"
			f.Tx(t, func(exec Exec) error { return tamperInsertAfter(f, exec, src.ID, forged, before) })
			return Expected{int64(i), forged, "recorded event " + at.ID}
		}},
		{Name: "TwoEventsSwapped", Tamper: func(t testing.TB, f *Fixture) Expected {
			i := f.Index(t, tenant.EventTypeRenamed, "")
			a, b := f.Events[i], f.Events[i+1]
			f.Tx(t, func(exec Exec) error { return tamperSwap(f, exec, a, b) })
			return Expected{int64(i), b.ID, "recorded event " + a.ID}
		}, Check: func(t testing.TB, f *Fixture, rep *auditlog.Report, _ []byte) {
			// Both places are named, each with the other's event.
			i := f.Index(t, tenant.EventTypeRenamed, "")
			a, b := f.Events[i], f.Events[i+1]
			if len(rep.Failures) < 2 || rep.Failures[1].Index != int64(i+1) || rep.Failures[1].EventID != a.ID ||
				!strings.Contains(rep.Failures[1].Problem, "recorded event "+b.ID) {
				t.Errorf("failures = %v; want the second at leaf %d naming %s where %s was recorded", rep.Failures, i+1, a.ID, b.ID)
			}
		}},
		{Name: "TailTruncated", Tamper: func(t testing.TB, f *Fixture) Expected {
			n := len(f.Events)
			f.Tx(t, func(exec Exec) error {
				for _, e := range f.Events[n-3:] {
					if err := exec(`DELETE FROM events WHERE id = $1`, e.ID); err != nil {
						return err
					}
				}
				return nil
			})
			return Expected{int64(n - 3), f.Events[n-3].ID, "no longer holds it"}
		}, Check: func(t testing.TB, f *Fixture, rep *auditlog.Report, _ []byte) {
			n := len(f.Events)
			if len(rep.Failures) < 3 || rep.Failures[2].Index != int64(n-1) || rep.Failures[2].EventID != f.Events[n-1].ID {
				t.Errorf("failures = %v; want each of the last three events named", rep.Failures)
			}
		}},
		{Name: "EditedThenRebuiltByTheNode", Forked: true, Tamper: func(t testing.TB, f *Fixture) Expected {
			// An event edited, then the operator rebuilds the log from
			// the store (clavis projections rebuild does): the rebuild
			// says the signed history is gone, and the node carries on,
			// logging new events.
			i := f.Index(t, domclient.EventTypeUpdated, "Orders API v2")
			data := bytes.Replace(f.Events[i].Data, []byte("Takes orders"), []byte("Takes bribes"), 1)
			f.Tx(t, func(exec Exec) error { return exec(`UPDATE events SET data = $1 WHERE id = $2`, data, f.Events[i].ID) })
			if _, err := f.Log.Rebuild(t.Context()); !errors.Is(err, auditlog.ErrRewritten) {
				t.Fatalf("rebuild from the edited store: %v; want an error matching auditlog.ErrRewritten", err)
			}
			res, err := f.Services.Tenants.Update(t.Context(), tenants.Request{Actor: "root", Reason: "after the rebuild"}, Acme,
				tenants.TenantPatch{Name: tamperPtr("Acme Group")})
			if err != nil {
				t.Fatal(err)
			}
			tamperVisible(t, f.Env.Store, res.Position)
			// The rebuilt log holds the edited leaf: no entry of the
			// export differs from it, and the signed roots alone tell.
			saved, err := auditlog.ParseCheckpoint(tamperCheckpointText(f.Saved[Acme]))
			if err != nil {
				t.Fatal(err)
			}
			return Expected{-1, "", "up to size " + strconv.FormatInt(saved.Size, 10) + " is not the one the checkpoint saved earlier signed"}
		}, Check: func(t testing.TB, f *Fixture, rep *auditlog.Report, file []byte) {
			if n := len(rep.Failures); n != 2 || !strings.Contains(rep.Failures[n-1].Problem, "is not the checkpoint's") {
				t.Errorf("failures = %v; want the saved checkpoint's and the export's", rep.Failures)
			}
		}},
		{Name: "HistoryRewrittenAndResigned", Resigned: true, Tamper: func(t testing.TB, f *Fixture) Expected {
			// An early event, one the saved checkpoint covers, edited;
			// the log wiped, rebuilt from the edited store by a node
			// started again, and signed with the tenants' own keys.
			i := f.Index(t, domclient.EventTypeUpdated, "Orders API v2")
			saved, err := auditlog.ParseCheckpoint(tamperCheckpointText(f.Saved[Acme]))
			if err != nil {
				t.Fatal(err)
			}
			if int64(i) >= saved.Size {
				t.Fatalf("the edited event (leaf %d) is beyond the saved checkpoint (size %d)", i, saved.Size)
			}
			data := bytes.Replace(f.Events[i].Data, []byte("Takes orders"), []byte("Takes bribes"), 1)
			f.Tx(t, func(exec Exec) error { return exec(`UPDATE events SET data = $1 WHERE id = $2`, data, f.Events[i].ID) })
			f.Tx(t, tamperWipe)
			f.Log = tamperOpenLog(t, f.Env)
			if _, err := f.Log.Rebuild(t.Context()); err != nil {
				t.Fatalf("rebuild: %v", err)
			}
			if _, err := f.Log.Sign(t.Context(), f.Services.Tenants); err != nil {
				t.Fatalf("sign: %v", err)
			}
			return Expected{-1, "", "up to size " + strconv.FormatInt(saved.Size, 10) + " is not the one the checkpoint saved earlier signed"}
		}, Check: func(t testing.TB, f *Fixture, rep *auditlog.Report, file []byte) {
			// The rewritten export is consistent in itself: without the
			// saved checkpoint it verifies, which is why auditors save
			// them.
			if len(rep.Failures) != 1 {
				t.Errorf("failures = %v; want the saved checkpoint's alone", rep.Failures)
			}
			alone, err := auditlog.Verify(bytes.NewReader(file), f.Verifiers(t, Acme))
			if err != nil || !alone.OK() {
				t.Errorf("the rewritten export without the saved checkpoint: %v, %v", alone, err)
			}
		}},
	}
}

// RunTamper edits the database under a caught-up, signed audit log, as
// someone with write access to it would, each case of [Cases] on a fresh
// database of its own, and checks that the offline verifier catches the
// edit and that its first failure names the event it was done to, that
// Globex's log still verifies, and that the node's own rebuild refuses
// the checkpoints it signed. The untouched workload must verify.
func RunTamper(t *testing.T, newEnv func(t testing.TB) TamperEnv) {
	t.Run("Untouched", func(t *testing.T) {
		t.Parallel()
		f := NewFixture(t, newEnv(t))
		for _, slug := range []string{Acme, Globex} {
			rep, file := f.Verify(t, slug)
			if !rep.OK() || rep.Saved != 1 || rep.Entries == 0 {
				t.Errorf("%s's untouched export: %+v\n%s", slug, rep, file)
			}
		}
		if rep, _ := f.Verify(t, Acme); rep.Entries != int64(len(f.Events)) {
			t.Errorf("Acme's export has %d entries; the store holds %d events of Acme", rep.Entries, len(f.Events))
		}
		// Secret material (secret hashes, sealed keys, salts) is in the
		// store and nowhere in the exports.
		for _, slug := range []string{Acme, Globex} {
			file := f.export(t, slug)
			withheld := 0
			for _, x := range Entries(t, file) {
				raw := f.stored(t, x.ID)
				for _, secret := range tamperWithheld(t, raw, x.Data) {
					withheld++
					if bytes.Contains(file, []byte(secret)) {
						t.Errorf("%s's export shows %q, withheld from event %s's data", slug, secret, x.ID)
					}
				}
			}
			if withheld == 0 {
				t.Errorf("%s's export withholds nothing: the workload holds no secret material", slug)
			}
		}
		if f.Env.Verify != nil {
			f.Env.Verify(t, f, Acme, nil)
			f.Env.Verify(t, f, Globex, nil)
		}
		if _, err := f.Log.Rebuild(t.Context()); err != nil {
			t.Errorf("rebuild over the untouched store: %v", err)
		}
	})
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			f := NewFixture(t, newEnv(t))
			want := c.Tamper(t, f)
			// The node goes on as if nothing happened: it catches up
			// and signs what it logs, but never a fork of what it signed.
			if _, err := f.Log.CatchUp(t.Context()); err != nil {
				t.Fatalf("catch up after the edit: %v", err)
			}
			signed, err := f.Log.Sign(t.Context(), f.Services.Tenants)
			switch {
			case c.Forked && (!errors.Is(err, auditlog.ErrRewritten) || !strings.Contains(err.Error(), "tenant "+Acme+"'s") || len(signed) != 0):
				t.Errorf("sign over a log forked from its checkpoints: %v, %d checkpoints; want none, and an error matching auditlog.ErrRewritten", err, len(signed))
			case !c.Forked && err != nil:
				t.Errorf("sign after the edit: %v", err)
			}
			rep, file := f.Verify(t, Acme)
			if rep.OK() {
				t.Fatalf("the tampered store verifies:\n%s", file)
			}
			t.Logf("verify: %d failures: %v", len(rep.Failures), rep.Failures)
			got := rep.Failures[0]
			if got.Index != want.Index || got.EventID != want.EventID || !strings.Contains(got.Problem, want.Problem) {
				t.Errorf("first failure = %q\nwant leaf %d, event %q, problem with %q\nall: %v", got, want.Index, want.EventID, want.Problem, rep.Failures)
			}
			if c.Check != nil {
				c.Check(t, f, rep, file)
			}
			if rep, file := f.Verify(t, Globex); !rep.OK() {
				t.Errorf("Globex's export, untouched, fails: %v\n%s", rep.Failures, file)
			}
			if f.Env.Verify != nil {
				f.Env.Verify(t, f, Acme, &want)
				f.Env.Verify(t, f, Globex, nil)
			}
			// A node rebuilding its log from the edited store finds the
			// checkpoints it signed no longer hold.
			_, err = f.Log.Rebuild(t.Context())
			switch {
			case c.Unreadable:
				if !errors.Is(err, domain.ErrCorruptEvent) || !strings.Contains(err.Error(), want.EventID) {
					t.Errorf("rebuild over an unreadable event: %v; want an error matching domain.ErrCorruptEvent naming %s", err, want.EventID)
				}
			case c.Resigned && err != nil:
				t.Errorf("rebuild after the history was rewritten and signed again: %v", err)
			case !c.Resigned && !errors.Is(err, auditlog.ErrRewritten):
				t.Errorf("rebuild over the tampered store: %v; want an error matching auditlog.ErrRewritten", err)
			case !c.Resigned && (!strings.Contains(err.Error(), "tenant "+Acme+"'s") || strings.Contains(err.Error(), "tenant "+Globex+"'s")):
				t.Errorf("rebuild over the tampered store: %v; want Acme's checkpoints named, not Globex's", err)
			}
		})
	}
}

// tamperSecretHash changes one character of the stored hash of the secret
// a client.secret_added event adds.
func tamperSecretHash(t testing.TB, data []byte) []byte {
	t.Helper()
	var ev struct {
		Secret struct {
			Hash string `json:"hash"`
		} `json:"secret"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || len(ev.Secret.Hash) < 8 {
		t.Fatalf("no secret hash in %s (%v)", data, err)
	}
	h := []byte(ev.Secret.Hash)
	h[len(h)-2] ^= 1 // stays printable ASCII
	out := bytes.Replace(data, []byte(ev.Secret.Hash), h, 1)
	if bytes.Equal(out, data) {
		t.Fatalf("the hash %q is not in the data as written", ev.Secret.Hash)
	}
	return out
}

// tamperInsertAfter inserts a copy of the event src, with the id id on a
// stream of its own, right after the event before in the tenant's order.
func tamperInsertAfter(f *Fixture, exec Exec, src, id string, before eventstore.Event) error {
	if err := exec(`CREATE TEMP TABLE forged AS SELECT * FROM events WHERE id = $1`, src); err != nil {
		return err
	}
	if err := exec(`UPDATE forged SET id = $1, stream_id = 'ghost', version = 1`, id); err != nil {
		return err
	}
	switch f.Env.Dialect {
	case Postgres:
		// The order is (commit_id, position): the forged row takes the
		// commit of the event before it and a position of its own, past
		// every other; the identity column takes it when told to.
		if err := exec(`UPDATE forged SET commit_id = $1, position = (SELECT max(position) + 1000 FROM events)`, int64(before.Position.Commit)); err != nil {
			return err
		}
		if err := exec(`INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM forged`); err != nil {
			return err
		}
	case SQLite:
		// The order is the position alone: every later event moves one
		// place on (through negative positions, so no two collide) and
		// the forged row takes the place freed.
		if err := exec(`UPDATE events SET position = -position - 1 WHERE position > $1`, before.Position.Seq); err != nil {
			return err
		}
		if err := exec(`UPDATE events SET position = -position WHERE position < 0`); err != nil {
			return err
		}
		next := before.Position.Seq + 1
		if err := exec(`UPDATE forged SET commit_id = $1, position = $1`, next); err != nil {
			return err
		}
		if err := exec(`INSERT INTO events SELECT * FROM forged`); err != nil {
			return err
		}
	}
	return exec(`DROP TABLE forged`)
}

// tamperSwap exchanges the places of two events in the store's order.
func tamperSwap(f *Fixture, exec Exec, a, b eventstore.Event) error {
	switch f.Env.Dialect {
	case Postgres:
		// An identity column is not updated; the rows are written again,
		// each at the other's place.
		steps := []struct {
			q    string
			args []any
		}{
			{`CREATE TEMP TABLE swapped AS SELECT * FROM events WHERE id IN ($1, $2)`, []any{a.ID, b.ID}},
			{`UPDATE swapped SET commit_id = $1, position = $2 WHERE id = $3`, []any{int64(b.Position.Commit), b.Position.Seq, a.ID}},
			{`UPDATE swapped SET commit_id = $1, position = $2 WHERE id = $3`, []any{int64(a.Position.Commit), a.Position.Seq, b.ID}},
			{`DELETE FROM events WHERE id IN ($1, $2)`, []any{a.ID, b.ID}},
			{`INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM swapped`, nil},
			{`DROP TABLE swapped`, nil},
		}
		for _, s := range steps {
			if err := exec(s.q, s.args...); err != nil {
				return err
			}
		}
		return nil
	default:
		if err := exec(`UPDATE events SET position = -1 WHERE id = $1`, a.ID); err != nil {
			return err
		}
		if err := exec(`UPDATE events SET position = $1, commit_id = $2 WHERE id = $3`, a.Position.Seq, int64(a.Position.Commit), b.ID); err != nil {
			return err
		}
		return exec(`UPDATE events SET position = $1, commit_id = $2 WHERE id = $3`, b.Position.Seq, int64(b.Position.Commit), a.ID)
	}
}

// tamperWipe deletes every row of the audit tables and moves the log's
// progress back to the start.
func tamperWipe(exec Exec) error {
	for _, q := range []string{
		`DELETE FROM audit_leaves`, `DELETE FROM audit_hashes`, `DELETE FROM audit_trees`,
		`DELETE FROM audit_checkpoints`, `UPDATE audit_progress SET commit_id = 0, position = 0`,
	} {
		if err := exec(q); err != nil {
			return err
		}
	}
	return nil
}

// stored returns the stored data of an event of either tenant.
func (f *Fixture) stored(t testing.TB, id string) []byte {
	t.Helper()
	for _, slug := range []string{Acme, Globex} {
		evs, err := f.Env.Store.ReadTenant(t.Context(), slug, eventstore.Position{}, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.ID == id {
				return e.Data
			}
		}
	}
	t.Fatalf("no event %s in the store", id)
	return nil
}

// tamperWithheld returns the strings of the stored data that its
// redacted form replaces.
func tamperWithheld(t testing.TB, stored, redacted []byte) []string {
	t.Helper()
	var a, b any
	if err := json.Unmarshal(stored, &a); err != nil {
		t.Fatalf("stored data %s: %v", stored, err)
	}
	if err := json.Unmarshal(redacted, &b); err != nil {
		t.Fatalf("redacted data %s: %v", redacted, err)
	}
	var out []string
	var walk func(a, b any)
	walk = func(a, b any) {
		switch a := a.(type) {
		case string:
			if b != a && len(a) >= 8 {
				out = append(out, a)
			}
		case map[string]any:
			bm, _ := b.(map[string]any)
			for k, v := range a {
				walk(v, bm[k])
			}
		case []any:
			bs, _ := b.([]any)
			for i, v := range a {
				var w any
				if i < len(bs) {
					w = bs[i]
				}
				walk(v, w)
			}
		}
	}
	walk(a, b)
	return out
}

// tamperCheckpointText is the text of a signed checkpoint note, without its
// signatures.
func tamperCheckpointText(signed []byte) string {
	text, _, _ := strings.Cut(string(signed), "\n\n")
	return text + "\n"
}
