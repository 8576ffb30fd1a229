package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/domain/tenant"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/http/oauth"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/projections/webhooks"
	"github.com/clavisiam/clavis/tenants"
)

// claimFields names the input field behind each kind of uniqueness claim.
var claimFields = map[string]string{
	client.ClaimKindClientCode: "code",
	client.ClaimKindClientID:   "client_id",
	tenant.ClaimKindSlug:       "slug",
}

// adminProblem maps an error of the domain, the command services, the
// event store or the read model to the problem the admin API answers
// with, or returns nil for an error it does not know. It is the one place
// where such errors become statuses. No detail quotes a secret: none of
// these errors carries one.
func adminProblem(err error) *Problem {
	var (
		jsonErr    *jsonbody.Error
		validation *domain.ValidationError
		exists     *tenants.AlreadyExistsError
		claim      *eventstore.ClaimError
		incomplete *tenants.IncompleteTenantError
		importErr  *tenants.ImportError
		authority  *tenants.AuthorityError
	)
	switch {
	case errors.As(err, &importErr):
		inner := adminProblem(importErr.Err)
		if inner == nil {
			inner = &Problem{Status: http.StatusInternalServerError, Detail: "The import failed."}
		}
		return &Problem{
			Type:   ProblemImportIncomplete,
			Title:  "Import incomplete",
			Status: inner.Status,
			Detail: fmt.Sprintf("The import stopped at clients[%d] after applying %d client(s): %s Import the same package again to complete it.", importErr.Index, len(importErr.Report.Clients), inner.Detail),
			Field:  inner.Field,
			Errors: inner.Errors,
			Report: importReportJSON(importErr.Report),
		}
	case errors.As(err, &jsonErr):
		if jsonErr.Unknown {
			return &Problem{Type: ProblemUnknownField, Title: "Unknown field", Status: http.StatusBadRequest, Field: jsonErr.Field,
				Detail: fmt.Sprintf("%q is not a field of this request, or is read-only.", jsonErr.Field)}
		}
		detail := "The body is not JSON of the expected shape: " + jsonErr.Err.Error() + "."
		if jsonErr.Field != "" {
			detail = fmt.Sprintf("The body is not JSON of the expected shape at %q: %v.", jsonErr.Field, jsonErr.Err)
		}
		return &Problem{Type: ProblemMalformedJSON, Title: "Malformed JSON", Status: http.StatusBadRequest, Field: jsonErr.Field, Detail: detail}
	case errors.As(err, &validation):
		return &Problem{Type: ProblemValidation, Title: "Validation failed", Status: http.StatusUnprocessableEntity,
			Detail: fmt.Sprintf("%d field(s) are invalid; see errors.", len(validation.Fields)), Errors: validation.Fields}
	case errors.As(err, &exists):
		return &Problem{Type: ProblemAlreadyExists, Title: "Already exists", Status: http.StatusConflict, Field: exists.Field,
			Detail: fmt.Sprintf("A %s with %s %q already exists.", exists.Kind, exists.Field, exists.Value)}
	case errors.As(err, &claim):
		field := claimFields[claim.Kind]
		if field == "" {
			field = claim.Kind
		}
		return &Problem{Type: ProblemClaimTaken, Title: "Value taken", Status: http.StatusConflict, Field: field,
			Detail: fmt.Sprintf("The %s %q is already taken.", field, claim.Value)}
	case errors.As(err, &incomplete):
		status := http.StatusInternalServerError
		if errors.Is(incomplete.Err, eventstore.ErrUnavailable) {
			status = http.StatusServiceUnavailable
		}
		return &Problem{Type: ProblemTenantIncomplete, Title: "Tenant incomplete", Status: status,
			Detail: fmt.Sprintf("The tenant %q was created but its admin client was not. Register one with POST /t/%s/admin/clients using the root token; creating the tenant again answers 409.", incomplete.Slug, incomplete.Slug)}
	case errors.Is(err, eventstore.ErrConflict):
		return &Problem{Type: ProblemConflict, Title: "Conflict", Status: http.StatusConflict,
			Detail: "The resource changed since the version given, or concurrently; read it again and retry."}
	case errors.As(err, &authority):
		return &Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden, Field: authority.Field,
			Detail: fmt.Sprintf("%s is a platform scope this token does not hold: a token can neither give a client more platform authority than its own nor manage a client that has more.", authority.Scope)}
	case errors.Is(err, domain.ErrTenantSuspended):
		return &Problem{Type: ProblemTenantSuspended, Title: "Tenant suspended", Status: http.StatusForbidden,
			Detail: "The tenant is suspended: its clients cannot be changed until it is resumed."}
	case errors.Is(err, domain.ErrSecretNotFound):
		return &Problem{Type: ProblemSecretNotFound, Title: "Secret not found", Status: http.StatusNotFound,
			Detail: "The client holds no secret with this id."}
	case errors.Is(err, domain.ErrLastSecret):
		return &Problem{Type: ProblemLastSecret, Title: "Last secret", Status: http.StatusConflict, Detail: domain.ErrLastSecret.Message + "."}
	case errors.Is(err, tenants.ErrWebhookLimit):
		return &Problem{Type: ProblemWebhookLimit, Title: "Webhook limit", Status: http.StatusConflict, Detail: tenants.ErrWebhookLimit.Message + "."}
	case errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrDeleted), errors.Is(err, projections.ErrNotFound), errors.Is(err, webhooks.ErrNotFound):
		return notFound()
	case errors.Is(err, projections.ErrInvalid), errors.Is(err, eventstore.ErrInvalid), errors.Is(err, webhooks.ErrInvalid):
		return &Problem{Type: ProblemBadRequest, Title: "Bad request", Status: http.StatusBadRequest, Detail: "The request cannot be answered as asked."}
	case oauth.IsUnavailable(err):
		return unavailable()
	case errors.Is(err, context.DeadlineExceeded):
		return &Problem{Type: ProblemRequestTimeout, Title: "Request timeout", Status: http.StatusServiceUnavailable, Detail: "The request took too long."}
	}
	return nil
}

// unauthorized is the problem of a request without a usable token.
// RFC 6750 §3: the challenge names the error only when a token was given.
func unauthorized(detail string) *Problem {
	return &Problem{Type: ProblemUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized, Detail: detail}
}

// invalidParameter is the problem of a bad query parameter or header.
func invalidParameter(field, code, format string, args ...any) *Problem {
	return &Problem{
		Type: ProblemInvalidParameter, Title: "Invalid parameter", Status: http.StatusBadRequest,
		Detail: fmt.Sprintf(format, args...), Field: field,
		Errors: []*domain.FieldError{{Field: field, Code: code, Message: fmt.Sprintf(format, args...)}},
	}
}

// unavailable is the problem of a request the database or the grant
// store could not serve because it cannot be reached; the error handler
// adds Retry-After.
func unavailable() *Problem {
	return &Problem{Type: ProblemUnavailable, Title: "Service unavailable", Status: http.StatusServiceUnavailable,
		Detail: "The database or the grant store cannot be reached right now; try again."}
}
