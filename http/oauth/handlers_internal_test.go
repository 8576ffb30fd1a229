package oauth

import (
	"errors"
	"testing"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
)

// onlyIfHandles answers for the OpenID Connect code handler at the
// token endpoint without asking it: that holds only while the handler
// itself handles nothing there, which this checks of the fosite in use.
func TestOpenIDCodeHandlerHandlesNoTokenRequest(t *testing.T) {
	r := fosite.NewAccessRequest(newSession())
	r.GrantTypes = fosite.Arguments{"authorization_code"}
	r.GrantScope("openid")
	h := &openid.OpenIDConnectExplicitHandler{}
	if !h.CanHandleTokenEndpointRequest(t.Context(), r) {
		t.Fatal("fosite's OpenID Connect code handler does not take a code exchange")
	}
	if err := h.HandleTokenEndpointRequest(t.Context(), r); !errors.Is(err, fosite.ErrUnknownRequest) {
		t.Fatalf("fosite's OpenID Connect code handler handles a code exchange (%v): onlyIfHandles must ask it", err)
	}
	if err := (onlyIfHandles{h}).HandleTokenEndpointRequest(t.Context(), r); !errors.Is(err, fosite.ErrUnknownRequest) {
		t.Fatalf("onlyIfHandles answered %v", err)
	}
}
