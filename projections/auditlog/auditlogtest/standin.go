package auditlogtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections/auditlog"
)

// MemLog is a log kept in memory, standing in for the real one until it
// lands: it logs, signs and exports as the real one is specified to.
type MemLog struct {
	store eventstore.Store
	mu    sync.Mutex
	pos   eventstore.Position
	logs  map[string]*memTree
	cps   map[string][][]byte
}

type memTree struct {
	ids    []string
	leaves []tlog.Hash
	hashes []tlog.Hash
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m.hashes[x]
	}
	return out, nil
}

// NewMemLog returns an empty log over store.
func NewMemLog(store eventstore.Store) *MemLog {
	return &MemLog{store: store, logs: map[string]*memTree{}, cps: map[string][][]byte{}}
}

// Wipe forgets everything, checkpoints included.
func (l *MemLog) Wipe(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pos, l.logs, l.cps = eventstore.Position{}, map[string]*memTree{}, map[string][][]byte{}
	return nil
}

func (l *MemLog) CatchUp(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		evs, err := l.store.ReadAll(ctx, l.pos, 500)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		for _, e := range evs {
			m := l.logs[e.Stream.Tenant]
			if m == nil {
				m = &memTree{}
				l.logs[e.Stream.Tenant] = m
			}
			en, err := auditlog.NewEntry(int64(len(m.ids)), e)
			if err != nil {
				return err
			}
			hs, err := tlog.StoredHashesForRecordHash(int64(len(m.ids)), en.LeafHash(), m)
			if err != nil {
				return err
			}
			m.ids, m.leaves, m.hashes = append(m.ids, e.ID), append(m.leaves, en.LeafHash()), append(m.hashes, hs...)
			l.pos = e.Position
		}
	}
}

func (l *MemLog) Rebuild(ctx context.Context) error {
	l.mu.Lock()
	l.pos, l.logs = eventstore.Position{}, map[string]*memTree{}
	l.mu.Unlock()
	return l.CatchUp(ctx)
}

func (l *MemLog) Sign(ctx context.Context, keys *TestKeys) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for slug, m := range l.logs {
		root, err := tlog.TreeHash(int64(len(m.ids)), m)
		if err != nil {
			return err
		}
		s, err := keys.AuditSigner(ctx, slug)
		if err != nil {
			return err
		}
		note, err := auditlog.Sign(auditlog.Checkpoint{Origin: s.Name(), Size: int64(len(m.ids)), Root: root}, s)
		if err != nil {
			return err
		}
		l.cps[slug] = append(l.cps[slug], note)
	}
	return nil
}

func (l *MemLog) Export(ctx context.Context, tenant string, size int64, w io.Writer) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	m, cps := l.logs[tenant], l.cps[tenant]
	if m == nil || len(cps) == 0 {
		return errors.New("no log")
	}
	note := cps[len(cps)-1]
	cp, err := auditlog.ParseCheckpoint(checkpointText(note))
	if err != nil {
		return err
	}
	if size != 0 && size != cp.Size {
		return fmt.Errorf("only the latest")
	}
	xw, err := auditlog.NewExportWriter(w, auditlog.ExportHeader{Tenant: tenant, Checkpoint: string(note)})
	if err != nil {
		return err
	}
	evs, err := l.store.ReadTenant(ctx, tenant, eventstore.Position{}, 10000)
	if err != nil {
		return err
	}
	for i := range cp.Size {
		x := auditlog.ExportEntry{LoggedHash: m.leaves[i], LoggedID: m.ids[i]}
		if i < int64(len(evs)) {
			if x.Entry, err = auditlog.NewEntry(i, evs[i]); err != nil {
				return err
			}
		} else {
			x.Index, x.Missing = i, true
		}
		if err := xw.Write(x); err != nil {
			return err
		}
	}
	return xw.Flush()
}
