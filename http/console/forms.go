package console

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/tenants"
)

// formErrors are the errors of a posted form, each for the field it names
// (its JSON name, as the domain's validation names it: "redirect_uris[1]"
// belongs to the redirect_uris field).
type formErrors struct {
	List []*domain.FieldError
}

// Any reports whether there is an error.
func (e formErrors) Any() bool { return len(e.List) > 0 }

// For is the messages of field name (and of its elements and members),
// joined, or "".
func (e formErrors) For(name string) string {
	var out []string
	for _, f := range e.List {
		if f.Field == name || strings.HasPrefix(f.Field, name+"[") || strings.HasPrefix(f.Field, name+".") {
			out = append(out, strings.TrimPrefix(f.Field, name)+" "+f.Message)
		}
	}
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return strings.Join(out, "; ")
}

// add records an error of field.
func (e *formErrors) add(field, code, message string) {
	e.List = append(e.List, &domain.FieldError{Field: field, Code: code, Message: message})
}

// fieldErrors turns what a command refused because of its input into the
// errors of the form's fields: the domain's validation, a platform scope
// beyond the person's authority, a taken code or slug. ok is false for
// any other error, which is the console's to report as a failure.
func fieldErrors(err error) (e formErrors, ok bool) {
	var (
		invalid   *domain.ValidationError
		field     *domain.FieldError
		authority *tenants.AuthorityError
		exists    *tenants.AlreadyExistsError
		claim     *eventstore.ClaimError
	)
	switch {
	case errors.As(err, &invalid):
		e.List = append(e.List, invalid.Fields...)
	case errors.As(err, &field):
		e.List = append(e.List, field)
	case errors.As(err, &authority):
		e.add(authority.Field, "beyond_authority", fmt.Sprintf("%s is a platform scope you do not hold", authority.Scope))
	case errors.As(err, &exists):
		e.add(exists.Field, "taken", fmt.Sprintf("%q is taken", exists.Value))
	case errors.As(err, &claim):
		name := claim.Kind
		if claim.Kind == client.ClaimKindClientCode {
			name = "code"
		}
		e.add(name, "taken", fmt.Sprintf("%q is taken by another client", claim.Value))
	default:
		return formErrors{}, false
	}
	return e, true
}

// checkForm refuses a posted form with a field not in allowed (_csrf and
// reason are always allowed), or with a field of allowed given twice
// unless it is in multi: the console's forms send exactly their fields.
// It also refuses a name or value that is not UTF-8 (as the admin API
// does), which would otherwise be stored with its bytes replaced.
func checkForm(ctx *fiber.Ctx, allowed, multi []string) error {
	var bad error
	seen := map[string]bool{}
	visit := func(k string, v []byte) {
		switch {
		case bad != nil:
		case !utf8.ValidString(k) || !utf8.Valid(v):
			bad = errors.New("The form has text that is not UTF-8.")
		case k != "_csrf" && k != "reason" && !slices.Contains(allowed, k) && !slices.Contains(multi, k):
			bad = fmt.Errorf("The form has a field %q it does not take.", k)
		case seen[k] && !slices.Contains(multi, k):
			bad = fmt.Errorf("The form gives %q twice.", k)
		}
		seen[k] = true
	}
	if mf, err := ctx.MultipartForm(); err == nil {
		for k, vs := range mf.Value {
			for _, v := range vs {
				visit(k, []byte(v))
			}
		}
		for k := range mf.File {
			visit(k, nil)
		}
		return bad
	}
	ctx.Request().PostArgs().VisitAll(func(k, v []byte) { visit(string(k), v) })
	return bad
}

// lines splits a textarea into its non-empty lines, trimmed: the form's
// way of giving a list (one URI per line).
func lines(s string) []string {
	var out []string
	for l := range strings.SplitSeq(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// shownSecret is a secret shown once (the partial "secret").
type shownSecret struct {
	// Value is the secret.
	Value string
	// ID is its id; ExpiresAt when it stops working (nil: never).
	ID        string
	ExpiresAt string
	// Back is where to go once it is copied, and BackText its words.
	Back, BackText string
}
