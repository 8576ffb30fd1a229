package jsonbody_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/jsonbody"
)

// jsonErr is what a test compares of an *jsonbody.Error.
type jsonErr struct {
	Field   string
	Unknown bool
}

func TestDecodeRefuses(t *testing.T) {
	t.Parallel()
	type inner struct {
		Code string `json:"code"`
	}
	type target struct {
		Name  string     `json:"name"`
		Items []inner    `json:"items"`
		At    *time.Time `json:"at"`
		Count int        `json:"count"`
	}
	tests := []struct {
		name string
		data string
		want jsonErr
	}{
		{"unknown member", `{"colour":"blue"}`, jsonErr{Field: "colour", Unknown: true}},
		{"a name matching only when case is ignored", `{"NAME":"x"}`, jsonErr{Field: "NAME", Unknown: true}},
		{"a nested unknown member", `{"items":[{"code":"a"},{"Code":"b"}]}`, jsonErr{Field: "items[1].Code", Unknown: true}},
		{"a value of the wrong type", `{"count":"3"}`, jsonErr{Field: "count"}},
		{"a time that is not RFC 3339", `{"at":"tomorrow"}`, jsonErr{}},
		{"malformed", `{"name":`, jsonErr{}},
		{"trailing data", `{"name":"x"} {}`, jsonErr{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var v target
			err := jsonbody.Decode([]byte(tt.data), &v)
			var je *jsonbody.Error
			if !errors.As(err, &je) {
				t.Fatalf("Decode = %v, want a *jsonbody.Error", err)
			}
			if diff := cmp.Diff(tt.want, jsonErr{Field: je.Field, Unknown: je.Unknown}); diff != "" {
				t.Errorf("error %q (-want +got):\n%s", je, diff)
			}
		})
	}
}

func TestSettingsStartFromThePreset(t *testing.T) {
	t.Parallel()
	got, err := jsonbody.Settings([]byte(`{"type":"M2M","client_name":"Orders","code":"urn:acme/orders"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := client.DefaultSettings(client.TypeM2M)
	want.ClientName, want.Code = "Orders", "urn:acme/orders"
	want.Type = "M2M" // the preset is found ignoring case; the commands normalise the value
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}
