package console_test

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/scope"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// The client create and edit forms, over HTTP against a whole node.

var (
	formTag   = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	fieldTag  = regexp.MustCompile(`(?s)<(input|textarea|select|option)\b([^>]*)>`)
	attribute = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?`)
	secretBox = regexp.MustCompile(`<input id="secret"[^>]*value="([^"]+)"`)
	clientURL = regexp.MustCompile(`^/t/acme/console/clients/([^/?]+)\?done=(created|updated)$`)
)

// attrs reads the attributes of a tag.
func attrs(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attribute.FindAllStringSubmatch(s, -1) {
		out[m[1]] = html.UnescapeString(m[2])
	}
	return out
}

// formOf returns what a browser would post of the POST form of body
// whose action contains action, as the page filled it in: named inputs
// (checkboxes when checked), textareas and the selected options.
func formOf(t *testing.T, body, action string) url.Values {
	t.Helper()
	for _, f := range formTag.FindAllStringSubmatch(body, -1) {
		a := attrs(f[1])
		if a["method"] != "post" || !strings.Contains(a["action"], action) {
			continue
		}
		v := url.Values{}
		inner := f[2]
		var selectName string
		for _, loc := range fieldTag.FindAllStringSubmatchIndex(inner, -1) {
			tag, at := inner[loc[2]:loc[3]], attrs(inner[loc[4]:loc[5]])
			switch tag {
			case "input":
				if at["name"] == "" || (at["type"] == "checkbox" && !hasAttr(inner[loc[4]:loc[5]], "checked")) {
					continue
				}
				v.Add(at["name"], at["value"])
			case "textarea":
				rest := inner[loc[1]:]
				end := strings.Index(rest, "</textarea>")
				v.Add(at["name"], html.UnescapeString(rest[:end]))
			case "select":
				selectName = at["name"]
			case "option":
				if hasAttr(inner[loc[4]:loc[5]], "selected") && selectName != "" {
					v.Add(selectName, at["value"])
				}
			}
		}
		return v
	}
	t.Fatalf("no form posting to %s on the page:\n%s", action, excerpt(body))
	return nil
}

// hasAttr reports whether the attributes s have the boolean attribute name.
func hasAttr(s, name string) bool {
	_, ok := attrs(s)[name]
	return ok
}

// noRedirects makes the agent stop at redirects until the test ends
// or the returned function is called.
func noRedirects(t *testing.T, a *agent) func() {
	a.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	undo := func() { a.client.CheckRedirect = nil }
	t.Cleanup(undo)
	return undo
}

// postNoFollow posts form and returns the status, the Location and the
// body, without following a redirect.
func postNoFollow(t *testing.T, a *agent, path string, form url.Values) (int, string, string) {
	t.Helper()
	undo := noRedirects(t, a)
	defer undo()
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("_csrf", a.csrf)
	req, err := http.NewRequest(http.MethodPost, a.h.url+path, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := a.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

// createThroughForm opens the create form of typ, fills in set, posts it
// and returns the status, the new client's id (from the redirect or the
// page) and the page.
func createThroughForm(t *testing.T, a *agent, typ string, set url.Values) (int, string, string) {
	t.Helper()
	status, body := a.get(t, "/t/acme/console/clients/new?type="+typ)
	if status != http.StatusOK {
		t.Fatalf("create form of %s: %d %s", typ, status, excerpt(body))
	}
	form := formOf(t, body, "/clients/new")
	for k, v := range set {
		form[k] = v
	}
	status, loc, body := postNoFollow(t, a, "/t/acme/console/clients/new?type="+typ, form)
	if m := clientURL.FindStringSubmatch(loc); status == http.StatusSeeOther && m != nil {
		return status, m[1], body
	}
	if m := regexp.MustCompile(`client_id <code>([^<]+)</code>`).FindStringSubmatch(body); m != nil {
		return status, html.UnescapeString(m[1]), body
	}
	return status, "", body
}

// history is the client's history in the event store.
func history(t *testing.T, h *harness, id string) []tenants.HistoryEntry {
	t.Helper()
	entries, err := h.node.Admin.Clients.History(context.Background(), "acme", id)
	if err != nil {
		t.Fatalf("history of %s: %v", id, err)
	}
	return entries
}

// stored reads the client from the event store.
func stored(t *testing.T, h *harness, id string) projections.ClientView {
	t.Helper()
	v, err := h.node.Admin.Clients.Get(context.Background(), "acme", id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return v
}

func TestCreateAClientOfEachType(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")

	// The chooser says what each preset sets, as the domain sets it.
	status, body := a.get(t, "/t/acme/console/clients/new")
	if status != http.StatusOK {
		t.Fatalf("chooser: %d", status)
	}
	for _, typ := range []client.Type{client.TypePublic, client.TypeConfidential, client.TypeM2M} {
		d := client.DefaultSettings(typ)
		i := strings.Index(body, `id="preset-`+string(typ)+`"`)
		if i < 0 {
			t.Fatalf("no preset %s:\n%s", typ, excerpt(body))
		}
		section := body[i:]
		section = section[:strings.Index(section, "</section>")]
		want := []string{"clients/new?type=" + string(typ), "<code>" + string(d.TokenEndpointAuthMethod) + "</code>"}
		for _, g := range d.GrantTypes {
			want = append(want, "<code>"+g+"</code>")
		}
		for _, r := range d.ResponseTypes {
			want = append(want, "<code>"+r+"</code>")
		}
		mustContain(t, section, want...)
	}

	cases := []struct {
		typ    string
		set    url.Values
		secret bool
	}{
		{"public", url.Values{"client_name": {"Shop SPA"}, "code": {"urn:acme/shop-spa"}, "redirect_uris": {"https://shop.example/cb"}}, false},
		{"confidential", url.Values{"client_name": {"Shop web"}, "code": {"urn:acme/shop-web"}, "redirect_uris": {"https://shop.example/web/cb"}}, true},
		{"m2m", url.Values{"client_name": {"Orders worker"}, "code": {"urn:acme/orders-worker"}}, true},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			tc.set.Set("reason", "a "+tc.typ+" client for the tour")
			status, id, body := createThroughForm(t, a, tc.typ, tc.set)
			if id == "" {
				t.Fatalf("create %s: %d, no client id:\n%s", tc.typ, status, excerpt(body))
			}
			if !tc.secret {
				if status != http.StatusSeeOther || strings.Contains(body, `id="secret"`) {
					t.Fatalf("a public client: %d, want 303 without a secret", status)
				}
			} else {
				m := secretBox.FindStringSubmatch(body)
				if status != http.StatusCreated || m == nil {
					t.Fatalf("a %s client: %d, want 201 with its secret:\n%s", tc.typ, status, excerpt(body))
				}
				if n := strings.Count(body, m[1]); n != 1 {
					t.Fatalf("the secret appears %d times on the page, want once", n)
				}
				mustContain(t, body, "shown only this once", `data-copy="secret"`, `href="/t/acme/console/clients/`+id+`"`)
				// Shown once: the edit form, the clients list never show it.
				for _, p := range []string{"/t/acme/console/clients/" + id + "/edit", "/t/acme/console/clients"} {
					if _, other := a.get(t, p); strings.Contains(other, m[1]) {
						t.Fatalf("%s shows the secret again", p)
					}
				}
				if tc.typ == "m2m" {
					// It is the client's secret: the token endpoint takes it.
					form := url.Values{"grant_type": {"client_credentials"}}
					req, _ := http.NewRequest(http.MethodPost, h.url+"/t/acme/oauth2/token", strings.NewReader(form.Encode()))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(m[1]))
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					res.Body.Close()
					if res.StatusCode != http.StatusOK {
						t.Fatalf("the token endpoint refuses the shown secret: %d", res.StatusCode)
					}
				}
			}
			got := stored(t, h, id)
			if string(got.Settings.Type) != tc.typ || got.Settings.ClientName != tc.set.Get("client_name") || got.Settings.Code != tc.set.Get("code") {
				t.Fatalf("stored %+v", got.Settings)
			}
			if tc.secret != (len(got.Secrets) == 1) {
				t.Fatalf("stored secrets %v", got.Secrets)
			}
			e := history(t, h, id)[0]
			if e.Actor != "user:alice" || e.Reason != "a "+tc.typ+" client for the tour" {
				t.Fatalf("registered by %q because %q", e.Actor, e.Reason)
			}
		})
	}
}

func TestClientFormShowsAValidationErrorNextToItsField(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")

	set := url.Values{"client_name": {"Billing"}, "code": {"urn:acme/billing"}, "description": {"typed before the error"},
		"redirect_uris": {"https://billing.example/cb\nnot a uri"}, "access_token_lifetime": {"ten"}}
	status, id, body := createThroughForm(t, a, "confidential", set)
	if status != http.StatusUnprocessableEntity || id != "" {
		t.Fatalf("a bad form: %d, want 422 and no client", status)
	}
	mustContain(t, body,
		`id="errors"`, `href="#redirect_uris"`, `href="#access_token_lifetime"`,
		`id="redirect_uris-error"`, `aria-describedby="redirect_uris-error redirect_uris-hint"`, `aria-invalid="true"`,
		`id="access_token_lifetime-error"`, "must be a whole number",
		`value="Billing"`, "typed before the error", "not a uri", `value="ten"`)
	if strings.Index(body, `href="#redirect_uris"`) > strings.Index(body, `href="#access_token_lifetime"`) {
		t.Fatalf("the summary is not in the form's order:\n%s", excerpt(body))
	}
	if !strings.Contains(body, `[1]`) {
		t.Fatalf("the error does not say which line is wrong:\n%s", excerpt(body))
	}
	// The error is next to its own field, not another's.
	i := strings.Index(body, `id="redirect_uris-error"`)
	if j := strings.LastIndex(body[:i], `<textarea id="`); !strings.HasPrefix(body[j:], `<textarea id="redirect_uris"`) {
		t.Fatalf("the redirect_uris error is not after its textarea")
	}

	// Fixed, the form the page gave back creates the client.
	form := formOf(t, body, "/clients/new")
	form.Set("redirect_uris", "https://billing.example/cb")
	form.Set("access_token_lifetime", "600")
	status, loc, body := postNoFollow(t, a, "/t/acme/console/clients/new?type=confidential", form)
	if status != http.StatusCreated || !strings.Contains(body, `id="secret"`) {
		t.Fatalf("the fixed form: %d %s %s", status, loc, excerpt(body))
	}
	list, _, err := h.node.Admin.ReadModel.Clients(context.Background(), "acme", projections.ClientFilter{Search: "urn:acme/billing", Limit: 10})
	if err != nil || len(list) != 1 || list[0].Settings.AccessTokenLifetime != 600 || list[0].Settings.Description != "typed before the error" {
		t.Fatalf("stored %v %v", list, err)
	}
}

func TestEditAClient(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	_, id, _ := createThroughForm(t, a, "confidential", url.Values{"client_name": {"Web"}, "code": {"urn:acme/web"},
		"redirect_uris": {"https://web.example/cb"}, "metadata": {`{"team": "blue"}`}})
	before := stored(t, h, id)

	status, body := a.get(t, "/t/acme/console/clients/"+id+"/edit")
	if status != http.StatusOK {
		t.Fatalf("edit form: %d", status)
	}
	mustContain(t, body, `name="version" value="`+strconv.FormatInt(before.Version, 10)+`"`, `<input id="type" type="text" readonly value="confidential"`,
		"https://web.example/cb", "&#34;team&#34;: &#34;blue&#34;")
	form := formOf(t, body, "/clients/"+id+"/edit")
	form.Set("description", "the shop's web front")
	form.Set("access_token_lifetime", "900")
	form.Del("allow_remember_consent") // unchecked
	form.Set("redirect_uris", "https://web.example/cb\nhttps://web.example/cb2")
	form.Set("metadata", `{"team": "red"}`)
	form.Set("reason", "ticket 42")
	status, loc, body := postNoFollow(t, a, "/t/acme/console/clients/"+id+"/edit", form)
	if status != http.StatusSeeOther || loc != "/t/acme/console/clients/"+id+"?done=updated" {
		t.Fatalf("edit: %d %q %s", status, loc, excerpt(body))
	}
	after := stored(t, h, id)
	s := after.Settings
	if after.Version != before.Version+1 || s.Description != "the shop's web front" || s.AccessTokenLifetime != 900 || s.AllowRememberConsent ||
		!slices.Equal(s.RedirectURIs, []string{"https://web.example/cb", "https://web.example/cb2"}) || s.Metadata["team"] != "red" {
		t.Fatalf("after the edit: version %d, %+v", after.Version, s)
	}
	e := history(t, h, id)
	last := e[len(e)-1]
	var data struct {
		Changed []string `json:"changed"`
	}
	if err := json.Unmarshal(last.Data, &data); err != nil {
		t.Fatal(err)
	}
	want := []string{"access_token_lifetime", "allow_remember_consent", "description", "metadata", "redirect_uris"}
	if last.Actor != "user:alice" || last.Reason != "ticket 42" || last.Type != client.EventTypeUpdated || !slices.Equal(data.Changed, want) {
		t.Fatalf("the update: %q %q %s changed %v, want %v", last.Actor, last.Reason, last.Type, data.Changed, want)
	}

	// The same form again changes nothing.
	status, body = a.get(t, "/t/acme/console/clients/"+id+"/edit")
	form = formOf(t, body, "/clients/"+id+"/edit")
	if status, _, _ = postNoFollow(t, a, "/t/acme/console/clients/"+id+"/edit", form); status != http.StatusSeeOther {
		t.Fatalf("an unchanged form: %d", status)
	}
	if v := stored(t, h, id).Version; v != after.Version {
		t.Fatalf("an unchanged form made version %d", v)
	}
}

func TestAStaleEditSaysWhoChangedWhat(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	first := h.signIn(t, "acme", "alice")
	second := h.signIn(t, "acme", "alice")
	_, id, _ := createThroughForm(t, first, "public", url.Values{"client_name": {"App"}, "code": {"urn:acme/app"}, "redirect_uris": {"https://app.example/cb"}})
	path := "/t/acme/console/clients/" + id + "/edit"

	_, body := first.get(t, path)
	mine := formOf(t, body, path)
	_, body = second.get(t, path)
	theirs := formOf(t, body, path)

	theirs.Set("description", "changed in the other tab")
	theirs.Set("optional_scopes", "profile\nemail")
	theirs.Set("reason", "<b>other</b> tab")
	if status, _, body := postNoFollow(t, second, path, theirs); status != http.StatusSeeOther {
		t.Fatalf("the other tab's edit: %d %s", status, excerpt(body))
	}
	now := stored(t, h, id)

	mine.Set("client_name", "App renamed")
	status, _, body := postNoFollow(t, first, path, mine)
	if status != http.StatusConflict {
		t.Fatalf("a stale edit: %d, want 409:\n%s", status, excerpt(body))
	}
	mustContain(t, body, `id="conflict"`, "user:alice", "changed its settings", "<code>description</code>", "<code>optional_scopes</code>",
		"&lt;b&gt;other&lt;/b&gt; tab", `value="App renamed"`, `name="version" value="`+strconv.FormatInt(now.Version, 10)+`"`)
	if strings.Contains(body, "<code>client_name</code>") {
		t.Fatalf("the conflict names a field the other tab did not change:\n%s", excerpt(body))
	}
	if got := stored(t, h, id); got.Version != now.Version || got.Settings.ClientName != "App" {
		t.Fatalf("a stale edit changed the client: %+v", got.Settings)
	}

	// Posted again, the form overwrites deliberately.
	again := formOf(t, body, path)
	if status, _, body := postNoFollow(t, first, path, again); status != http.StatusSeeOther {
		t.Fatalf("the deliberate overwrite: %d %s", status, excerpt(body))
	}
	got := stored(t, h, id)
	if got.Settings.ClientName != "App renamed" || got.Settings.Description != "" || len(got.Settings.OptionalScopes) != 0 {
		t.Fatalf("after the overwrite: %+v", got.Settings)
	}
}

func TestAReadOnlyPersonGetsNoClientForm(t *testing.T) {
	t.Parallel()
	h := start(t)
	created := h.tenant(t, "acme")
	alice := h.signIn(t, "acme", "alice")
	_, id, _ := createThroughForm(t, alice, "m2m", url.Values{"client_name": {"Job"}, "code": {"urn:acme/job"}})
	bob := h.signIn(t, "acme", "bob", scope.ClientsRead)
	count := func() int {
		list, _, err := h.node.Admin.ReadModel.Clients(context.Background(), "acme", projections.ClientFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	n := count()
	for _, p := range []string{"/t/acme/console/clients/new", "/t/acme/console/clients/new?type=public", "/t/acme/console/clients/" + id + "/edit"} {
		status, body := bob.get(t, p)
		if status != http.StatusForbidden || strings.Contains(body, `name="client_name"`) {
			t.Fatalf("GET %s as a reader: %d, want 403 and no form", p, status)
		}
	}
	if status, _, _ := postNoFollow(t, bob, "/t/acme/console/clients/new?type=public", url.Values{"client_name": {"Sneaky"}, "type": {"public"}}); status != http.StatusForbidden {
		t.Fatalf("POST new as a reader: %d", status)
	}
	v := stored(t, h, id)
	if status, _, _ := postNoFollow(t, bob, "/t/acme/console/clients/"+id+"/edit", url.Values{"client_name": {"Sneaky"}, "version": {strconv.FormatInt(v.Version, 10)}}); status != http.StatusForbidden {
		t.Fatalf("POST edit as a reader: %d", status)
	}
	if count() != n || stored(t, h, id).Version != v.Version {
		t.Fatal("a reader's post changed something")
	}
	if _, body := bob.get(t, "/t/acme/console/clients"); strings.Contains(body, "clients/new") {
		t.Fatal("the list offers a reader a new client")
	}

	// A platform client is not edited here, and the page says why.
	admin := created.AdminClient.ClientID
	status, body := alice.get(t, "/t/acme/console/clients/"+admin+"/edit")
	if status != http.StatusOK || strings.Contains(body, `name="client_name"`) {
		t.Fatalf("edit of the admin client: %d", status)
	}
	mustContain(t, body, "managed by the platform", client.PlatformCodePrefix)
	if status, _, _ := postNoFollow(t, alice, "/t/acme/console/clients/"+admin+"/edit", url.Values{"client_name": {"x"}, "version": {"1"}}); status != http.StatusForbidden {
		t.Fatalf("POST edit of the admin client: %d", status)
	}
}

func TestClientFormEscapesWhatIsTyped(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	const attack = "<script>alert(1)</script>"
	const escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
	noScript := func(where, body string) {
		t.Helper()
		if strings.Contains(body, "<script>alert") {
			t.Fatalf("%s renders the script:\n%s", where, excerpt(body))
		}
		mustContain(t, body, escaped)
	}
	set := url.Values{"client_name": {attack}, "description": {attack}, "code": {"urn:acme/x"}, "redirect_uris": {"https://x.example/cb"},
		"metadata": {`{"k": "` + attack + `"}`}, "reason": {attack}}
	set.Set("code", `"><script>alert(1)</script>`)
	status, _, body := createThroughForm(t, a, "public", set)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("a bad code: %d", status)
	}
	noScript("the form with errors", body)
	set.Set("code", "urn:acme/x")
	status, id, body := createThroughForm(t, a, "public", set)
	if status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", status, excerpt(body))
	}
	_, body = a.get(t, "/t/acme/console/clients/"+id+"/edit")
	noScript("the edit form", body)
	_, body = a.get(t, "/t/acme/console/clients")
	noScript("the clients list", body)
	if got := stored(t, h, id).Settings; got.ClientName != attack || got.Description != attack {
		t.Fatalf("stored %q %q", got.ClientName, got.Description)
	}
}

func TestClientFormRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	_, body := a.get(t, "/t/acme/console/clients/new?type=public")
	form := formOf(t, body, "/clients/new")
	form.Set("client_name", "Extra")
	form.Set("code", "urn:acme/extra")
	form.Set("redirect_uris", "https://extra.example/cb")
	for name, extra := range map[string]url.Values{
		"unknown":  {"is_admin": {"true"}},
		"secrets":  {"client_secret": {"mine"}},
		"twice":    {"client_name": {"one", "two"}},
		"version":  {"version": {"1"}}, // not the create form's
		"unchecks": {removeSalt: {"true"}},
	} {
		t.Run(name, func(t *testing.T) {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			for k, v := range extra {
				f[k] = v
			}
			status, _, body := postNoFollow(t, a, "/t/acme/console/clients/new?type=public", f)
			if status != http.StatusBadRequest {
				t.Fatalf("%d, want 400:\n%s", status, excerpt(body))
			}
		})
	}
	if status, _, _ := postNoFollow(t, a, "/t/acme/console/clients/new?type=public&admin=1", form); status != http.StatusBadRequest {
		t.Fatalf("an unknown query parameter: %d", status)
	}
	_, id, _ := createThroughForm(t, a, "public", form)
	path := "/t/acme/console/clients/" + id + "/edit"
	_, body = a.get(t, path)
	edit := formOf(t, body, path)
	edit.Set("type", "confidential") // fixed after creation
	if status, _, _ := postNoFollow(t, a, path, edit); status != http.StatusBadRequest {
		t.Fatalf("the type on the edit form: %d", status)
	}
	if got := stored(t, h, id).Settings.Type; got != client.TypePublic {
		t.Fatalf("the type became %s", got)
	}
}

// removeSalt is the edit form's box that removes the pairwise subject salt.
const removeSalt = "remove_pairwise_subject_salt"

func TestThePairwiseSaltIsNeverShown(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	const salt = "a-salt-nobody-may-read-0123456789"
	set := url.Values{"client_name": {"Pairwise"}, "code": {"not a code"}, "redirect_uris": {"https://p.example/cb"}, "pairwise_subject_salt": {salt}}
	status, _, body := createThroughForm(t, a, "confidential", set)
	if status != http.StatusUnprocessableEntity || strings.Contains(body, salt) {
		t.Fatalf("the form with errors: %d, shows the salt: %v", status, strings.Contains(body, salt))
	}
	mustContain(t, body, "not shown again")
	set.Set("code", "urn:acme/pairwise")
	status, id, body := createThroughForm(t, a, "confidential", set)
	if status != http.StatusCreated || strings.Contains(body, salt) {
		t.Fatalf("create: %d", status)
	}
	if got := stored(t, h, id).Settings.PairwiseSubjectSalt; got != salt {
		t.Fatalf("stored salt %q", got)
	}
	path := "/t/acme/console/clients/" + id + "/edit"
	_, body = a.get(t, path)
	if strings.Contains(body, salt) || strings.Contains(body, client.Redacted) {
		t.Fatal("the edit form shows the salt or its stand-in")
	}
	mustContain(t, body, "A salt is set", `id="`+removeSalt+`"`)
	form := formOf(t, body, path)
	form.Set("description", "salt kept")
	if status, _, _ := postNoFollow(t, a, path, form); status != http.StatusSeeOther {
		t.Fatalf("edit: %d", status)
	}
	if got := stored(t, h, id).Settings; got.PairwiseSubjectSalt != salt || got.Description != "salt kept" {
		t.Fatalf("after an edit that left the salt empty: %q %q", got.PairwiseSubjectSalt, got.Description)
	}
	_, body = a.get(t, path)
	form = formOf(t, body, path)
	form.Set(removeSalt, "true")
	if status, _, _ := postNoFollow(t, a, path, form); status != http.StatusSeeOther {
		t.Fatalf("remove the salt: %d", status)
	}
	if got := stored(t, h, id).Settings.PairwiseSubjectSalt; got != "" {
		t.Fatalf("the salt was not removed: %q", got)
	}
}

// TestEverySettingHasAFormField: every JSON member of client.Settings
// has a labelled input of that name and id on the create form, and on
// the edit form (where the type is shown, not posted).
func TestEverySettingHasAFormField(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.tenant(t, "acme")
	a := h.signIn(t, "acme", "alice")
	var members []string
	typ := reflect.TypeFor[client.Settings]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			members = append(members, name)
		}
	}
	if len(members) < 50 {
		t.Fatalf("only %d members read from client.Settings", len(members))
	}
	_, newForm := a.get(t, "/t/acme/console/clients/new?type=confidential")
	_, id, _ := createThroughForm(t, a, "confidential", url.Values{"client_name": {"All"}, "code": {"urn:acme/all"}, "redirect_uris": {"https://all.example/cb"}})
	_, editForm := a.get(t, "/t/acme/console/clients/"+id+"/edit")
	for page, body := range map[string]string{"create": newForm, "edit": editForm} {
		ids := map[string]map[string]string{}
		for _, m := range fieldTag.FindAllStringSubmatch(body, -1) {
			at := attrs(m[2])
			if at["id"] != "" {
				if _, dup := ids[at["id"]]; dup {
					t.Errorf("%s form: two elements have id %q", page, at["id"])
				}
				ids[at["id"]] = at
			}
		}
		for _, name := range members {
			at, ok := ids[name]
			switch {
			case !ok:
				t.Errorf("%s form: no input with id %q", page, name)
			case page == "edit" && name == "type":
				if at["name"] != "" {
					t.Errorf("edit form: the type is posted")
				}
			case at["name"] != name:
				t.Errorf("%s form: the input %q has name %q", page, name, at["name"])
			}
			if !strings.Contains(body, `<label for="`+name+`"`) && !strings.Contains(body, `<label class="check" for="`+name+`"`) {
				t.Errorf("%s form: no label for %q", page, name)
			}
		}
		// Every input, textarea and select has a label.
		for id, at := range ids {
			if at["type"] == "hidden" {
				continue
			}
			if !strings.Contains(body, `for="`+id+`"`) {
				t.Errorf("%s form: %q has no label", page, id)
			}
		}
	}
}
