package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	httpapi "github.com/clavisiam/clavis/http"
)

// docURL is the address the OpenAPI document is loaded under, so that its
// internal $refs resolve.
const docURL = "https://clavis.dev/openapi.json"

// contract checks requests and responses against openapi.json: the
// schema of the matching operation's request body, and of its response
// for the status (or its default response).
type contract struct {
	doc      map[string]any
	compiler *jsonschema.Compiler
	paths    []pathTemplate

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

type pathTemplate struct {
	template string
	re       *regexp.Regexp
}

var contractOnce = sync.OnceValues(func() (*contract, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(httpapi.OpenAPI))
	if err != nil {
		return nil, fmt.Errorf("openapi.json is not JSON: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(docURL, doc); err != nil {
		return nil, err
	}
	k := &contract{doc: doc.(map[string]any), compiler: c, schemas: map[string]*jsonschema.Schema{}}
	for p := range k.doc["paths"].(map[string]any) {
		re := "^" + regexp.MustCompile(`\\\{[a-z_]+\\\}`).ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`) + "$"
		k.paths = append(k.paths, pathTemplate{template: p, re: regexp.MustCompile(re)})
	}
	return k, nil
})

func loadContract(t *testing.T) *contract {
	t.Helper()
	k, err := contractOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pointer escapes JSON pointer tokens and writes them as a URL fragment.
func pointer(tokens ...string) string {
	var b strings.Builder
	for _, tok := range tokens {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1")
		b.WriteString("/" + tok)
	}
	return strings.NewReplacer("%", "%25", "{", "%7B", "}", "%7D", " ", "%20", "+", "%2B").Replace(b.String())
}

func (k *contract) schema(ptr string) (*jsonschema.Schema, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, ok := k.schemas[ptr]; ok {
		return s, nil
	}
	s, err := k.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		return nil, err
	}
	k.schemas[ptr] = s
	return s, nil
}

// template returns the documented path that path matches.
func (k *contract) template(path string) (string, bool) {
	path, _, _ = strings.Cut(path, "?")
	// Literal segments win over parameters (/secrets/rotate over
	// /secrets/{secret_id}).
	best := ""
	for _, p := range k.paths {
		if p.re.MatchString(path) && (best == "" || strings.Count(p.template, "{") < strings.Count(best, "{")) {
			best = p.template
		}
	}
	return best, best != ""
}

func (k *contract) operation(method, template string) (map[string]any, bool) {
	item, _ := k.doc["paths"].(map[string]any)[template].(map[string]any)
	op, ok := item[strings.ToLower(method)].(map[string]any)
	return op, ok
}

// resolve follows a local $ref of a response object.
func (k *contract) resolve(v map[string]any) (map[string]any, []string) {
	if ref, ok := v["$ref"].(string); ok {
		parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
		var cur any = k.doc
		for _, p := range parts {
			cur = cur.(map[string]any)[p]
		}
		return cur.(map[string]any), parts
	}
	return v, nil
}

// checkResponse validates a response against the operation of method and
// path: its status must be documented (or fall under default), and its
// body must match the schema of its content type.
func (k *contract) checkResponse(t *testing.T, method, path string, r response) {
	t.Helper()
	tpl, ok := k.template(path)
	if !ok {
		if r.status != 404 {
			t.Errorf("%s %s: undocumented path answered %d", method, path, r.status)
		}
		return
	}
	op, ok := k.operation(method, tpl)
	if !ok {
		if r.status != 405 {
			t.Errorf("%s %s: undocumented method answered %d", method, tpl, r.status)
		}
		return
	}
	responses := op["responses"].(map[string]any)
	key := strconv.Itoa(r.status)
	resp, ok := responses[key].(map[string]any)
	if !ok {
		key = "default"
		if resp, ok = responses[key].(map[string]any); !ok {
			t.Errorf("%s %s: status %d is not documented", method, tpl, r.status)
			return
		}
	}
	resolved, refParts := k.resolve(resp)
	content, _ := resolved["content"].(map[string]any)
	if len(content) == 0 {
		if len(bytes.TrimSpace(r.body)) != 0 {
			t.Errorf("%s %s %d: documented without a body, got %s", method, tpl, r.status, r.body)
		}
		return
	}
	ct, _, _ := strings.Cut(r.header.Get("Content-Type"), ";")
	if _, ok := content[ct]; !ok {
		t.Errorf("%s %s %d: content type %q is not documented", method, tpl, r.status, ct)
		return
	}
	if !strings.HasSuffix(ct, "json") || ct == "application/x-ndjson" {
		return // text: its schema is a string
	}
	var ptr string
	if refParts != nil {
		ptr = pointer(append(refParts, "content", ct, "schema")...)
	} else {
		ptr = pointer("paths", tpl, strings.ToLower(method), "responses", key, "content", ct, "schema")
	}
	body := r.body
	if !strings.HasSuffix(ct, "json") {
		// A text answer is a string to its schema.
		body, _ = json.Marshal(string(r.body))
	}
	k.validate(t, fmt.Sprintf("%s %s %d response", method, tpl, r.status), ptr, body)
}

// checkRequest validates a request body the server accepted against the
// operation's request schema.
func (k *contract) checkRequest(t *testing.T, method, path, contentType string, body []byte) {
	t.Helper()
	tpl, ok := k.template(path)
	if !ok {
		t.Errorf("%s %s: undocumented path", method, path)
		return
	}
	op, ok := k.operation(method, tpl)
	if !ok {
		t.Errorf("%s %s: undocumented operation", method, tpl)
		return
	}
	rb, ok := op["requestBody"].(map[string]any)
	if !ok {
		t.Errorf("%s %s: a body was accepted but none is documented", method, tpl)
		return
	}
	ct, _, _ := strings.Cut(contentType, ";")
	if _, ok := rb["content"].(map[string]any)[ct]; !ok {
		t.Errorf("%s %s: request content type %q is not documented", method, tpl, ct)
		return
	}
	k.validate(t, fmt.Sprintf("%s %s request", method, tpl), pointer("paths", tpl, strings.ToLower(method), "requestBody", "content", ct, "schema"), body)
}

func (k *contract) validate(t *testing.T, what, ptr string, body []byte) {
	t.Helper()
	sch, err := k.schema(ptr)
	if err != nil {
		t.Errorf("%s: compile schema %s: %v", what, ptr, err)
		return
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: body is not JSON: %v: %s", what, err, body)
		return
	}
	if err := sch.Validate(inst); err != nil {
		t.Errorf("%s does not match openapi.json: %v\nbody: %s", what, err, body)
	}
}

// TestOpenAPIMatchesRoutes proves that openapi.json and the router agree:
// every route the app serves is documented, and every documented
// operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	h := startAdmin(t)
	k := loadContract(t)
	documented := map[string]bool{}
	for p, item := range k.doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			switch m {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
			default:
				continue
			}
			documented[strings.ToUpper(m)+" "+p] = true
			if id, _ := op.(map[string]any)["operationId"].(string); id == "" {
				t.Errorf("%s %s has no operationId", m, p)
			}
		}
	}
	served := map[string]bool{}
	for _, r := range h.server.Routes() {
		served[r] = true
		if !documented[r] {
			t.Errorf("route %s is served but not in openapi.json", r)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("operation %s is in openapi.json but not served", op)
		}
	}
	if len(served) < 20 {
		t.Errorf("only %d routes served: %v", len(served), h.server.Routes())
	}
	if k.doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", k.doc["openapi"])
	}
	// Every schema compiles, so every $ref resolves.
	for name := range k.doc["components"].(map[string]any)["schemas"].(map[string]any) {
		if _, err := k.schema(pointer("components", "schemas", name)); err != nil {
			t.Errorf("schema %s: %v", name, err)
		}
	}
	// The document is served as is.
	r := h.call(t, "GET", "/openapi.json", nil, noAuth)
	if r.status != 200 || !bytes.Equal(r.body, httpapi.OpenAPI) {
		t.Errorf("GET /openapi.json = %d", r.status)
	}
	var parsed map[string]any
	if err := json.Unmarshal(r.body, &parsed); err != nil {
		t.Errorf("served document: %v", err)
	}
}
