package auditlog_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/clavisiam/clavis/projections/auditlog"
)

// An export whose entry lines are not UTF-8 does not verify, even when
// what a lenient reader makes of them would: found by FuzzDecodeEntry,
// whose input is kept in testdata/fuzz.
func TestVerifyRefusesEntriesThatAreNotUTF8(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	es := entries(t, 3)
	good := export(t, checkpoint(t, k, es, 3), es, es)
	if rep, err := auditlog.Verify(bytes.NewReader(good), []string{k.vkey}); err != nil || !rep.OK() {
		t.Fatalf("the untouched export: %+v, %v", rep, err)
	}
	for name, edit := range map[string][]byte{
		"in a member it does not read": []byte("{\"x\":\"\xca\","),
		"in a member it reads":         []byte("{\"logged_id\":\"\xca\","),
	} {
		t.Run(name, func(t *testing.T) {
			lines := bytes.Split(bytes.Clone(good), []byte("\n"))
			lines[1] = append(append([]byte(nil), edit...), lines[1][1:]...)
			rep, err := auditlog.Verify(bytes.NewReader(bytes.Join(lines, []byte("\n"))), []string{k.vkey})
			if !errors.Is(err, auditlog.ErrExport) {
				t.Fatalf("Verify = %+v, %v; want ErrExport", rep, err)
			}
		})
	}
}
