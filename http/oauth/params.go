package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ory/fosite"
)

// maxFormMemory is how much of a multipart form is kept in memory, as
// fosite parses it.
const maxFormMemory = 1 << 20

// parseOnce parses r's query string and body as fosite does, and refuses
// (invalid_request) a body that cannot be parsed or a parameter given
// more than once, in either or across both (RFC 6749 §3.1, §3.2:
// "Request and response parameters MUST NOT be included more than
// once"). Parameters it does not know are not its concern: the
// endpoints ignore them, as RFC 6749 §3.1 says.
func parseOnce(r *http.Request) error {
	if err := r.ParseMultipartForm(maxFormMemory); err != nil && !errors.Is(err, http.ErrNotMultipart) {
		return fosite.ErrInvalidRequest.WithHint("The request could not be parsed.").WithWrap(err)
	}
	return repeatedParameter(r.Form)
}

// authorizeOnce is the same rule at the authorization endpoint, over
// what fosite made of the request: it returns ar and err as they are, or
// invalid_request when a parameter is given more than once. That error
// goes to the client's redirect URI, as RFC 6749 §4.1.2.1 says, unless
// client_id or redirect_uri is the repeated one: then there is no
// redirect URI to trust, and the error comes with an empty request,
// which the user is shown.
func authorizeOnce(ar fosite.AuthorizeRequester, err error) (fosite.AuthorizeRequester, error) {
	form := ar.GetRequestForm()
	repeated := repeatedParameter(form)
	switch {
	case repeated == nil:
		return ar, err
	case len(form["client_id"]) > 1 || len(form["redirect_uri"]) > 1:
		return fosite.NewAuthorizeRequest(), repeated
	case err == nil:
		return ar, repeated
	}
	return ar, err
}

// repeatedParameter returns invalid_request naming the parameters form
// has more than one value of, or nil.
func repeatedParameter(form url.Values) error {
	var names []string
	for name, values := range form {
		if len(values) > 1 {
			names = append(names, shownParameter(name))
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return fosite.ErrInvalidRequest.WithHintf("The parameter(s) %s must not be given more than once.", strings.Join(names, ", "))
}

// shownParameter quotes a parameter's name for an error_description,
// whose characters RFC 6749 §5.2 restricts to printable ASCII without
// '"' and '\'; a name that is not is not quoted.
func shownParameter(name string) string {
	if len(name) == 0 || len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool {
		return r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '\''
	}) {
		return "(a parameter with an unusual name)"
	}
	return "'" + name + "'"
}

// describable is s as an error_description may hold it (RFC 6749 §5.2:
// printable ASCII without '"' and '\'): a double quote becomes a single
// one, any other character outside that set '?'.
func describable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '"':
			return '\''
		case r < 0x20 || r > 0x7e || r == '\\':
			return '?'
		}
		return r
	}, s)
}

// authorizeParameterSizes are the parameters of an authorization
// request (RFC 6749 §4.1.1 and §4.2.1, RFC 7636, OpenID Connect Core
// §3.1.2.1, RFC 8707's audience, which is refused) and the most bytes
// each may have; every other parameter is dropped (request and
// request_uri, which are refused, too).
var authorizeParameterSizes = map[string]int{
	"response_type": 64, "client_id": 256, "redirect_uri": 2048, "scope": 2048, "state": 2048,
	"response_mode": 32, "code_challenge": 128, "code_challenge_method": 16, "nonce": 1024,
	"display": 16, "prompt": 64, "max_age": 16, "ui_locales": 256, "id_token_hint": 4096,
	"login_hint": 512, "acr_values": 512, "registration": 2048,
	"audience": 2048,
}

// maxFlowQuery bounds the whole authorization request a flow keeps,
// URL-encoded, as the flow's JSON holds it.
const maxFlowQuery = 8 << 10

// authorizeParameters keeps, of form, the parameters of an
// authorization request (a repeated one as it came: fosite reads the
// first value, and a request that repeats one is not valid).
func authorizeParameters(form url.Values) url.Values {
	kept := url.Values{}
	for name := range authorizeParameterSizes {
		if v, ok := form[name]; ok {
			kept[name] = v
		}
	}
	return kept
}

// checkParameterSizes refuses an authorization request (encoded as
// query, whose parameters are params) with a parameter longer than its
// bound, or longer than maxFlowQuery in all.
func checkParameterSizes(query string, params url.Values) error {
	for name, vs := range params {
		for _, v := range vs {
			if n := authorizeParameterSizes[name]; len(v) > n {
				return fosite.ErrInvalidRequest.WithHintf("The %s parameter is longer than %d bytes.", name, n)
			}
		}
	}
	// Measured as a flow keeps it: JSON escapes each & to six bytes.
	if stored, _ := json.Marshal(query); len(stored) > maxFlowQuery {
		return fosite.ErrInvalidRequest.WithHintf("The authorization request is longer than %d bytes.", maxFlowQuery)
	}
	return nil
}
