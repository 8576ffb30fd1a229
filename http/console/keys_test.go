package console

import (
	"bytes"
	"testing"
)

// While a master key is being replaced, a console whose new key comes
// first opens the cookies, takes the CSRF tokens and keeps the operator
// sessions its old key made, so that nobody is signed out; a console
// without the old key does none of that.
func TestWhatAReplacedKeyMadeStillOpens(t *testing.T) {
	oldKey, newKey, otherKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	old, replacing, without := testSealer(t, oldKey), testSealer(t, newKey, oldKey), testSealer(t, newKey, otherKey)

	sealed, err := old.seal(sessionCookie, tenantPath("acme"), sessionState{ID: "s1", AccessToken: "at"})
	if err != nil {
		t.Fatal(err)
	}
	var st sessionState
	if err := replacing.open(sessionCookie, tenantPath("acme"), sealed, &st); err != nil || st.ID != "s1" {
		t.Errorf("the old key's session cookie where the new key comes first: %v %+v", err, st)
	}
	if err := without.open(sessionCookie, tenantPath("acme"), sealed, &st); err == nil {
		t.Error("the old key's session cookie opened without the old key")
	}
	if !replacing.csrfValid("s1", old.csrfToken("s1")) || without.csrfValid("s1", old.csrfToken("s1")) {
		t.Error("the old key's CSRF token: taken without the old key, or refused with it")
	}
	if replacing.csrfToken("s1") == old.csrfToken("s1") || replacing.csrfValid("s2", old.csrfToken("s1")) {
		t.Error("the new key's CSRF tokens are the old key's, or one session's serves another")
	}

	const root = "a root token of at least thirty-two characters"
	session := old.rootDigests(root)[0]
	for _, c := range []struct {
		name string
		s    *sealer
		want bool
	}{{"the new key first", replacing, true}, {"without the old key", without, false}} {
		con := &Console{sealer: c.s, roots: c.s.rootDigests(root)}
		if got := con.rootDigestValid(session); got != c.want {
			t.Errorf("an operator session of the old key, %s: valid %v, want %v", c.name, got, c.want)
		}
	}
}

func testSealer(t *testing.T, keys ...[]byte) *sealer {
	t.Helper()
	s, err := newSealer(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
