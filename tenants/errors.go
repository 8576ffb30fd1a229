package tenants

import (
	"fmt"

	"github.com/clavisiam/clavis/domain"
)

// AlreadyExistsError says that a create command found its aggregate
// already there: a tenant whose slug is taken. It matches
// [domain.ErrAlreadyExists] with errors.Is.
type AlreadyExistsError struct {
	// Kind is what exists: "tenant".
	Kind string
	// Field is the input that named it: "slug".
	Field string
	// Value is the taken value.
	Value string
	// Err is the store's error, when the store refused the append.
	Err error
}

// Error names what exists; it is safe to show.
func (e *AlreadyExistsError) Error() string {
	return fmt.Sprintf("%s %q already exists", e.Kind, e.Value)
}

// Is makes errors.Is(err, domain.ErrAlreadyExists) true.
func (e *AlreadyExistsError) Is(target error) bool { return target == domain.ErrAlreadyExists }

// Unwrap returns the store's error, if any.
func (e *AlreadyExistsError) Unwrap() error { return e.Err }

// IncompleteTenantError says that [Tenants.Create] created the tenant but
// could not register its admin client: the two live in separate streams,
// which the store cannot append to atomically. The tenant exists and
// works; an operator registers an admin client through the tenant admin
// API with the root token. Retrying Create answers "already exists".
type IncompleteTenantError struct {
	// Slug is the tenant that was created.
	Slug string
	// Err is why the admin client was not registered.
	Err error
}

// Error says what exists and what is missing, and how to finish.
func (e *IncompleteTenantError) Error() string {
	return fmt.Sprintf("tenant %q was created but its admin client was not (register one with POST /t/%s/admin/clients): %v", e.Slug, e.Slug, e.Err)
}

// Unwrap returns why the admin client was not registered.
func (e *IncompleteTenantError) Unwrap() error { return e.Err }

// ImportError says that [Clients.Import] failed after it had applied part
// of the package. Report lists what was applied, with the secrets of the
// clients it created (shown this once); importing the same package again
// applies the rest.
type ImportError struct {
	// Report holds the clients applied before the failure.
	Report ImportReport
	// Index is the position in the package of the client that failed.
	Index int
	// Err is why it failed.
	Err error
}

// Error says where the import stopped; it never holds a secret.
func (e *ImportError) Error() string {
	return fmt.Sprintf("import stopped at client %d after applying %d: %v", e.Index, len(e.Report.Clients), e.Err)
}

// Unwrap returns why the import stopped.
func (e *ImportError) Unwrap() error { return e.Err }

// notFound wraps [domain.ErrNotFound] naming what was not found. Callers
// answer every cross-tenant miss with it, so existence never leaks.
func notFound(what, id string) error {
	return fmt.Errorf("%s %q: %w", what, id, domain.ErrNotFound)
}
