package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/clavisiam/clavis/domain"
)

// Patch is a partial update of [Settings], for [Client.Update]. Every field
// points to the new value of the Settings field of the same name; nil
// leaves it unchanged. For lists and maps the new value replaces the old one
// whole, so a non-nil pointer to an empty list or map clears it (metadata
// and properties are replaced, not merged key by key).
//
// Patch decodes from a JSON merge patch (RFC 7396) document: an absent
// member leaves the setting unchanged, a present one sets it, and a present
// null resets it to its zero value, which clears a list, a map, a text or
// jwks, switches a flag off and puts a lifetime back to its default (see
// [Settings.Normalize]). Unknown members are refused.
type Patch struct {
	ClientName                        *string                 `json:"client_name,omitempty"`
	Description                       *string                 `json:"description,omitempty"`
	Code                              *string                 `json:"code,omitempty"`
	Type                              *Type                   `json:"type,omitempty"`
	RedirectURIs                      *[]string               `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs            *[]string               `json:"post_logout_redirect_uris,omitempty"`
	AllowedCORSOrigins                *[]string               `json:"allowed_cors_origins,omitempty"`
	GrantTypes                        *[]string               `json:"grant_types,omitempty"`
	ResponseTypes                     *[]string               `json:"response_types,omitempty"`
	TokenEndpointAuthMethod           *AuthMethod             `json:"token_endpoint_auth_method,omitempty"`
	TLSClientAuthSubjectDN            *string                 `json:"tls_client_auth_subject_dn,omitempty"`
	DefaultScopes                     *[]string               `json:"default_scopes,omitempty"`
	OptionalScopes                    *[]string               `json:"optional_scopes,omitempty"`
	ScopePermissions                  *map[string][]string    `json:"scope_permissions,omitempty"`
	APIScopes                         *[]string               `json:"api_scopes,omitempty"`
	AccessTokenLifetime               *int                    `json:"access_token_lifetime,omitempty"`
	IDTokenLifetime                   *int                    `json:"id_token_lifetime,omitempty"`
	AuthorizationCodeLifetime         *int                    `json:"authorization_code_lifetime,omitempty"`
	RefreshTokenAbsoluteLifetime      *int                    `json:"refresh_token_absolute_lifetime,omitempty"`
	RefreshTokenSlidingLifetime       *int                    `json:"refresh_token_sliding_lifetime,omitempty"`
	ConsentLifetime                   *int                    `json:"consent_lifetime,omitempty"`
	RefreshTokenUsage                 *RefreshTokenUsage      `json:"refresh_token_usage,omitempty"`
	RefreshTokenExpiration            *RefreshTokenExpiration `json:"refresh_token_expiration,omitempty"`
	AccessTokenType                   *AccessTokenType        `json:"access_token_type,omitempty"`
	RequirePKCE                       *bool                   `json:"require_pkce,omitempty"`
	AllowPlainPKCE                    *bool                   `json:"allow_plain_pkce,omitempty"`
	ConsentRequired                   *bool                   `json:"consent_required,omitempty"`
	FirstParty                        *bool                   `json:"first_party,omitempty"`
	ClientClaims                      *[]Claim                `json:"client_claims,omitempty"`
	ClientClaimsPrefix                *string                 `json:"client_claims_prefix,omitempty"`
	AlwaysSendClientClaims            *bool                   `json:"always_send_client_claims,omitempty"`
	IdentityProviderRestrictions      *[]string               `json:"identity_provider_restrictions,omitempty"`
	LogoURI                           *string                 `json:"logo_uri,omitempty"`
	PolicyURI                         *string                 `json:"policy_uri,omitempty"`
	TOSURI                            *string                 `json:"tos_uri,omitempty"`
	ClientURI                         *string                 `json:"client_uri,omitempty"`
	Metadata                          *map[string]string      `json:"metadata,omitempty"`
	Properties                        *map[string]string      `json:"properties,omitempty"`
	JWKS                              *json.RawMessage        `json:"jwks,omitempty"`
	JWKSURI                           *string                 `json:"jwks_uri,omitempty"`
	FAPI                              *bool                   `json:"fapi,omitempty"`
	FrontchannelLogoutURI             *string                 `json:"frontchannel_logout_uri,omitempty"`
	FrontchannelLogoutSessionRequired *bool                   `json:"frontchannel_logout_session_required,omitempty"`
	BackchannelLogoutURI              *string                 `json:"backchannel_logout_uri,omitempty"`
	BackchannelLogoutSessionRequired  *bool                   `json:"backchannel_logout_session_required,omitempty"`
	PairwiseSubjectSalt               *string                 `json:"pairwise_subject_salt,omitempty"`
	AllowOfflineAccess                *bool                   `json:"allow_offline_access,omitempty"`
	UpdateAccessTokenClaimsOnRefresh  *bool                   `json:"update_access_token_claims_on_refresh,omitempty"`
	IncludeJWTID                      *bool                   `json:"include_jwt_id,omitempty"`
	AllowRememberConsent              *bool                   `json:"allow_remember_consent,omitempty"`
	EnableLocalLogin                  *bool                   `json:"enable_local_login,omitempty"`
	AlwaysIncludeUserClaimsInIDToken  *bool                   `json:"always_include_user_claims_in_id_token,omitempty"`
	AllowAccessTokensViaBrowser       *bool                   `json:"allow_access_tokens_via_browser,omitempty"`

	// NewSecret, when set, is added to the client by the same command
	// (one [SecretAdded] after the [ClientUpdated]). It exists for updates
	// that switch to a secret-based auth method on a client that holds no
	// usable secret, such as turning a public client confidential, which
	// could not otherwise validate. It is never decoded from JSON: the
	// caller generates secrets.
	NewSecret *Secret `json:"-"`
}

// UnmarshalJSON decodes a JSON merge patch into p (see [Patch]).
func (p *Patch) UnmarshalJSON(data []byte) error {
	type plain Patch // without this method, so decoding does not recurse
	var q plain
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return err
	}
	if name, bad := domain.UnknownMember(data, &q); bad {
		return fmt.Errorf("json: unknown field %q", name)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	v := reflect.ValueOf(&q).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		name := jsonName(f)
		if raw, ok := members[name]; ok && name != "" && string(bytes.TrimSpace(raw)) == "null" {
			v.Field(i).Set(reflect.New(f.Type.Elem()))
		}
	}
	*p = Patch(q)
	return nil
}

// IsZero reports whether the patch changes nothing.
func (p Patch) IsZero() bool { return reflect.ValueOf(p).IsZero() }

// apply returns s with the patch's values in place. The result may alias
// the patch; callers normalise it, which copies.
func (p Patch) apply(s Settings) Settings {
	pv := reflect.ValueOf(p)
	sv := reflect.ValueOf(&s).Elem()
	for i := range pv.NumField() {
		f := pv.Field(i)
		if f.IsNil() {
			continue
		}
		if target := sv.FieldByName(pv.Type().Field(i).Name); target.IsValid() {
			target.Set(f.Elem())
		}
	}
	return s
}

// changedFields returns the sorted JSON names of the settings that differ
// between a and b. Empty and nil lists or maps count as equal.
func changedFields(a, b Settings) []string {
	av, bv := reflect.ValueOf(a), reflect.ValueOf(b)
	var changed []string
	for i := range av.NumField() {
		x, y := av.Field(i), bv.Field(i)
		if (x.Kind() == reflect.Slice || x.Kind() == reflect.Map) && x.Len() == 0 && y.Len() == 0 {
			continue
		}
		if !reflect.DeepEqual(x.Interface(), y.Interface()) {
			changed = append(changed, jsonName(av.Type().Field(i)))
		}
	}
	slices.Sort(changed)
	return changed
}

// jsonName returns the name a struct field has in JSON, or "" for a field
// that is not encoded.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}
