package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// The create and edit forms of a client. Both are built from one table,
// [clientFields], which has a field for every JSON member of
// client.Settings, so that the console can set everything the API can.
// Values go from Settings to the form through their JSON members and
// back the same way, so the domain's own JSON names, normalisation and
// validation decide; the console only turns text into JSON.

// clientFormRoutes registers the create and edit forms. They are
// registered before the client's own pages, so that "new" is never taken
// for a client id.
func (c *Console) clientFormRoutes(r fiber.Router) {
	r.Get("/clients/new", c.newClientForm)
	r.Post("/clients/new", c.createClient)
	r.Get("/clients/:id/edit", c.editClientForm)
	r.Post("/clients/:id/edit", c.updateClient)
}

// clientFieldKind is how a setting is typed into the form.
type clientFieldKind string

// The kinds of fields.
const (
	// kindText is one line of text.
	kindText clientFieldKind = "text"
	// kindLongText is free text over several lines.
	kindLongText clientFieldKind = "longtext"
	// kindURI is one absolute URI.
	kindURI clientFieldKind = "uri"
	// kindList is a list, one entry a line.
	kindList clientFieldKind = "list"
	// kindChoices is a list of the domain's constants, one checkbox each.
	kindChoices clientFieldKind = "choices"
	// kindBool is a checkbox. An unchecked box sends nothing, so a form
	// that has the field and lacks the value means false.
	kindBool clientFieldKind = "bool"
	// kindEnum is one of the domain's constants, a select.
	kindEnum clientFieldKind = "enum"
	// kindNumber is a whole number.
	kindNumber clientFieldKind = "number"
	// kindJSON is a structured value as JSON text.
	kindJSON clientFieldKind = "json"
	// kindSecret is write-only: never shown, not even as typed. Left
	// empty it keeps what is set.
	kindSecret clientFieldKind = "secret"
)

// clientFieldSpec describes one field of the client form: the setting's
// JSON name (also the input's name and id), its label, kind, group and a
// hint, and for enums and choices the allowed values.
type clientFieldSpec struct {
	Name, Label string
	Kind        clientFieldKind
	Group       string
	Hint        string
	Options     []string
}

// clientGroup is a fieldset of the form.
type clientGroup struct{ ID, Legend string }

// clientGroups are the form's fieldsets, in order, as the platforms the
// console learns from group a client's settings.
var clientGroups = []clientGroup{
	{"basics", "Basics"},
	{"uris", "URIs"},
	{"flows", "Grants and flows"},
	{"tokens", "Tokens and lifetimes"},
	{"scopes", "Scopes and permissions"},
	{"claims", "Claims"},
	{"advanced", "Advanced"},
}

// strs turns a list of string constants into their values.
func strs[T ~string](vs ...T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// clientTypes are the client types, in the order the console offers them.
var clientTypes = []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M}

// clientFields is every field of the client form, in tab order. A test
// checks that every JSON member of client.Settings has one.
var clientFields = []clientFieldSpec{
	{Name: "client_name", Label: "Name", Kind: kindText, Group: "basics", Hint: "Shown to people who sign in; 1 to 200 characters."},
	{Name: "description", Label: "Description", Kind: kindLongText, Group: "basics", Hint: "For administrators only; at most 1000 characters."},
	{Name: "code", Label: "Code", Kind: kindText, Group: "basics", Hint: "Unique in the tenant, urn:{vendor}/{name}, for example urn:acme/orders. It prefixes the API scopes the client defines."},
	{Name: "type", Label: "Type", Kind: kindEnum, Group: "basics", Options: strs(clientTypes...), Hint: "Fixed once the client exists."},
	{Name: "client_uri", Label: "Home page URI", Kind: kindURI, Group: "basics"},
	{Name: "logo_uri", Label: "Logo URI", Kind: kindURI, Group: "basics"},
	{Name: "policy_uri", Label: "Privacy policy URI", Kind: kindURI, Group: "basics"},
	{Name: "tos_uri", Label: "Terms of service URI", Kind: kindURI, Group: "basics"},

	{Name: "redirect_uris", Label: "Redirect URIs", Kind: kindList, Group: "uris", Hint: "One a line; authorization responses go only to these exact URIs."},
	{Name: "post_logout_redirect_uris", Label: "Post-logout redirect URIs", Kind: kindList, Group: "uris", Hint: "One a line; where RP-initiated logout may return to."},
	{Name: "allowed_cors_origins", Label: "Allowed CORS origins", Kind: kindList, Group: "uris", Hint: "One a line, scheme://host[:port]; browser origins that may call the token and userinfo endpoints."},
	{Name: "frontchannel_logout_uri", Label: "Front-channel logout URI", Kind: kindURI, Group: "uris", Hint: "Loaded in an iframe on logout."},
	{Name: "frontchannel_logout_session_required", Label: "Send iss and sid to the front-channel logout URI", Kind: kindBool, Group: "uris"},
	{Name: "backchannel_logout_uri", Label: "Back-channel logout URI", Kind: kindURI, Group: "uris", Hint: "Receives logout tokens."},
	{Name: "backchannel_logout_session_required", Label: "Put sid in back-channel logout tokens", Kind: kindBool, Group: "uris"},

	{Name: "grant_types", Label: "Grant types", Kind: kindChoices, Group: "flows",
		Options: []string{client.GrantAuthorizationCode, client.GrantRefreshToken, client.GrantClientCredentials, client.GrantImplicit}},
	{Name: "response_types", Label: "Response types", Kind: kindChoices, Group: "flows",
		Options: []string{client.ResponseCode, client.ResponseIDToken, client.ResponseToken, client.ResponseCodeIDToken,
			client.ResponseCodeToken, client.ResponseCodeIDTokenToken, client.ResponseIDTokenToken}},
	{Name: "token_endpoint_auth_method", Label: "Token endpoint authentication method", Kind: kindEnum, Group: "flows",
		Options: strs(client.AuthNone, client.AuthClientSecretBasic, client.AuthClientSecretPost, client.AuthClientSecretJWT,
			client.AuthPrivateKeyJWT, client.AuthTLSClientAuth, client.AuthSelfSignedTLSClientAuth)},
	{Name: "tls_client_auth_subject_dn", Label: "TLS client certificate subject DN", Kind: kindText, Group: "flows", Hint: "For tls_client_auth: the subject the client's certificate must have."},
	{Name: "require_pkce", Label: "Require PKCE", Kind: kindBool, Group: "flows"},
	{Name: "allow_plain_pkce", Label: "Accept the plain PKCE method besides S256", Kind: kindBool, Group: "flows"},
	{Name: "consent_required", Label: "Ask for consent", Kind: kindBool, Group: "flows"},
	{Name: "first_party", Label: "First party (skips consent)", Kind: kindBool, Group: "flows"},
	{Name: "allow_remember_consent", Label: "Let people have their consent remembered", Kind: kindBool, Group: "flows"},
	{Name: "allow_offline_access", Label: "Allow offline access (refresh tokens)", Kind: kindBool, Group: "flows"},
	{Name: "allow_access_tokens_via_browser", Label: "Allow access tokens from the authorization endpoint", Kind: kindBool, Group: "flows"},
	{Name: "enable_local_login", Label: "Allow local accounts", Kind: kindBool, Group: "flows"},
	{Name: "identity_provider_restrictions", Label: "Identity providers", Kind: kindList, Group: "flows", Hint: "One a line; the external identity providers people may sign in with. Empty allows all."},

	{Name: "access_token_type", Label: "Access token type", Kind: kindEnum, Group: "tokens", Options: strs(client.AccessTokenJWT, client.AccessTokenReference),
		Hint: "jwt: self-contained; reference: opaque handles that resource servers introspect."},
	{Name: "access_token_lifetime", Label: "Access token lifetime (seconds)", Kind: kindNumber, Group: "tokens", Hint: "60 to 86400; empty for the default, 3600."},
	{Name: "id_token_lifetime", Label: "ID token lifetime (seconds)", Kind: kindNumber, Group: "tokens", Hint: "60 to 86400; empty for the default, 300."},
	{Name: "authorization_code_lifetime", Label: "Authorization code lifetime (seconds)", Kind: kindNumber, Group: "tokens", Hint: "10 to 600; empty for the default, 300."},
	{Name: "refresh_token_usage", Label: "Refresh token usage", Kind: kindEnum, Group: "tokens", Options: strs(client.RefreshOneTime, client.RefreshReuse),
		Hint: "one_time rotates the refresh token on every use."},
	{Name: "refresh_token_expiration", Label: "Refresh token expiration", Kind: kindEnum, Group: "tokens", Options: strs(client.RefreshAbsolute, client.RefreshSliding)},
	{Name: "refresh_token_absolute_lifetime", Label: "Refresh token absolute lifetime (seconds)", Kind: kindNumber, Group: "tokens", Hint: "3600 to 31536000; empty for the default, 30 days."},
	{Name: "refresh_token_sliding_lifetime", Label: "Refresh token sliding lifetime (seconds)", Kind: kindNumber, Group: "tokens", Hint: "60 up to the absolute lifetime; empty for the default, 15 days."},
	{Name: "consent_lifetime", Label: "Consent lifetime (seconds)", Kind: kindNumber, Group: "tokens", Hint: "0 or empty: consent never expires; otherwise 60 to 31536000."},
	{Name: "include_jwt_id", Label: "Put a jti in JWT access tokens", Kind: kindBool, Group: "tokens"},
	{Name: "update_access_token_claims_on_refresh", Label: "Read the user's claims again on refresh", Kind: kindBool, Group: "tokens"},

	{Name: "default_scopes", Label: "Default scopes", Kind: kindList, Group: "scopes", Hint: "One a line; always granted, requested or not."},
	{Name: "optional_scopes", Label: "Optional scopes", Kind: kindList, Group: "scopes", Hint: "One a line; granted only when requested. A scope in neither list is refused."},
	{Name: "scope_permissions", Label: "Permissions per scope", Kind: kindJSON, Group: "scopes",
		Hint: `JSON: a scope's permissions narrowed to some of create, read, update, delete, for example {"orders": ["read"]}.`},
	{Name: "api_scopes", Label: "API scopes this client defines", Kind: kindList, Group: "scopes", Hint: "One suffix a line; the tenant's catalogue holds them as {code}:{suffix}."},

	{Name: "client_claims", Label: "Client claims", Kind: kindJSON, Group: "claims", Hint: `JSON: claims about the client in its tokens, for example [{"type": "tier", "value": "gold"}].`},
	{Name: "client_claims_prefix", Label: "Client claims prefix", Kind: kindText, Group: "claims", Hint: "Put in front of every client claim type; may be empty."},
	{Name: "always_send_client_claims", Label: "Send client claims in every flow", Kind: kindBool, Group: "claims"},
	{Name: "always_include_user_claims_in_id_token", Label: "Always put user claims in the ID token", Kind: kindBool, Group: "claims"},

	{Name: "jwks_uri", Label: "JWKS URI", Kind: kindURI, Group: "advanced", Hint: "https only; where the client publishes its public keys. Never together with JWKS."},
	{Name: "jwks", Label: "JWKS", Kind: kindJSON, Group: "advanced", Hint: `JSON: the client's public key set inline, {"keys": [...]}.`},
	{Name: "fapi", Label: "Apply the FAPI 2.0 security profile", Kind: kindBool, Group: "advanced"},
	{Name: "pairwise_subject_salt", Label: "Pairwise subject salt", Kind: kindSecret, Group: "advanced",
		Hint: "Makes subject identifiers pairwise. Write-only: it is never shown."},
	{Name: "metadata", Label: "Metadata", Kind: kindJSON, Group: "advanced", Hint: `JSON object of strings: at most 10 keys, values at most 256 characters.`},
	{Name: "properties", Label: "Properties", Kind: kindJSON, Group: "advanced", Hint: `JSON object of strings: at most 50 keys, values at most 2000 characters.`},
}

// removeSaltField is the edit form's checkbox that removes the pairwise
// subject salt (the salt's own field, left empty, keeps it).
const removeSaltField = "remove_pairwise_subject_salt"

// fieldID is the id of the input that a field error names: the field's
// own ("redirect_uris[1]" and "client_claims[0].type" are errors of the
// inputs redirect_uris and client_claims).
func fieldID(field string) string {
	if i := strings.IndexAny(field, "[."); i > 0 {
		return field[:i]
	}
	return field
}

// ---- from settings to the form and back

// settingsMembers returns the JSON members of s.
func settingsMembers(s client.Settings) (map[string]json.RawMessage, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("console: encode settings: %w", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("console: decode settings: %w", err)
	}
	return m, nil
}

// settingsValues returns the form's values for s, as a browser would
// post them. s is shown redacted; write-only fields get no value.
func settingsValues(s client.Settings) (url.Values, error) {
	m, err := settingsMembers(s.Redact())
	if err != nil {
		return nil, err
	}
	out := url.Values{}
	for _, f := range clientFields {
		raw, ok := m[f.Name]
		if !ok || emptyJSON(raw) {
			continue
		}
		switch f.Kind {
		case kindSecret:
		case kindText, kindLongText, kindURI, kindEnum:
			var v string
			if err := json.Unmarshal(raw, &v); err != nil {
				return nil, fmt.Errorf("console: %s: %w", f.Name, err)
			}
			out.Set(f.Name, v)
		case kindNumber:
			out.Set(f.Name, string(raw))
		case kindBool:
			if string(raw) == "true" {
				out.Set(f.Name, "true")
			}
		case kindList, kindChoices:
			var vs []string
			if err := json.Unmarshal(raw, &vs); err != nil {
				return nil, fmt.Errorf("console: %s: %w", f.Name, err)
			}
			if f.Kind == kindList {
				out.Set(f.Name, strings.Join(vs, "\n"))
			} else {
				out[f.Name] = vs
			}
		case kindJSON:
			var b bytes.Buffer
			if err := json.Indent(&b, raw, "", "  "); err != nil {
				return nil, fmt.Errorf("console: %s: %w", f.Name, err)
			}
			out.Set(f.Name, b.String())
		}
	}
	return out, nil
}

// emptyJSON reports whether raw is null, [] or {}: what an unset list,
// map or key set encodes as.
func emptyJSON(raw json.RawMessage) bool {
	switch string(bytes.TrimSpace(raw)) {
	case "", "null", "[]", "{}":
		return true
	}
	return false
}

// settingsType is the reflected client.Settings.
var settingsType = reflect.TypeFor[client.Settings]()

// settingsFieldType returns the Go type of the Settings field whose JSON
// name is name.
func settingsFieldType(name string) (reflect.Type, bool) {
	for i := range settingsType.NumField() {
		f := settingsType.Field(i)
		if n, _, _ := strings.Cut(f.Tag.Get("json"), ","); n == name {
			return f.Type, true
		}
	}
	return nil, false
}

// formMembers turns the values of the fields in fields into the JSON
// members of client.Settings they stand for: text as it was typed (the
// domain normalises it), lists one entry a line, numbers and JSON
// parsed. What cannot be turned into its member's type is an error of
// the field. Write-only fields left empty give no member.
func formMembers(v url.Values, fields []clientFieldSpec) (map[string]json.RawMessage, formErrors) {
	var errs formErrors
	out := map[string]json.RawMessage{}
	set := func(name string, value any) {
		raw, err := json.Marshal(value)
		if err != nil {
			errs.add(name, "invalid_value", "cannot be encoded")
			return
		}
		out[name] = raw
	}
	for _, f := range fields {
		value := v.Get(f.Name)
		switch f.Kind {
		case kindText, kindLongText, kindURI, kindEnum:
			set(f.Name, value)
		case kindSecret:
			if value != "" {
				set(f.Name, value)
			}
		case kindNumber:
			value = strings.TrimSpace(value)
			if value == "" {
				set(f.Name, 0)
				continue
			}
			n, err := strconv.Atoi(value)
			if err != nil {
				errs.add(f.Name, "invalid_value", "must be a whole number of seconds")
				continue
			}
			set(f.Name, n)
		case kindBool:
			switch value {
			case "", "true":
				set(f.Name, value == "true")
			default:
				errs.add(f.Name, "invalid_value", "a checkbox is checked or not")
			}
		case kindList:
			set(f.Name, lines(value))
		case kindChoices:
			set(f.Name, v[f.Name])
		case kindJSON:
			value = strings.TrimSpace(value)
			if value == "" {
				out[f.Name] = json.RawMessage("null")
				continue
			}
			typ, _ := settingsFieldType(f.Name)
			target := reflect.New(typ).Interface()
			if err := strictJSON(value, target); err != nil {
				errs.add(f.Name, "invalid_json", "is not JSON of the right shape: "+jsonProblem(err))
				continue
			}
			out[f.Name] = json.RawMessage(value)
		}
	}
	return out, errs
}

// strictJSON decodes text into target, refusing unknown members and
// anything after the value.
func strictJSON(text string, target any) error {
	d := json.NewDecoder(strings.NewReader(text))
	d.DisallowUnknownFields()
	if err := d.Decode(target); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("more than one JSON value")
	}
	return nil
}

// jsonProblem says in a few words what is wrong with a JSON text.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends too early"
	case errors.As(err, &syntax):
		return fmt.Sprintf("a syntax error at character %d", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("%s must be %s, not %s", typ.Field, jsonKind(typ.Type), typ.Value)
		}
		return fmt.Sprintf("must be %s, not %s", jsonKind(typ.Type), typ.Value)
	default:
		return strings.TrimPrefix(err.Error(), "json: ")
	}
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	default:
		return "a number"
	}
}

// membersSettings decodes JSON members into Settings.
func membersSettings(m map[string]json.RawMessage) (client.Settings, error) {
	raw, err := json.Marshal(m)
	if err != nil {
		return client.Settings{}, fmt.Errorf("console: encode the form: %w", err)
	}
	var s client.Settings
	if err := json.Unmarshal(raw, &s); err != nil {
		return client.Settings{}, fmt.Errorf("console: decode the form: %w", err)
	}
	return s, nil
}

// sameJSON reports whether two JSON texts hold the same value; null, []
// and {} are the same as an absent member.
func sameJSON(a, b json.RawMessage) bool {
	if emptyJSON(a) && emptyJSON(b) {
		return true
	}
	var av, bv any
	if json.Unmarshal(a, &av) != nil || json.Unmarshal(b, &bv) != nil {
		return bytes.Equal(a, b)
	}
	ac, _ := json.Marshal(av)
	bc, _ := json.Marshal(bv)
	return bytes.Equal(ac, bc)
}

// inFormOrder returns errs sorted as their fields come in the form, so
// that the summary reads in tab order: errors of no field of the form
// (client_secret) after those of its fields, the reason's last.
func inFormOrder(errs formErrors) formErrors {
	rank := func(f *domain.FieldError) int {
		id := fieldID(f.Field)
		if id == "reason" {
			return len(clientFields) + 1
		}
		if i := slices.IndexFunc(clientFields, func(s clientFieldSpec) bool { return s.Name == id }); i >= 0 {
			return i
		}
		return len(clientFields)
	}
	list := slices.Clone(errs.List)
	slices.SortStableFunc(list, func(a, b *domain.FieldError) int { return rank(a) - rank(b) })
	return formErrors{List: list}
}

// ---- the page

// clientFormPage is what the create and edit pages show.
type clientFormPage struct {
	// Presets are the types to choose from, on the create page before a
	// type is chosen.
	Presets []clientPreset
	// Type is the client's type (the preset's, when creating).
	Type string
	// Action is where the form posts.
	Action string
	// Groups are the form's fieldsets with their fields.
	Groups []clientFieldGroup
	// Errors are the form's errors; Reason and ReasonError the reason
	// typed and what is wrong with it.
	Errors      formErrors
	Reason      string
	ReasonError string
	// Version is the client's version the form was made from (edit).
	Version int64
	// ClientID and ClientName name the client (edit, and once created).
	ClientID, ClientName string
	// Secret is the secret the command made, shown once.
	Secret *shownSecret
	// Conflict says who changed the client since the form's version.
	Conflict *clientConflict
	// Platform, when set, says why the client cannot be edited here.
	Platform string
}

// clientPreset is a type to create a client of, with what its preset
// sets.
type clientPreset struct {
	Type, Title, About string
	GrantTypes         []string
	ResponseTypes      []string
	AuthMethod         string
	PKCE               bool
}

// clientPresetText is what the chooser says of each type.
var clientPresetText = map[client.Type][2]string{
	client.TypePublic:       {"Public", "A single-page or native app, which cannot keep a secret: it authenticates with nothing and must use PKCE."},
	client.TypeConfidential: {"Confidential", "A server-side web app, which can keep a secret: it signs people in and may act for itself."},
	client.TypeM2M:          {"Machine to machine", "A service that only ever acts for itself, with the client_credentials grant and a secret."},
}

// clientPresets are the presets, read from the domain's own.
func clientPresets() []clientPreset {
	out := make([]clientPreset, 0, len(clientTypes))
	for _, t := range clientTypes {
		s := client.DefaultSettings(t)
		out = append(out, clientPreset{Type: string(t), Title: clientPresetText[t][0], About: clientPresetText[t][1],
			GrantTypes: s.GrantTypes, ResponseTypes: s.ResponseTypes, AuthMethod: string(s.TokenEndpointAuthMethod), PKCE: s.RequirePKCE})
	}
	return out
}

// clientFieldGroup is a fieldset as the page shows it.
type clientFieldGroup struct {
	ID, Legend string
	Fields     []clientField
}

// clientField is one field as the page shows it.
type clientField struct {
	clientFieldSpec
	// Value is the text of an input, textarea or select.
	Value string
	// Checked is a checkbox's state.
	Checked bool
	// Options are a select's or a group of checkboxes' values.
	Options []clientOption
	// Error is what is wrong with the value; DescribedBy the ids of the
	// error and the hint.
	Error, DescribedBy string
	// Fixed: shown, not posted (the type of an existing client).
	Fixed bool
	// IsSet says a write-only field holds a value; Typed that one was
	// typed and is not shown again; Removable offers to remove it.
	IsSet, Typed, Removable, Remove bool
}

// clientOption is a value of a select or of a group of checkboxes.
type clientOption struct {
	ID, Value string
	Selected  bool
}

// formFieldsFor builds the fieldsets for values v with errors errs: of
// the create form when existing is nil, else of existing's edit form,
// where the type is shown, fixed, and the pairwise subject salt can be
// removed when the client has one.
func formFieldsFor(v url.Values, errs formErrors, existing *projections.ClientView) []clientFieldGroup {
	edit := existing != nil
	salt := edit && existing.Settings.PairwiseSubjectSalt != ""
	groups := make([]clientFieldGroup, 0, len(clientGroups))
	for _, g := range clientGroups {
		fg := clientFieldGroup{ID: g.ID, Legend: g.Legend}
		for _, spec := range clientFields {
			if spec.Group != g.ID {
				continue
			}
			f := clientField{clientFieldSpec: spec, Value: v.Get(spec.Name), Error: errs.For(spec.Name)}
			var ids []string
			if f.Error != "" {
				ids = append(ids, spec.Name+"-error")
			}
			if spec.Hint != "" {
				ids = append(ids, spec.Name+"-hint")
			}
			f.DescribedBy = strings.Join(ids, " ")
			switch spec.Kind {
			case kindBool:
				f.Checked = v.Get(spec.Name) == "true"
			case kindEnum:
				for _, o := range spec.Options {
					f.Options = append(f.Options, clientOption{Value: o, Selected: o == f.Value})
				}
			case kindChoices:
				for i, o := range spec.Options {
					id := spec.Name
					if i > 0 {
						id = spec.Name + "-" + strconv.Itoa(i)
					}
					f.Options = append(f.Options, clientOption{ID: id, Value: o, Selected: slices.Contains(v[spec.Name], o)})
				}
			case kindSecret:
				f.Typed = f.Value != ""
				f.Value = "" // never echoed
				f.IsSet, f.Removable = salt, edit && salt
				f.Remove = edit && v.Get(removeSaltField) == "true"
			}
			if edit && spec.Name == "type" {
				f.Fixed, f.Value = true, string(existing.Settings.Type)
			}
			fg.Fields = append(fg.Fields, f)
		}
		groups = append(groups, fg)
	}
	return groups
}

// ---- create

// newClientForm shows the chooser of a type, or with ?type= the form
// prefilled with that type's preset.
func (c *Console) newClientForm(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Creating clients needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx, "type"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	typ := client.Type(ctx.Query("type"))
	if typ == "" {
		return c.render(ctx, http.StatusOK, "client_new", view{Title: "New client", Nav: "clients", Data: clientFormPage{Presets: clientPresets()}})
	}
	if !slices.Contains(clientTypes, typ) {
		return c.badRequest(ctx, "type is public, confidential or m2m.")
	}
	v, err := settingsValues(client.DefaultSettings(typ))
	if err != nil {
		return err
	}
	return c.renderNewClient(ctx, http.StatusOK, typ, v, formErrors{}, "")
}

// renderNewClient answers the create form of a client of type typ with
// values v, errors errs and the reason typed.
func (c *Console) renderNewClient(ctx *fiber.Ctx, status int, typ client.Type, v url.Values, errs formErrors, reason string) error {
	errs = inFormOrder(errs)
	page := clientFormPage{Type: string(typ), Action: tenantPath(session(ctx).Tenant) + "clients/new?type=" + url.QueryEscape(string(typ)),
		Groups: formFieldsFor(v, errs, nil), Errors: errs, Reason: reason, ReasonError: errs.For("reason")}
	return c.render(ctx, status, "client_new", view{Title: "New " + strings.ToLower(clientPresetText[typ][0]) + " client", Nav: "clients", Data: page})
}

// createClient registers the client the form describes.
func (c *Console) createClient(ctx *fiber.Ctx) error {
	s := session(ctx)
	if !s.CanWrite() {
		return c.forbidden(ctx, s, "Creating clients needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx, "type"); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	if err := checkForm(ctx, fieldNames(clientFields), []string{"grant_types", "response_types"}); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v := postedValues(ctx)
	// The page is titled by the type chosen; the domain judges the one
	// posted.
	typ := client.TypeConfidential
	for _, t := range []string{ctx.Query("type"), v.Get("type")} {
		if slices.Contains(clientTypes, client.Type(t)) {
			typ = client.Type(t)
		}
	}
	reason := v.Get("reason")
	members, errs := formMembers(v, clientFields)
	req, rerr := c.cfg.Request(ctx, s.Actor, s.Authority(), reason)
	if rerr != nil {
		errs.add("reason", "invalid_value", rerr.Error())
	}
	settings, err := membersSettings(members)
	if err != nil {
		return err
	}
	if errs.Any() {
		errs = c.withDomainProblems(ctx, s.Tenant, settings, errs, nil)
		return c.renderNewClient(ctx, http.StatusUnprocessableEntity, typ, v, errs, reason)
	}
	res, err := c.cfg.Clients.Register(ctx.UserContext(), req, s.Tenant, settings)
	if err != nil {
		if fe, ok := fieldErrors(err); ok {
			return c.renderNewClient(ctx, http.StatusUnprocessableEntity, typ, v, fe, reason)
		}
		return fmt.Errorf("console: register client: %w", err)
	}
	c.settle(ctx.UserContext(), res.Position)
	clientPath := tenantPath(s.Tenant) + "clients/" + url.PathEscape(res.Client.ClientID)
	if res.Secret == nil {
		return ctx.Redirect(clientPath+"?done=created", fiber.StatusSeeOther)
	}
	page := clientFormPage{Type: string(res.Client.Settings.Type), ClientID: res.Client.ClientID, ClientName: res.Client.Settings.ClientName,
		Secret: shownSecretOf(res.Secret, clientPath)}
	return c.render(ctx, http.StatusCreated, "client_new", view{Title: "Client created", Nav: "clients", Data: page})
}

// shownSecretOf is secret as the partial "secret" shows it, with a way
// back to the client.
func shownSecretOf(secret *tenants.Secret, clientPath string) *shownSecret {
	out := &shownSecret{Value: secret.Value, ID: secret.ID, Back: clientPath, BackText: "I have copied it: go to the client"}
	if secret.ExpiresAt != nil {
		out.ExpiresAt = secret.ExpiresAt.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	return out
}

// fieldNames are the names of fields.
func fieldNames(fields []clientFieldSpec) []string {
	out := make([]string, len(fields))
	for i, f := range fields {
		out[i] = f.Name
	}
	return out
}

// postedValues are the fields of a posted form, copied out of the
// request's buffers.
func postedValues(ctx *fiber.Ctx) url.Values {
	v := url.Values{}
	ctx.Request().PostArgs().VisitAll(func(k, value []byte) {
		v.Add(string(k), string(value))
	})
	return v
}

// withDomainProblems adds to errs, a form's own errors (values that are
// not even of their field's type), what the domain's validation finds in
// s, the settings the rest of the form gives, so that the page shows
// every problem at once; nothing is written. Problems of fields errs
// already names are left out (their values stood in as zero), and so are
// those of fields not in only, when only is not nil (an edit: what the
// form does not change is not the person's problem now). The commands
// validate again when the form comes back.
func (c *Console) withDomainProblems(ctx *fiber.Ctx, tenant string, s client.Settings, errs formErrors, only map[string]json.RawMessage) formErrors {
	cat, err := c.cfg.ReadModel.Catalogue(ctx.UserContext(), tenant)
	if err != nil {
		c.cfg.Log.Warn("console: no scope catalogue to validate a form against", "tenant", tenant, "error", err)
		return errs
	}
	domainErrs, ok := fieldErrors(s.Normalize().Validate(cat))
	if !ok {
		return errs
	}
	named := map[string]bool{}
	for _, f := range errs.List {
		named[fieldID(f.Field)] = true
	}
	for _, f := range domainErrs.List {
		id := fieldID(f.Field)
		if _, changed := only[id]; named[id] || (only != nil && !changed) {
			continue
		}
		errs.List = append(errs.List, f)
	}
	return errs
}

// ---- edit

// editFields are the fields of the edit form: all but the type, which is
// fixed once the client exists.
var editFields = slices.DeleteFunc(slices.Clone(clientFields), func(f clientFieldSpec) bool { return f.Name == "type" })

// editableClient reads the client the path names for editing: nil with
// the answer already given when it cannot be.
func (c *Console) editableClient(ctx *fiber.Ctx, s Session) (*projections.ClientView, error) {
	if !s.CanWrite() {
		return nil, c.forbidden(ctx, s, "Changing clients needs clavis:clients:write.")
	}
	if err := onlyQuery(ctx); err != nil {
		return nil, c.badRequest(ctx, err.Error())
	}
	id := strings.Clone(ctx.Params("id"))
	v, err := c.cfg.Clients.Get(ctx.UserContext(), s.Tenant, id)
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrDeleted) {
		return nil, c.notFound(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("console: read client: %w", err)
	}
	return &v, nil
}

// platformWhy says why a platform client cannot be edited in the console.
func platformWhy(code string) string {
	return fmt.Sprintf("This client is managed by the platform: its code, %s, is in %s, which only the platform gives and which never changes. "+
		"The tenant's admin API and this console sign in with such clients, so the console does not change them; the admin API can, by people who hold the scopes they grant.",
		code, client.PlatformCodePrefix)
}

// editClientForm shows the edit form of a client, prefilled.
func (c *Console) editClientForm(ctx *fiber.Ctx) error {
	s := session(ctx)
	cl, err := c.editableClient(ctx, s)
	if cl == nil {
		return err
	}
	if client.PlatformCode(cl.Settings.Code) {
		page := clientFormPage{ClientID: cl.ClientID, ClientName: cl.Settings.ClientName, Platform: platformWhy(cl.Settings.Code)}
		return c.render(ctx, http.StatusOK, "client_edit", view{Title: "Edit " + clientTitle(*cl), Nav: "clients", Data: page})
	}
	v, err := settingsValues(cl.Settings)
	if err != nil {
		return err
	}
	return c.renderEditClient(ctx, http.StatusOK, *cl, v, formErrors{}, "", nil)
}

// clientTitle is how a page names a client: its name, or its id.
func clientTitle(v projections.ClientView) string {
	if v.Settings.ClientName != "" {
		return v.Settings.ClientName
	}
	return v.ClientID
}

// renderEditClient answers the edit form of cl, at cl's version, with
// values v.
func (c *Console) renderEditClient(ctx *fiber.Ctx, status int, cl projections.ClientView, v url.Values, errs formErrors, reason string, conflict *clientConflict) error {
	errs = inFormOrder(errs)
	page := clientFormPage{Type: string(cl.Settings.Type), Action: tenantPath(cl.Tenant) + "clients/" + url.PathEscape(cl.ClientID) + "/edit",
		Groups: formFieldsFor(v, errs, &cl), Errors: errs, Reason: reason, ReasonError: errs.For("reason"),
		Version: cl.Version, ClientID: cl.ClientID, ClientName: cl.Settings.ClientName, Conflict: conflict}
	return c.render(ctx, status, "client_edit", view{Title: "Edit " + clientTitle(cl), Nav: "clients", Data: page})
}

// updateClient applies the edit form: a patch of the settings the form
// changes, at the version the form was made from.
func (c *Console) updateClient(ctx *fiber.Ctx) error {
	s := session(ctx)
	cl, err := c.editableClient(ctx, s)
	if cl == nil {
		return err
	}
	if client.PlatformCode(cl.Settings.Code) {
		return c.forbidden(ctx, s, platformWhy(cl.Settings.Code))
	}
	if err := checkForm(ctx, append(fieldNames(editFields), "version", removeSaltField), []string{"grant_types", "response_types"}); err != nil {
		return c.badRequest(ctx, err.Error())
	}
	v := postedValues(ctx)
	version, err := strconv.ParseInt(v.Get("version"), 10, 64)
	if err != nil || version < 1 {
		return c.badRequest(ctx, "The form has no version of the client; reload the page.")
	}
	reason := v.Get("reason")
	members, errs := formMembers(v, editFields)
	switch v.Get(removeSaltField) {
	case "":
	case "true":
		if _, typed := members["pairwise_subject_salt"]; typed {
			errs.add("pairwise_subject_salt", "invalid_value", "type a new salt or remove the salt, not both")
		} else {
			members["pairwise_subject_salt"] = json.RawMessage(`""`)
		}
	default:
		errs.add("pairwise_subject_salt", "invalid_value", "a checkbox is checked or not")
	}
	req, rerr := c.cfg.Request(ctx, s.Actor, s.Authority(), reason)
	if rerr != nil {
		errs.add("reason", "invalid_value", rerr.Error())
	}
	at := *cl
	at.Version = version
	changed, err := changedMembers(cl.Settings, members)
	if err != nil {
		return err
	}
	if errs.Any() {
		overlay, err := settingsMembers(cl.Settings.Redact())
		if err != nil {
			return err
		}
		maps.Copy(overlay, changed)
		next, err := membersSettings(overlay)
		if err != nil {
			return err
		}
		errs = c.withDomainProblems(ctx, s.Tenant, next, errs, changed)
		return c.renderEditClient(ctx, http.StatusUnprocessableEntity, at, v, errs, reason, nil)
	}
	patch, err := patchOf(changed)
	if err != nil {
		return err
	}
	res, err := c.cfg.Clients.Update(ctx.UserContext(), req, s.Tenant, cl.ClientID, patch, version)
	switch {
	case err == nil:
	case errors.Is(err, eventstore.ErrConflict):
		return c.staleEdit(ctx, s, cl.ClientID, version, v, reason)
	case errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrDeleted):
		return c.notFound(ctx)
	default:
		if fe, ok := fieldErrors(err); ok {
			return c.renderEditClient(ctx, http.StatusUnprocessableEntity, at, v, fe, reason, nil)
		}
		return fmt.Errorf("console: update client: %w", err)
	}
	c.settle(ctx.UserContext(), res.Position)
	clientPath := tenantPath(s.Tenant) + "clients/" + url.PathEscape(cl.ClientID)
	if res.Secret == nil {
		return ctx.Redirect(clientPath+"?done=updated", fiber.StatusSeeOther)
	}
	page := clientFormPage{Type: string(res.Client.Settings.Type), ClientID: res.Client.ClientID, ClientName: res.Client.Settings.ClientName,
		Secret: shownSecretOf(res.Secret, clientPath)}
	return c.render(ctx, http.StatusOK, "client_edit", view{Title: "Client updated", Nav: "clients", Data: page})
}

// changedMembers are the members of the form that differ from current
// (a write-only member is there only when typed, and is always a
// change).
func changedMembers(current client.Settings, form map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	cur, err := settingsMembers(current.Redact())
	if err != nil {
		return nil, err
	}
	doc := map[string]json.RawMessage{}
	for name, raw := range form {
		if name == "pairwise_subject_salt" || !sameJSON(raw, cur[name]) {
			doc[name] = raw
		}
	}
	return doc, nil
}

// patchOf is the merge patch of the members doc.
func patchOf(doc map[string]json.RawMessage) (client.Patch, error) {
	b, err := json.Marshal(doc)
	if err != nil {
		return client.Patch{}, fmt.Errorf("console: encode the patch: %w", err)
	}
	var p client.Patch
	if err := json.Unmarshal(b, &p); err != nil {
		return client.Patch{}, fmt.Errorf("console: decode the patch: %w", err)
	}
	return p, nil
}

// ---- a stale form

// clientConflict says what happened to a client since a form's version.
type clientConflict struct {
	// From is the form's version, Now the client's.
	From, Now int64
	// Changes are the events since, oldest first.
	Changes []clientChange
}

// clientChange is one event since a form's version.
type clientChange struct {
	Version      int64
	Actor, At    string
	What, Reason string
	// Fields are the members it changed.
	Fields []string
}

// clientEventWhat says what a client event did.
var clientEventWhat = map[string]string{
	client.EventTypeRegistered:    "registered it",
	client.EventTypeUpdated:       "changed its settings",
	client.EventTypeSecretAdded:   "added a secret",
	client.EventTypeSecretRevoked: "revoked a secret",
	client.EventTypeSecretRotated: "rotated its secret",
	client.EventTypeActivated:     "activated it",
	client.EventTypeDeactivated:   "deactivated it",
	client.EventTypeDeleted:       "deleted it",
}

// conflictShown is a client as the conflict box compares its states:
// the settings, redacted, whether it is active and its secrets (only
// whether they changed is ever told).
type conflictShown struct {
	client.Settings
	Active  bool     `json:"active"`
	Secrets []string `json:"secrets"`
}

// showForConflict shows v for [tenants.Clients.ClientChanges].
func showForConflict(v projections.ClientView) any {
	out := conflictShown{Settings: v.Settings.Redact(), Active: v.Active}
	for _, s := range v.Secrets {
		out.Secrets = append(out.Secrets, s.ID)
	}
	return out
}

// staleEdit answers a form made from a version that is no longer the
// client's: the form as it was typed, what happened since and who did
// it, and the current version in the form, so that posting it again
// overwrites those changes knowingly.
func (c *Console) staleEdit(ctx *fiber.Ctx, s Session, id string, from int64, v url.Values, reason string) error {
	cl, err := c.cfg.Clients.Get(ctx.UserContext(), s.Tenant, id)
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrDeleted) {
		return c.notFound(ctx)
	}
	if err != nil {
		return fmt.Errorf("console: read client: %w", err)
	}
	history, err := c.cfg.Clients.History(ctx.UserContext(), s.Tenant, id)
	if err != nil {
		return fmt.Errorf("console: client history: %w", err)
	}
	var refs []tenants.ChangeRef
	for _, e := range history {
		if e.Version > from {
			refs = append(refs, tenants.ChangeRef{ClientID: id, Version: e.Version, EventID: e.EventID})
		}
	}
	changes, err := c.cfg.Clients.ClientChanges(ctx.UserContext(), s.Tenant, refs, showForConflict)
	if err != nil {
		return fmt.Errorf("console: client changes: %w", err)
	}
	conflict := &clientConflict{From: from, Now: cl.Version}
	for _, e := range history {
		if e.Version <= from {
			continue
		}
		what := clientEventWhat[e.Type]
		if what == "" {
			what = e.Type
		}
		ch := clientChange{Version: e.Version, Actor: e.Actor, At: e.Time.UTC().Format(time.DateTime + " UTC"), What: what, Reason: e.Reason}
		for _, f := range changes[e.EventID] {
			ch.Fields = append(ch.Fields, f.Field)
		}
		conflict.Changes = append(conflict.Changes, ch)
	}
	return c.renderEditClient(ctx, http.StatusConflict, cl, v, formErrors{}, reason, conflict)
}
