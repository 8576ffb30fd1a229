package httpapi

import (
	"encoding/json"
	"time"

	"github.com/clavisiam/clavis/domain/client"
	"github.com/clavisiam/clavis/http/jsonbody"
	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// clientJSON is a client as the admin API shows it: its settings,
// flattened, under their RFC 7591 names, and its state. Secrets appear by
// id and dates only; a hash never leaves the server. The three
// client_secret members are there only in the answer that made the
// secret.
type clientJSON struct {
	ClientID string `json:"client_id"`
	client.Settings
	Active             bool         `json:"active"`
	DeactivationReason string       `json:"deactivation_reason,omitempty"`
	Version            int64        `json:"version"`
	CreatedAt          time.Time    `json:"created_at"`
	UpdatedAt          time.Time    `json:"updated_at"`
	ClonedFrom         string       `json:"cloned_from,omitempty"`
	Secrets            []secretJSON `json:"secrets"`

	ClientSecret          string `json:"client_secret,omitempty"`
	ClientSecretID        string `json:"client_secret_id,omitempty"`
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
}

// secretJSON is a client secret without its hash.
type secretJSON struct {
	ID          string     `json:"id"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Description string     `json:"description,omitempty"`
}

// newClientJSON shows v, and secret when the command made one. The
// pairwise subject salt is write-only: it shows as [client.Redacted].
func newClientJSON(v projections.ClientView, secret *tenants.Secret) clientJSON {
	out := clientJSON{
		ClientID:           v.ClientID,
		Settings:           emptyNotNull(v.Settings.Redact()),
		Active:             v.Active,
		DeactivationReason: v.DeactivationReason,
		Version:            v.Version,
		CreatedAt:          v.CreatedAt,
		UpdatedAt:          v.UpdatedAt,
		ClonedFrom:         v.ClonedFrom,
		Secrets:            make([]secretJSON, 0, len(v.Secrets)),
	}
	for _, s := range v.Secrets {
		out.Secrets = append(out.Secrets, secretJSON{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, Description: s.Description})
	}
	if secret != nil {
		out.ClientSecret, out.ClientSecretID = secret.Value, secret.ID
		// RFC 7591 §3.2.1: 0 means the secret does not expire.
		var exp int64
		if secret.ExpiresAt != nil {
			exp = secret.ExpiresAt.Unix()
		}
		out.ClientSecretExpiresAt = &exp
	}
	return out
}

// emptyNotNull returns s with its nil lists and maps made empty, so that
// the API shows [] and {} rather than null. jwks stays absent when unset.
func emptyNotNull(s client.Settings) client.Settings { return jsonbody.EmptyNotNull(s) }

// tenantJSON is a tenant as the platform API shows it.
type tenantJSON struct {
	Slug             string    `json:"slug"`
	Name             string    `json:"name"`
	Issuer           string    `json:"issuer"`
	Suspended        bool      `json:"suspended"`
	SuspensionReason string    `json:"suspension_reason,omitempty"`
	Version          int64     `json:"version"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// LoginURL is the tenant's login application URL ("" when unset).
	LoginURL string `json:"login_url"`
	// SigningKeys are the keys the tenant publishes now.
	SigningKeys []keyJSON `json:"signing_keys"`
}

func (s *Server) newTenantJSON(v projections.TenantView) tenantJSON {
	return tenantJSON{
		Slug: v.Slug, Name: v.Name, Issuer: s.issuer(v.Slug), Suspended: v.Suspended, SuspensionReason: v.SuspensionReason,
		Version: v.Version, CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, LoginURL: v.LoginURL, SigningKeys: keysJSON(v, time.Now()),
	}
}

// issuer is the issuer URL of tenant slug: {public_url}/t/{slug}.
func (s *Server) issuer(slug string) string { return s.admin.PublicURL + "/t/" + slug }

// createdTenantJSON is the one answer that shows a tenant's first admin
// secret.
type createdTenantJSON struct {
	Slug        string `json:"slug"`
	Name        string `json:"name"`
	Issuer      string `json:"issuer"`
	AdminClient struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	} `json:"admin_client"`
}

// historyEventJSON is one event of a client's history.
type historyEventJSON struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	Version       int64           `json:"version"`
	Time          time.Time       `json:"time"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Actor         string          `json:"actor"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Reason        string          `json:"reason,omitempty"`
	Source        string          `json:"source,omitempty"`
	UserAgent     string          `json:"user_agent,omitempty"`
	Data          json.RawMessage `json:"data"`
}

// importResultJSON is one client of an import report.
type importResultJSON struct {
	Code                  string   `json:"code"`
	SourceID              string   `json:"source_id,omitempty"`
	ClientID              string   `json:"client_id,omitempty"`
	Action                string   `json:"action"`
	Changed               []string `json:"changed"`
	Version               int64    `json:"version"`
	ClientSecret          string   `json:"client_secret,omitempty"`
	ClientSecretID        string   `json:"client_secret_id,omitempty"`
	ClientSecretExpiresAt *int64   `json:"client_secret_expires_at,omitempty"`
}

// importReportJSON is what an import did, or would do.
type importReportJSONBody struct {
	Format  string             `json:"format"`
	DryRun  bool               `json:"dry_run"`
	Clients []importResultJSON `json:"clients"`
}

func importReportJSON(r tenants.ImportReport) importReportJSONBody {
	out := importReportJSONBody{Format: r.Format, DryRun: r.DryRun, Clients: make([]importResultJSON, 0, len(r.Clients))}
	for _, c := range r.Clients {
		j := importResultJSON{Code: c.Code, SourceID: c.SourceID, ClientID: c.ClientID, Action: c.Action, Changed: c.Changed, Version: c.Version}
		if j.Changed == nil {
			j.Changed = []string{}
		}
		if c.Secret != nil {
			var exp int64
			j.ClientSecret, j.ClientSecretID, j.ClientSecretExpiresAt = c.Secret.Value, c.Secret.ID, &exp
		}
		out.Clients = append(out.Clients, j)
	}
	return out
}
