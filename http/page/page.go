// Package page renders the HTML pages Clavis shows to people in the
// browser flows: the development login and consent page, the errors of
// the authorization endpoint that cannot go back to the client, and the
// logout pages. Every page has one layout and one set of headers
// ([SetHeaders]): never cached, never framed (against clickjacking), no
// script at all, no referrer (a page's URL carries its challenge). Every
// value a page shows goes through html/template, escaped for where it
// stands.
package page

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"io"
	"net/http"
	"net/url"
)

// style is the pages' one stylesheet, allowed by its hash in the
// content security policy.
const style = `body{font:16px system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#222}
input[type=text]{width:100%;padding:.5rem;margin:.5rem 0 1rem;box-sizing:border-box}button{padding:.5rem 1rem;margin-right:.5rem}
.warn{background:#fff3cd;padding:.5rem;border-radius:4px;font-size:.9rem}.client{display:flex;gap:1rem;align-items:center}
.client img{max-width:64px;max-height:64px}.code{font-family:monospace;color:#666}.scope small{color:#666}
.links a{margin-right:1rem;font-size:.9rem}`

// csp allows the stylesheet and https images (a client's logo), and
// nothing else: no script, no framing by anyone.
var csp = "default-src 'none'; style-src 'sha256-" + hash(style) + "'; img-src https:; base-uri 'none'; frame-ancestors 'none'"

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// SetHeaders sets, through set (a fiber.Ctx's Set, or an
// http.Header's), the headers of every page: HTML, not stored by any
// cache, shown in no frame (X-Frame-Options and CSP frame-ancestors),
// no script, no MIME sniffing, and no Referer to the links and the logo.
func SetHeaders(set func(key, value string)) {
	set("Content-Type", "text/html; charset=utf-8")
	set("Cache-Control", "no-store")
	set("Pragma", "no-cache")
	set("X-Frame-Options", "DENY")
	set("Content-Security-Policy", csp)
	set("X-Content-Type-Options", "nosniff")
	set("Referrer-Policy", "no-referrer")
}

// A Page is one of the pages of this package.
type Page interface{ template() *template.Template }

// Render writes page p's HTML to w.
func Render(w io.Writer, p Page) error { return p.template().Execute(w, p) }

// Write answers page p with status, with the headers of [SetHeaders].
func Write(w http.ResponseWriter, status int, p Page) {
	var b bytes.Buffer
	if err := Render(&b, p); err != nil {
		http.Error(w, "The page could not be shown.", http.StatusInternalServerError)
		return
	}
	SetHeaders(w.Header().Set)
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// Client is what a page shows of a client: its name and the links it
// registered. A logo shows only from an https URI; links only to http(s)
// URIs (the registration checked them; the page checks again).
type Client struct {
	// Name is the client_name, or the client_id when it has none.
	Name                                  string
	LogoURI, ClientURI, PolicyURI, TOSURI string
}

// Logo is the client's logo URI if it is https, else "".
func (c Client) Logo() string {
	if u, err := url.Parse(c.LogoURI); err == nil && u.Scheme == "https" && u.Host != "" {
		return c.LogoURI
	}
	return ""
}

// Link is one of a client's links.
type Link struct{ Text, URI string }

// Links are the client's home page, privacy policy and terms of
// service, those it registered.
func (c Client) Links() []Link {
	var out []Link
	for _, l := range []Link{{"About " + c.Name, c.ClientURI}, {"Privacy policy", c.PolicyURI}, {"Terms of service", c.TOSURI}} {
		if u, err := url.Parse(l.URI); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
			out = append(out, l)
		}
	}
	return out
}

// Scope is a scope on the consent page: its name and, when the
// tenant's catalogue has one, what granting it allows.
type Scope struct{ Name, Description string }

// Login is the development login page: it signs anyone in as whoever
// they type.
type Login struct {
	Challenge string
	Client    Client
	LoginHint string
}

// Consent is the development consent page: the requested scopes, each
// of which the user may grant.
type Consent struct {
	Challenge string
	Client    Client
	Subject   string
	Scopes    []Scope
}

// Error is an error the authorization endpoint shows the person rather
// than the client: Code is the RFC 6749 error code, Description what
// went wrong.
type Error struct {
	Code        string
	Description string
}

// Title is a headline for e's code.
func (e Error) Title() string {
	switch e.Code {
	case "invalid_client":
		return "Unknown application"
	case "unauthorized_client":
		return "The application may not do this"
	case "access_denied":
		return "Access denied"
	case "server_error":
		return "Something went wrong on our side"
	case "temporarily_unavailable":
		return "The service is busy"
	}
	return "The request is not valid"
}

// LogoutConfirmation asks the user whether to log out of Tenant: its
// form posts Form and Confirm (the proof that the user saw this page) to
// Action.
type LogoutConfirmation struct {
	Tenant  string
	Action  string
	Form    url.Values
	Confirm string
}

// Message is a page that says one thing.
type Message struct{ Title, Text string }

const layout = `{{define "layout"}}<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{template "title" .}}</title>
<style>` + style + `</style>
<main>
{{template "body" .}}
</main>
</html>
{{end}}
{{define "client"}}<div class="client">{{with .Logo}}<img src="{{.}}" alt="">{{end}}<h1>{{template "headline" .}}</h1></div>{{end}}
{{define "links"}}{{with .Links}}<p class="links">{{range .}}<a href="{{.URI}}" rel="noopener noreferrer" target="_blank">{{.Text}}</a>{{end}}</p>{{end}}{{end}}
{{define "dev"}}<p class="warn">Development login: anyone may sign in as anyone. Configure the tenant's login application for real use.</p>{{end}}`

var base = template.Must(template.New("layout").Parse(layout))

func parse(src string) *template.Template {
	return template.Must(template.Must(base.Clone()).New("page").Parse(`{{template "layout" .}}` + src))
}

var (
	loginPage = parse(`{{define "title"}}Sign in to {{.Client.Name}}{{end}}
{{define "headline"}}Sign in to {{.Name}}{{end}}
{{define "body"}}{{template "dev"}}
{{template "client" .Client}}
<form method="post">
<input type="hidden" name="login_challenge" value="{{.Challenge}}">
<label>User name<input type="text" name="subject" value="{{.LoginHint}}" autofocus required maxlength="255"></label>
<label><input type="checkbox" name="remember" value="1"> Remember me</label><p>
<button name="action" value="accept">Sign in</button><button name="action" value="reject" formnovalidate>Cancel</button>
</form>
{{template "links" .Client}}{{end}}`)

	consentPage = parse(`{{define "title"}}{{.Client.Name}} asks for access{{end}}
{{define "headline"}}{{.Name}} asks for access{{end}}
{{define "body"}}{{template "dev"}}
{{template "client" .Client}}
<p>Signed in as <b>{{.Subject}}</b>. Allow {{.Client.Name}} to:</p>
<form method="post">
<input type="hidden" name="consent_challenge" value="{{.Challenge}}">
{{range .Scopes}}<label class="scope"><input type="checkbox" name="grant_scope" value="{{.Name}}" checked> {{if .Description}}{{.Description}} <small>{{.Name}}</small>{{else}}{{.Name}}{{end}}</label><br>
{{end}}<p><button name="action" value="accept">Allow</button><button name="action" value="reject">Deny</button>
</form>
{{template "links" .Client}}{{end}}`)

	errorPage = parse(`{{define "title"}}{{.Title}}{{end}}
{{define "body"}}<h1>{{.Title}}</h1>
<p>{{.Description}}</p>
<p class="code">Error: {{.Code}}</p>
<p>Go back to the application you came from and try again; if this happens again, tell its makers.</p>{{end}}`)

	logoutPage = parse(`{{define "title"}}Log out{{end}}
{{define "body"}}<h1>Log out of {{.Tenant}}?</h1>
<form method="post" action="{{.Action}}">
{{range $k, $v := .Form}}{{range $v}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<input type="hidden" name="confirm" value="{{.Confirm}}">
<button>Log out</button>
</form>{{end}}`)

	messagePage = parse(`{{define "title"}}{{.Title}}{{end}}
{{define "body"}}<p>{{.Text}}</p>{{end}}`)
)

func (Login) template() *template.Template              { return loginPage }
func (Consent) template() *template.Template            { return consentPage }
func (Error) template() *template.Template              { return errorPage }
func (LogoutConfirmation) template() *template.Template { return logoutPage }
func (Message) template() *template.Template            { return messagePage }

// formPostScript submits the form_post page's form as soon as it is
// read; the page's policy allows it, and no other script, by its hash.
const formPostScript = `document.forms[0].submit()`

// formPostCSP is the form_post page's policy: its one script, nothing
// else, no framing. The form may post anywhere (form-action does not
// fall back to default-src): to the client's redirect URI.
var formPostCSP = "default-src 'none'; script-src 'sha256-" + hash(formPostScript) + "'; base-uri 'none'; frame-ancestors 'none'"

// FormPost is the page that answers an authorization request with
// response_mode=form_post (OAuth 2.0 Form Post Response Mode), for
// fosite (its Config.FormPostHTMLTemplate; fosite gives it RedirURL and
// Parameters): a form of the response's parameters posted to the
// client's redirect URI by a script, or by a button without one. It
// goes with the headers of [SetFormPostHeaders].
var FormPost = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Continue</title>
<form method="post" action="{{.RedirURL}}">
{{range $k, $v := .Parameters}}{{range $v}}<input type="hidden" name="{{$k}}" value="{{.}}">
{{end}}{{end}}<noscript><button>Continue</button></noscript>
</form>
<script>` + formPostScript + `</script>
</html>
`))

// SetFormPostHeaders sets, through set, the headers of the [FormPost]
// page but its Content-Type, which fosite sets: not stored by any cache
// (it holds a code or tokens), shown in no frame, only its own script,
// no MIME sniffing.
func SetFormPostHeaders(set func(key, value string)) {
	set("Cache-Control", "no-store")
	set("Pragma", "no-cache")
	set("X-Frame-Options", "DENY")
	set("Content-Security-Policy", formPostCSP)
	set("X-Content-Type-Options", "nosniff")
}
