package row_test

import (
	"errors"
	"testing"
	"time"

	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/internal/row"
)

// FuzzDecodeCursor checks the cursors of client lists (the after query
// parameter of the admin API's and the console's lists), in every order:
// a cursor refused is an error matching projections.ErrBadCursor and
// projections.ErrInvalid; a cursor accepted, written again for the page
// it points after, reads as the same place.
func FuzzDecodeCursor(f *testing.F) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)
	v := projections.ClientSummary{ClientID: "cl_01J8", Name: "Orders API", CreatedAt: at, UpdatedAt: at.Add(time.Hour)}
	for i, sort := range projections.ClientSorts {
		for _, desc := range []bool{false, true} {
			cursor := row.EncodeCursor(projections.ClientFilter{Sort: sort, Desc: desc}, v)
			f.Add(uint8(i), desc, cursor)
			f.Add(uint8(i+1), desc, cursor) // another order's
		}
	}
	for _, s := range []string{"", "cl_01J8", "name", "name ", "name !!", "-created bm90", "created MTIzCg", "updated YQpi", "client_id eA"} {
		f.Add(uint8(1), false, s)
	}
	f.Fuzz(func(t *testing.T, sort uint8, desc bool, after string) {
		sorts := append([]projections.ClientSort{""}, projections.ClientSorts...)
		filter := projections.ClientFilter{Sort: sorts[int(sort)%len(sorts)], Desc: desc, After: after}
		c, ok, err := row.DecodeCursor(filter)
		if err != nil {
			if ok || !errors.Is(err, projections.ErrBadCursor) || !errors.Is(err, projections.ErrInvalid) {
				t.Fatalf("DecodeCursor(%+v) = %v, %v: want ErrBadCursor and ErrInvalid", filter, ok, err)
			}
			return
		}
		if ok != (after != "") {
			t.Fatalf("DecodeCursor(%+v): ok %v", filter, ok)
		}
		if !ok {
			return
		}
		s := projections.ClientSummary{ClientID: c.ClientID, Name: c.Name, CreatedAt: c.At, UpdatedAt: c.At}
		again := filter
		again.After = row.EncodeCursor(filter, s)
		c2, ok, err := row.DecodeCursor(again)
		if err != nil || !ok {
			t.Fatalf("DecodeCursor(%+v) = %+v; its cursor written again %q: %v", filter, c, again.After, err)
		}
		c.Name = row.NameKey(c.Name) // the key is the lowercase name
		if c2.ClientID != c.ClientID || c2.Name != c.Name || !c2.At.Equal(c.At) {
			t.Fatalf("DecodeCursor(%+v) = %+v; written again %q it reads %+v", filter, c, again.After, c2)
		}
	})
}
