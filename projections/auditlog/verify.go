package auditlog

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"

	gojson "github.com/goccy/go-json"
	"golang.org/x/mod/sumdb/tlog"
)

// Failure is one way an export fails to verify.
type Failure struct {
	// Index is the leaf the failure is about, -1 for the checkpoint or
	// the export as a whole.
	Index int64
	// EventID is the event the failure names, if any.
	EventID string
	// Problem says what does not hold, in a sentence.
	Problem string
}

func (f Failure) String() string {
	if f.Index < 0 {
		return f.Problem
	}
	if f.EventID == "" {
		return fmt.Sprintf("leaf %d: %s", f.Index, f.Problem)
	}
	return fmt.Sprintf("leaf %d, event %s: %s", f.Index, f.EventID, f.Problem)
}

// Report is what [Verify] found.
type Report struct {
	// Tenant is the export's tenant.
	Tenant string
	// Checkpoint is the export's checkpoint (as signed, if it verified).
	Checkpoint Checkpoint
	// Entries is how many entries were read and recomputed.
	Entries int64
	// Saved is how many saved checkpoints were checked.
	Saved int
	// Failures are the problems found, in the order of the log: the first
	// names the first event that fails. At most [MaxFailures] are kept;
	// Omitted counts the others.
	Failures []Failure
	Omitted  int
}

// MaxFailures bounds the failures a [Report] keeps.
const MaxFailures = 100

// OK reports whether everything verified.
func (r *Report) OK() bool { return len(r.Failures) == 0 }

func (r *Report) fail(index int64, eventID, format string, args ...any) {
	if len(r.Failures) >= MaxFailures {
		r.Omitted++
		return
	}
	r.Failures = append(r.Failures, Failure{Index: index, EventID: eventID, Problem: fmt.Sprintf(format, args...)})
}

// Verify checks an export offline, trusting nothing the server says but
// the verifier keys the auditor holds (in the note format) and the
// signed checkpoints the auditor saved earlier: it recomputes every
// leaf from its entry and the tree's root, checks the export's
// checkpoint's signature and that its root is the one recomputed, and
// that the history agrees with every saved checkpoint (so a history
// rewritten and signed again is caught). The error is for an export it
// cannot read; what does not hold is in the report.
func Verify(r io.Reader, keys []string, saved ...[]byte) (*Report, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	h, err := readHeader(br)
	if err != nil {
		return nil, err
	}
	rep := &Report{Tenant: h.Tenant}
	cp, err := Open([]byte(h.Checkpoint), keys...)
	if err != nil {
		rep.fail(-1, "", "the export's checkpoint does not verify with the given keys: %v", err)
		// Go on with what it claims, to name the events that differ.
		text, _, _ := strings.Cut(h.Checkpoint, "\n\n")
		if cp, err = ParseCheckpoint(text + "\n"); err != nil {
			return rep, nil
		}
	}
	rep.Checkpoint = cp

	var checks []Checkpoint
	for i, s := range saved {
		c, err := Open(s, keys...)
		if err != nil {
			rep.fail(-1, "", "saved checkpoint %d does not verify with the given keys: %v", i+1, err)
			continue
		}
		if c.Origin != cp.Origin {
			rep.fail(-1, "", "saved checkpoint %d is of the log %q, not %q", i+1, c.Origin, cp.Origin)
			continue
		}
		if c.Size > cp.Size {
			rep.fail(-1, "", "saved checkpoint %d (size %d) is newer than the export's (size %d): export a newer one", i+1, c.Size, cp.Size)
			continue
		}
		checks = append(checks, c)
	}
	slices.SortFunc(checks, func(a, b Checkpoint) int { return cmp.Compare(a.Size, b.Size) })
	rep.Saved = len(checks)

	t := &tree{}
	check := func() {
		for len(checks) > 0 && checks[0].Size == t.size() {
			c := checks[0]
			checks = checks[1:]
			if root := t.root(c.Size); root != c.Root {
				rep.fail(-1, "", "the history up to size %d is not the one the checkpoint saved earlier signed (root %s, now %s): it was rewritten", c.Size, c.Root, root)
			}
		}
	}
	check()
	err = readEntries(br, func(e *ExportEntry, leaf tlog.Hash) error {
		if e.Index != t.size() {
			return fmt.Errorf("%w: entry %d where entry %d belongs", ErrExport, e.Index, t.size())
		}
		if e.Index >= cp.Size {
			return fmt.Errorf("%w: entry %d is beyond the checkpoint's size %d", ErrExport, e.Index, cp.Size)
		}
		switch {
		case e.Missing:
			rep.fail(e.Index, e.LoggedID, "the log recorded this event here, and the store no longer holds it (deleted, or the history was cut short)")
		case leaf == e.LoggedHash:
		case e.ID != e.LoggedID:
			rep.fail(e.Index, e.ID, "the log recorded event %s here; the store holds this one instead (an event inserted, deleted or moved)", e.LoggedID)
		default:
			rep.fail(e.Index, e.ID, "%s version %d (%s) is not what the log recorded: its stored bytes were changed", e.Stream, e.Version, e.Type)
		}
		if err := t.add(leaf); err != nil {
			return err
		}
		rep.Entries++
		check()
		return nil
	})
	if err != nil {
		return rep, err
	}
	if t.size() < cp.Size {
		rep.fail(t.size(), "", "the export ends after %d entries, the checkpoint covers %d", t.size(), cp.Size)
		return rep, nil
	}
	if root := t.root(cp.Size); root != cp.Root {
		rep.fail(-1, "", "the root over the entries (%s) is not the checkpoint's (%s)", root, cp.Root)
	}
	return rep, nil
}

// tree is a Merkle tree in memory, kept as tlog stores it.
type tree struct {
	n      int64 // leaves
	hashes []tlog.Hash
}

func (t *tree) size() int64 { return t.n }

func (t *tree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("auditlog: tree has no hash %d", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

func (t *tree) add(leaf tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(t.n, leaf, t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hs...)
	t.n++
	return nil
}

func (t *tree) root(n int64) tlog.Hash {
	h, err := tlog.TreeHash(n, t)
	if err != nil {
		panic(err) // n ≤ size, so every hash is there
	}
	return h
}

// readEntries decodes the entry lines of an export, and computes their
// leaf hashes, on every CPU, and hands them to fn in order.
func readEntries(r *bufio.Reader, fn func(*ExportEntry, tlog.Hash) error) error {
	type batch struct {
		lines   [][]byte
		entries []ExportEntry
		leaves  []tlog.Hash
		n       int // entries decoded
		err     error
		done    chan struct{}
	}
	// A batch ends after size lines, or after the line that takes it to
	// batchBytes: a line may be up to maxLine long and a few batches are
	// in flight at once, so a count alone would let an export of long
	// lines take gigabytes.
	const size, batchBytes = 256, 4 << 20
	work := make(chan *batch, 2*runtime.GOMAXPROCS(0))
	ordered := make(chan *batch, 2*runtime.GOMAXPROCS(0))
	stop := make(chan struct{})
	defer close(stop)
	for range runtime.GOMAXPROCS(0) {
		go func() {
			for b := range work {
				b.entries = make([]ExportEntry, len(b.lines))
				b.leaves = make([]tlog.Hash, len(b.lines))
				for i, line := range b.lines {
					if err := decodeEntry(line, &b.entries[i]); err != nil {
						b.err = err
						break
					}
					if !b.entries[i].Missing {
						b.leaves[i] = b.entries[i].LeafHash()
					}
					b.n++
				}
				close(b.done)
			}
		}()
	}
	go func() {
		defer close(work)
		defer close(ordered)
		for {
			b := &batch{done: make(chan struct{})}
			var rerr error
			eof := false
			for n := 0; len(b.lines) < size && n < batchBytes; {
				line, err := readLine(r)
				if err != nil {
					if !errors.Is(err, io.EOF) {
						rerr = err
					}
					eof = true
					break
				}
				if len(line) > 0 {
					b.lines = append(b.lines, line)
					n += len(line)
				}
			}
			if len(b.lines) == 0 && rerr == nil {
				return
			}
			if rerr != nil {
				b.err = rerr
				close(b.done)
			} else {
				select {
				case work <- b:
				case <-stop:
					return
				}
			}
			select {
			case ordered <- b:
			case <-stop:
				return
			}
			if eof {
				return
			}
		}
	}()
	for b := range ordered {
		<-b.done
		for i := range b.n {
			if err := fn(&b.entries[i], b.leaves[i]); err != nil {
				return err
			}
		}
		if b.err != nil {
			return b.err
		}
	}
	return nil
}

// decodeEntry reads an entry line. A line that is not UTF-8 is refused:
// an export is written as JSON, which is UTF-8, and JSON readers differ
// on what bytes that are not UTF-8 stand for (encoding/json reads each
// as U+FFFD, goccy/go-json keeps them), so such a line has no one
// meaning to verify. (goccy/go-json also takes malformed JSON in a raw
// or unknown member as it comes; that changes nothing verified: the
// leaf commits to the data's bytes, and a member it does not know is
// not read.)
func decodeEntry(line []byte, e *ExportEntry) error {
	if !utf8.Valid(line) {
		return fmt.Errorf("%w: an entry is not UTF-8", ErrExport)
	}
	if err := gojson.Unmarshal(line, e); err != nil {
		return fmt.Errorf("%w: an entry does not decode: %v", ErrExport, err)
	}
	return nil
}
