package bucket

import "testing"

// ackSequence reads a plain acknowledgement and leaves everything else
// to encoding/json.
func TestAckSequence(t *testing.T) {
	for _, c := range []struct {
		ack string
		seq uint64
		ok  bool
	}{
		{`{"stream":"KV_X_FLOWS","seq":1}`, 1, true},
		{`{"stream":"KV_X_FLOWS", "seq":7}`, 7, true},
		{`{"stream":"KV_X_FLOWS",  "seq":7}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":18446744073709551615}`, 18446744073709551615, true},
		{`{"stream":"KV_X_FLOWS","seq":18446744073709551616}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":0}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":012}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":12,"duplicate":true}`, 0, false},
		{`{"stream":"KV_X_FLOWS","domain":"hub","seq":12}`, 0, false},
		{`{"stream":"KV_X\"_FLOWS","seq":12}`, 0, false},
		{`{"stream":"","seq":12}`, 0, false},
		{`{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"},"stream":"KV_X_FLOWS","seq":0}`, 0, false},
		{`{"stream":"KV_X_FLOWS","seq":12} `, 0, false},
		{` {"stream":"KV_X_FLOWS","seq":12}`, 0, false},
		{``, 0, false},
	} {
		seq, ok := ackSequence([]byte(c.ack))
		if seq != c.seq || ok != c.ok {
			t.Errorf("ackSequence(%s) = %d, %t; want %d, %t", c.ack, seq, ok, c.seq, c.ok)
		}
	}
}
