package httpapi_test

// The OAuth endpoints' answers, typed, so that a test compares what it
// got with what it wants in one cmp.Diff that names the field that
// differs. Decode them with decodeAs.

// tokenAnswer is a token endpoint's success (RFC 6749 §5.1, OpenID
// Connect Core §3.1.3.3).
type tokenAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// oauthError is an OAuth error answer (RFC 6749 §5.2, RFC 6750 §3).
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// introspection is an introspection answer (RFC 7662 §2.2) with the
// members Clavis adds.
type introspection struct {
	Active      bool     `json:"active"`
	Scope       string   `json:"scope"`
	ClientID    string   `json:"client_id"`
	TokenType   string   `json:"token_type"`
	Sub         string   `json:"sub"`
	Aud         []string `json:"aud"`
	Iss         string   `json:"iss"`
	Exp         int64    `json:"exp"`
	Iat         int64    `json:"iat"`
	Permissions []string `json:"permissions"`
}

// redirectAnswer is the login application API's answer to accept and
// reject: where the login application sends the browser.
type redirectAnswer struct {
	RedirectTo string `json:"redirect_to"`
}
