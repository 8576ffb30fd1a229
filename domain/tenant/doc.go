// Package tenant holds the Tenant aggregate: one customer organisation of
// the platform, identified by an immutable slug that appears in its issuer
// URL ("https://id.example.com/{slug}").
//
// Like every Clavis aggregate, a [Tenant] only changes by applying events.
// Commands ([Create], [Tenant.Rename], [Tenant.Suspend], [Tenant.Resume])
// validate their input against the current state and return the events to
// append without touching the aggregate; the caller appends them to the
// event store and then, if it keeps the aggregate, calls [Tenant.Apply].
// [Replay] rebuilds a tenant from its stored history and [Decode] turns a
// stored event back into its struct.
//
// Commands that would not change anything (suspending a suspended tenant,
// resuming an active one, renaming to the current name) return no events and
// no error, so that retried requests are harmless.
//
// Invalid input is reported as a *[domain.ValidationError] whose field paths
// are the JSON names "slug", "name" and "reason", with these codes:
//
//	required     an empty value
//	too_long     longer than allowed
//	invalid_value  not the allowed shape (slug syntax, control characters)
//	reserved     a slug the platform keeps for its own routes
package tenant
