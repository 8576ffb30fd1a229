package oauth

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What a login application's answers may hold: every field is bounded,
// and the flow that keeps an answer always fits the entry size a store
// allows flows (maxFlowSize, see [Life.MaxSize]), so a store never
// refuses an answer for its size.
const (
	// maxAnswerString bounds subject and acr, in bytes.
	maxAnswerString = 255
	// maxAMR bounds the number of amr values, maxAMRValue each (RFC
	// 8176's are a few letters).
	maxAMR      = 16
	maxAMRValue = 64
	// maxLoginSize bounds a whole login answer as stored (JSON): with a
	// request of maxFlowQuery bytes, the scopes granted (a subset of at
	// most 2 KiB of requested scopes) and the flow's own fields, a flow
	// stays within maxFlowSize whatever request a login session's answer
	// is later reused for.
	maxLoginSize = 18 << 10
)

// validate checks a login answer field by field; a.Subject is trimmed.
func (a *LoginAcceptance) validate() error {
	a.Subject = strings.TrimSpace(a.Subject)
	switch {
	case a.Subject == "" || len(a.Subject) > maxAnswerString || !printable(a.Subject):
		return &InvalidInputError{"subject", "required, at most " + strconv.Itoa(maxAnswerString) + " bytes, without control characters"}
	case a.RememberFor < 0 || a.RememberFor > maxRememberFor:
		return &InvalidInputError{"remember_for", "0.." + strconv.Itoa(maxRememberFor) + " seconds"}
	case len(a.ACR) > maxAnswerString || !printable(a.ACR):
		return &InvalidInputError{"acr", "at most " + strconv.Itoa(maxAnswerString) + " bytes, without control characters"}
	case len(a.AMR) > maxAMR:
		return &InvalidInputError{"amr", "at most " + strconv.Itoa(maxAMR) + " values"}
	}
	for i, m := range a.AMR {
		if m == "" || len(m) > maxAMRValue || !printable(m) {
			return &InvalidInputError{"amr", "each value 1.." + strconv.Itoa(maxAMRValue) + " bytes, without control characters"}
		}
		if slices.Contains(a.AMR[:i], m) {
			return &InvalidInputError{"amr", "the value " + strconv.Quote(m) + " is given twice"}
		}
	}
	if raw, err := json.Marshal(a.Claims); err != nil || len(raw) > maxClaimsSize {
		return &InvalidInputError{"claims", "a JSON object of at most " + strconv.Itoa(maxClaimsSize) + " bytes"}
	}
	if raw, err := json.Marshal(a); err != nil || len(raw) > maxLoginSize {
		return &InvalidInputError{"claims", "the answer (subject, acr, amr and claims) takes at most " + strconv.Itoa(maxLoginSize) + " bytes of JSON; send fewer claims"}
	}
	return nil
}

// grantedScopes is what a consent answer grants of the scopes requested:
// all of them when grant is nil, otherwise grant, each a requested
// scope, none twice.
func grantedScopes(requested, grant []string) ([]string, error) {
	if grant == nil {
		return requested, nil
	}
	if len(grant) > len(requested) {
		return nil, &InvalidInputError{"grant_scope", "at most the " + strconv.Itoa(len(requested)) + " scope(s) requested, each once"}
	}
	for i, sc := range grant {
		if !slices.Contains(requested, sc) {
			return nil, &InvalidInputError{"grant_scope", "the scope " + strconv.Quote(sc) + " was not requested"}
		}
		if slices.Contains(grant[:i], sc) {
			return nil, &InvalidInputError{"grant_scope", "the scope " + strconv.Quote(sc) + " is given twice"}
		}
	}
	return grant, nil
}

// requestedScopes are the distinct scopes of a flow's request.
func requestedScopes(fl *flow) []string {
	q, _ := url.ParseQuery(fl.Query)
	var out []string
	for _, sc := range strings.Fields(q.Get("scope")) {
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// printable reports whether s is UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, unicode.IsControl) < 0
}
