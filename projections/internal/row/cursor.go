package row

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/clavisiam/clavis/projections"
)

// Cursors of client lists.
//
// In client_id order a cursor is the bare client_id of the last client
// of a page, as the admin API has always had it. Every other order's
// cursor is "<order> <base64url(key, newline, client_id)>", where <order>
// is the sort, led by "-" when descending, and the key is the lowercase
// name (SortName) or the time in Unix microseconds (SortCreated,
// SortUpdated). The space keeps the two kinds apart: a client_id never
// holds one (domain/client allows printable ASCII without spaces), so a
// cursor of another order given to client_id order is recognised and
// refused, and no client_id is ever taken for one.

// Cursor is a place in an order of clients: the sort key and client_id of
// the last client of a page; the next page starts after it.
type Cursor struct {
	// Name is the key in SortName order: the client's lowercase name, as
	// the first line of its search column holds it (see [SearchText]).
	Name string
	// At is the key in SortCreated and SortUpdated order.
	At time.Time
	// ClientID is the client_id, the only key in SortClientID order.
	ClientID string
}

// SortOf is the order of f, with "" resolved to SortClientID.
func SortOf(f projections.ClientFilter) projections.ClientSort {
	if f.Sort == "" {
		return projections.SortClientID
	}
	return f.Sort
}

// orderTag names f's order in its cursors.
func orderTag(sort projections.ClientSort, desc bool) string {
	if desc {
		return "-" + string(sort)
	}
	return string(sort)
}

// NameKey is the key of a client in SortName order: its lowercase name,
// as [SearchText] lowercases it.
func NameKey(name string) string { return strings.ToLower(name) }

// EncodeCursor is the cursor, in f's order, of the page that ends with
// the client v summarises.
func EncodeCursor(f projections.ClientFilter, v projections.ClientSummary) string {
	sort := SortOf(f)
	var key string
	switch sort {
	case projections.SortClientID:
		return v.ClientID
	case projections.SortName:
		key = NameKey(v.Name)
	case projections.SortCreated:
		key = strconv.FormatInt(v.CreatedAt.UnixMicro(), 10)
	case projections.SortUpdated:
		key = strconv.FormatInt(v.UpdatedAt.UnixMicro(), 10)
	}
	return orderTag(sort, f.Desc) + " " + base64.RawURLEncoding.EncodeToString([]byte(key+"\n"+v.ClientID))
}

// DecodeCursor reads f.After as a cursor of f's order, and reports
// whether there is one (false on the first page). A cursor of another
// order, or what is no cursor, is an error wrapping
// projections.ErrBadCursor and projections.ErrInvalid.
func DecodeCursor(f projections.ClientFilter) (Cursor, bool, error) {
	if f.After == "" {
		return Cursor{}, false, nil
	}
	sort := SortOf(f)
	tag, payload, spaced := strings.Cut(f.After, " ")
	if sort == projections.SortClientID {
		// Any string is a place in client_id order, except a cursor of
		// another order, which no client_id can be.
		if spaced && knownTag(tag) {
			return Cursor{}, false, badCursor("a cursor of the %s order cannot page the client_id order", tag)
		}
		return Cursor{ClientID: f.After}, true, nil
	}
	want := orderTag(sort, f.Desc)
	if !spaced {
		return Cursor{}, false, badCursor("the %s order needs a cursor of its own, not a client_id", want)
	}
	if tag != want {
		if knownTag(tag) {
			return Cursor{}, false, badCursor("a cursor of the %s order cannot page the %s order", tag, want)
		}
		return Cursor{}, false, badCursor("not a cursor")
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Cursor{}, false, badCursor("not a cursor")
	}
	i := strings.LastIndexByte(string(raw), '\n')
	if i < 0 || i == len(raw)-1 {
		return Cursor{}, false, badCursor("not a cursor")
	}
	key, id := string(raw[:i]), string(raw[i+1:])
	c := Cursor{ClientID: id}
	switch sort {
	case projections.SortName:
		c.Name = key
	case projections.SortCreated, projections.SortUpdated:
		us, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return Cursor{}, false, badCursor("not a cursor")
		}
		c.At = time.UnixMicro(us).UTC()
	}
	return c, true, nil
}

// knownTag reports whether tag names an order, ascending or descending.
func knownTag(tag string) bool {
	s := projections.ClientSort(strings.TrimPrefix(tag, "-"))
	return s != "" && s.Valid()
}

func badCursor(format string, args ...any) error {
	return fmt.Errorf("%s: %w (%w)", fmt.Sprintf(format, args...), projections.ErrBadCursor, projections.ErrInvalid)
}
