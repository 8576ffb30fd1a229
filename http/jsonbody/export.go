package jsonbody

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/tenants"
)

// EmptyNotNull returns s with its nil lists and maps made empty, so that
// its JSON shows [] and {} rather than null. jwks stays absent when unset.
func EmptyNotNull(s client.Settings) client.Settings {
	v := reflect.ValueOf(&s).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch {
		case f.Type() == reflect.TypeFor[json.RawMessage]():
		case f.Kind() == reflect.Slice && f.IsNil():
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		case f.Kind() == reflect.Map && f.IsNil():
			f.Set(reflect.MakeMap(f.Type()))
		}
	}
	return s
}

// EncodePackage is the JSON of an export, as every export of Clavis
// writes it (the admin API's and the console's download): the package
// with each client's lists and maps empty rather than null, which
// [Import] reads back.
func EncodePackage(pkg tenants.Package) ([]byte, error) {
	out := pkg
	out.Clients = make([]tenants.PackageClient, len(pkg.Clients))
	for i, c := range pkg.Clients {
		c.Settings = EmptyNotNull(c.Settings)
		out.Clients[i] = c
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encode package: %w", err)
	}
	return b, nil
}
