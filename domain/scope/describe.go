package scope

// descriptions say, to the person asked for consent, what granting each
// built-in scope lets the client do.
var descriptions = map[string]string{
	OpenID:        "Sign you in and know who you are",
	Profile:       "See your basic profile: name, user name, picture, locale",
	Email:         "See your email address",
	Address:       "See your postal address",
	Phone:         "See your phone number",
	OfflineAccess: "Keep access while you are not signed in",
	Admin:         "Administer the whole tenant: every admin operation",
	Audit:         "Read the tenant's audit log and past client registrations",
	ClientsRead:   "See the tenant's client registrations",
	ClientsWrite:  "Create, change and delete the tenant's client registrations",
	EventsRead:    "Follow the tenant's events: changes to its clients and settings",
	Login:         "Answer the tenant's login and consent requests",
}

// Description is a sentence for a consent page that tells a person what
// granting scope s allows, or "" when the catalogue has none: API
// scopes mean what their resource server makes of them, and a scope the
// catalogue does not hold means nothing here. Pages show the scope's
// name where there is no description.
func (c Catalogue) Description(s string) string {
	switch c.Kind(s) {
	case KindIdentity, KindPlatform:
		return descriptions[s]
	}
	return ""
}
