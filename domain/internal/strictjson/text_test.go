package strictjson_test

import (
	"testing"

	"github.com/clavisiam/clavis/domain/internal/strictjson"
)

func TestCheckText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"plain", `{"a":"b"}`, true},
		{"a pair of surrogates", `{"a":"\ud83d\ude00"}`, true},
		{"an escaped backslash before u", `{"a":"\\ud800"}`, true},
		{"a BMP escape", `{"a":"\u00e9"}`, true},
		{"not UTF-8", "{\"a\":\"\xff\"}", false},
		{"a lone high surrogate", `{"a":"\ud83d"}`, false},
		{"a lone low surrogate", `{"a":"\ude00"}`, false},
		{"a high surrogate then a BMP escape", `{"a":"\ud83d\u0041"}`, false},
		{"a high surrogate cut short", `{"a":"\ud83d\ude"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := strictjson.CheckText([]byte(tt.raw)); (err == nil) != tt.ok {
				t.Errorf("CheckText(%q) = %v, want ok %v", tt.raw, err, tt.ok)
			}
		})
	}
}
