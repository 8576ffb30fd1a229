package oauth

import (
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
