package tenants

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore/aggregate"
	"github.com/clavisiam/clavis/projections"
)

// ChangeRef names one event of a client's stream whose changes are
// wanted: the client, the version the event made, and the event's id.
type ChangeRef struct {
	ClientID string
	Version  int64
	EventID  string
}

// FieldChange is one member of a client, as a reader shows it, that an
// event changed.
type FieldChange struct {
	// Field is the member's name.
	Field string
	// Before and After are the member's JSON before and after the event;
	// nil where the member is absent (before the client's creation, or
	// left out when empty). Both are nil for a Secret member.
	Before, After json.RawMessage
	// Secret says the member holds or stands for secret material (the
	// client's secrets, the pairwise subject salt): only that it changed
	// is told, never a value or a hash.
	Secret bool
}

// secretMembers are the members of a shown client that hold or stand for
// secret material, and whether two states differ in them. They are
// compared on the states, not on what is shown: a new salt shows as
// [client.Redacted] before and after.
var secretMembers = map[string]func(a, b projections.ClientView) bool{
	"secrets": func(a, b projections.ClientView) bool {
		return !slices.EqualFunc(a.Secrets, b.Secrets, func(x, y projections.SecretView) bool {
			return x.ID == y.ID && x.Hash == y.Hash && x.Description == y.Description && x.CreatedAt.Equal(y.CreatedAt) &&
				(x.ExpiresAt == nil) == (y.ExpiresAt == nil) && (x.ExpiresAt == nil || x.ExpiresAt.Equal(*y.ExpiresAt))
		})
	},
	"pairwise_subject_salt": func(a, b projections.ClientView) bool {
		return a.Settings.PairwiseSubjectSalt != b.Settings.PairwiseSubjectSalt
	},
}

// bookkeeping are members that a diff of them tells nothing by: the
// client's id and creation time, which never change, and what every
// event changes and says itself (its version, when it was recorded).
var bookkeeping = []string{"client_id", "created_at", "version", "updated_at"}

// ClientChanges returns, for each event refs name, the members of the
// client that it changed, keyed by event id: the client is folded from
// its stream with the domain's own Apply, shown with show before and
// after the event (show returns what a reader sees of a client: a value
// that encodes as a JSON object), and the two compared member by member.
// Each client's stream is read and folded once, however many of its
// events refs name. An event whose stored id is not the one named, or
// whose stream does not fold, gets no entry: the log and the store
// disagree there, which verification reports. It reads the event store;
// other errors are the store's.
func (c *Clients) ClientChanges(ctx context.Context, tenant string, refs []ChangeRef, show func(projections.ClientView) any) (map[string][]FieldChange, error) {
	// The event ids named at each version of each client: a ref may name
	// an id the store does not hold there, which must not hide one it does.
	byClient := make(map[string]map[int64][]string)
	for _, r := range refs {
		if byClient[r.ClientID] == nil {
			byClient[r.ClientID] = make(map[int64][]string)
		}
		byClient[r.ClientID][r.Version] = append(byClient[r.ClientID][r.Version], r.EventID)
	}
	out := make(map[string][]FieldChange, len(refs))
	for id, versions := range byClient {
		if !validClientID(id) {
			continue
		}
		last := slices.Max(slices.Collect(maps.Keys(versions)))
		stored, err := c.store.ReadStream(ctx, ClientStream(tenant, id), 0)
		if err != nil {
			return nil, fmt.Errorf("client changes: %w", err)
		}
		agg := new(client.Client)
		var before projections.ClientView
		for _, e := range stored {
			if e.Version > last {
				break
			}
			if err := applyStored(agg, e); err != nil {
				var le *aggregate.LoadError
				if errors.As(err, &le) {
					break
				}
				return nil, fmt.Errorf("client changes: %w", err)
			}
			after := projections.NewClientView(tenant, agg)
			if slices.Contains(versions[e.Version], e.ID) {
				changes, err := diffClient(before, after, e.Version == 1, show)
				if err != nil {
					return nil, fmt.Errorf("client changes: %w", err)
				}
				out[e.ID] = changes
			}
			before = after
		}
	}
	return out, nil
}

// diffClient compares two states of a client as show shows them; fresh
// says a is no client at all (before its creation).
func diffClient(a, b projections.ClientView, fresh bool, show func(projections.ClientView) any) ([]FieldChange, error) {
	var am, bm map[string]json.RawMessage
	if !fresh {
		var err error
		if am, err = members(show(a)); err != nil {
			return nil, err
		}
	}
	bm, err := members(show(b))
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(am)+len(bm))
	for k := range am {
		names = append(names, k)
	}
	for k := range bm {
		if _, ok := am[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	changes := []FieldChange{}
	for _, k := range names {
		if slices.Contains(bookkeeping, k) {
			continue
		}
		if differ, ok := secretMembers[k]; ok {
			if differ(a, b) { // a is the zero client when fresh
				changes = append(changes, FieldChange{Field: k, Secret: true})
			}
			continue
		}
		before, after := am[k], bm[k]
		if !jsonEqual(before, after) {
			changes = append(changes, FieldChange{Field: k, Before: before, After: after})
		}
	}
	return changes, nil
}

// members encodes v and splits the JSON object into its members.
func members(v any) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode a client: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("a client does not show as a JSON object: %w", err)
	}
	return m, nil
}

// jsonEqual reports whether two JSON texts hold the same value; empty
// lists and objects are the same as an absent member.
func jsonEqual(a, b json.RawMessage) bool {
	if empty(a) && empty(b) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return bytes.Equal(a, b)
	}
	ac, _ := json.Marshal(av) // encoding/json sorts object keys
	bc, _ := json.Marshal(bv)
	return bytes.Equal(ac, bc)
}

// empty reports whether raw is absent, null, "", [] or {}.
func empty(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", `""`, "[]", "{}", "false":
		return true
	}
	return false
}

// ChangesBetween lists what changed in client id of tenant from one
// instant to another: the members of the client, as show presents it,
// that differ between [Clients.At] the two, as [Clients.ClientChanges]
// lists them for one event (secret members only as changed). A client
// not created yet at from counts as new: every member it has at to is a
// change. One not created yet at to is not found.
func (c *Clients) ChangesBetween(ctx context.Context, tenant, id string, from, to Instant, show func(projections.ClientView) any) ([]FieldChange, error) {
	b, err := c.At(ctx, tenant, id, to)
	if err != nil {
		return nil, err
	}
	a, err := c.At(ctx, tenant, id, from)
	fresh := errors.Is(err, domain.ErrNotFound)
	if err != nil && !fresh {
		return nil, err
	}
	return diffClient(a, b, fresh, show)
}
