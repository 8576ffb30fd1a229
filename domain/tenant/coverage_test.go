package tenant_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/clavisiam/clavis/domain"
	"github.com/clavisiam/clavis/domain/internal/eventtest"
	"github.com/clavisiam/clavis/domain/tenant"
)

// TestEveryEventTypeIsHandled checks that every tenant event type
// decodes, applies (also to a tenant restored from its State) and
// redacts at every level without the sealed private key.
func TestEveryEventTypeIsHandled(t *testing.T) {
	t.Parallel()
	eventtest.EveryEventTypeIsHandled(t, eventtest.Kind[*tenant.Tenant, tenant.State]{
		Dir: ".", New: func() *tenant.Tenant { return new(tenant.Tenant) }, FromState: tenant.FromState,
		Decode: tenant.Decode, Redact: tenant.Redact,
		Leaks: func(e domain.Event, _ domain.Redaction, b []byte) string {
			if k, ok := e.(tenant.SigningKeyAdded); ok && strings.Contains(string(b), k.Sealed) {
				return "the sealed key"
			}
			if k, ok := e.(tenant.AuditKeyAdded); ok && (strings.Contains(string(b), k.Sealed) || strings.Contains(string(b), "PRIVATE+KEY")) {
				return "the sealed audit key"
			}
			return ""
		},
	}, slices.Concat(keyHistory(), history()[1:], auditHistory(t)[1:]))
}
