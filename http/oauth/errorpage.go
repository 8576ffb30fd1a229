package oauth

import (
	"net/http"

	"github.com/ory/fosite"

	"github.com/clavisiam/clavis/http/page"
)

// authorizeErrorPage shows err to the person in the browser: an error of
// the authorization endpoint that may not go to a redirect URI (an
// unknown client, a redirect URI the client did not register, a used
// verifier...). RFC 6749 §4.1.2.1 says to inform the resource owner and
// not to redirect; a person reads a page, not fosite's JSON. The status
// is the error's, except that 401 becomes 400: no HTTP authentication
// is asked of a browser (a 401 would need a WWW-Authenticate challenge).
// fosite's debug details never reach the page.
func authorizeErrorPage(w http.ResponseWriter, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	status := rfc.CodeField
	if status == http.StatusUnauthorized || status < http.StatusBadRequest {
		status = http.StatusBadRequest
	}
	page.Write(w, status, page.Error{Code: rfc.ErrorField, Description: rfc.GetDescription()})
}

// formPostHeaders sets the headers of the form_post page (page.FormPost,
// fosite's template here) when fosite is about to answer ar with it: an
// authorization response or error in response_mode=form_post.
func formPostHeaders(w http.ResponseWriter, ar fosite.AuthorizeRequester) {
	if ar.GetResponseMode() == fosite.ResponseModeFormPost {
		page.SetFormPostHeaders(w.Header().Set)
	}
}
