package jsonbody

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/tenants"
)

// Import reads the clients of an import into tenant, in either format: a
// [tenants.Package] ("clavis.clients/v1", a JSON object, as an export
// writes it, from this tenant or another) or a JSON array of Duende
// IdentityServer clients (see identityserver.go for the mapping).
// Malformed data fails with an *[Error]; a package in another format, or
// IdentityServer clients that do not map, with a *[domain.ValidationError]
// whose fields are prefixed "clients[i].".
func Import(tenant string, data []byte) (tenants.ImportBatch, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '[':
		in, err := decodeIdentityServer(tenant, trimmed)
		return tenants.ImportBatch{Format: tenants.FormatIdentityServer, Clients: in}, err
	case len(trimmed) > 0 && trimmed[0] == '{':
		in, err := decodePackage(trimmed)
		return tenants.ImportBatch{Format: tenants.PackageFormat, Clients: in}, err
	case len(trimmed) == 0:
		return tenants.ImportBatch{}, &Error{Err: fmt.Errorf("the JSON value is missing")}
	}
	var v any
	if err := Decode(trimmed, &v); err != nil {
		return tenants.ImportBatch{}, err
	}
	var p domain.Problems
	p.Add("format", "invalid_value", "expected a %s package (a JSON object) or a JSON array of IdentityServer clients", tenants.PackageFormat)
	return tenants.ImportBatch{}, p.Err()
}

// decodePackage reads a "clavis.clients/v1" package. A client's settings
// start from the preset of its type, as in [Settings], and a missing
// active means active.
func decodePackage(data []byte) ([]tenants.ImportClient, error) {
	var pkg struct {
		Format     string            `json:"format"`
		Tenant     string            `json:"tenant"`
		ExportedAt time.Time         `json:"exported_at"`
		Clients    []json.RawMessage `json:"clients"`
	}
	if err := Decode(data, &pkg); err != nil {
		return nil, err
	}
	if pkg.Format != tenants.PackageFormat {
		var p domain.Problems
		p.Add("format", "invalid_value", "format must be %q", tenants.PackageFormat)
		return nil, p.Err()
	}
	out := make([]tenants.ImportClient, 0, len(pkg.Clients))
	for i, raw := range pkg.Clients {
		prefix := fmt.Sprintf("clients[%d]", i)
		// One client at a time, so that an error names its place.
		var pc struct {
			ClientID string          `json:"client_id"`
			Settings json.RawMessage `json:"settings"`
			Active   *bool           `json:"active"`
		}
		if err := decodeAt(prefix, raw, &pc); err != nil {
			return nil, err
		}
		s, err := decodeSettingsAt(prefix+".settings", orEmptyObject(pc.Settings))
		if err != nil {
			return nil, err
		}
		out = append(out, tenants.ImportClient{SourceID: pc.ClientID, Settings: s, Active: pc.Active == nil || *pc.Active})
	}
	return out, nil
}

func orEmptyObject(raw json.RawMessage) []byte {
	if len(bytes.TrimSpace(raw)) == 0 || slices.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return []byte("{}")
	}
	return raw
}
