package client

import (
	"log/slog"
	"time"

	"github.com/clavisiam/clavis/domain"
)

// Wire names of the client events. They are stable: stored history refers
// to them forever.
const (
	EventTypeRegistered    = "client.registered"
	EventTypeUpdated       = "client.updated"
	EventTypeSecretAdded   = "client.secret_added"
	EventTypeSecretRevoked = "client.secret_revoked"
	EventTypeSecretRotated = "client.secret_rotated"
	EventTypeActivated     = "client.activated"
	EventTypeDeactivated   = "client.deactivated"
	EventTypeDeleted       = "client.deleted"
)

// [domain.Claim] kinds of the client events.
const (
	// ClaimKindClientID keeps client_id values unique across the platform.
	// It is never released: a deleted client's id is never reused, so old
	// tokens and logs can never point at a different client.
	ClaimKindClientID = "client_id"
	// ClaimKindClientCode keeps codes unique within a tenant. It is released
	// when a client changes its code or is deleted.
	ClaimKindClientCode = "client_code"
)

// ClientRegistered records a new client with its whole configuration.
// Secrets holds the initial secret, if any, as a hash only. ClonedFrom is
// the client id of the source when the client was made by [Client.Clone].
type ClientRegistered struct {
	ClientID   string    `json:"client_id"`
	Settings   Settings  `json:"settings"`
	Active     bool      `json:"active"`
	Secrets    []Secret  `json:"secrets"`
	ClonedFrom string    `json:"cloned_from,omitempty"`
	At         time.Time `json:"at"`
}

// ClientUpdated records a change of settings. Settings is the whole new
// configuration, so that a reader needs no earlier event to know the
// current one; Changed lists the JSON names of the settings that differ
// from before, sorted, so that an auditor sees what changed.
// PreviousCode is set only when the code changed.
type ClientUpdated struct {
	Settings     Settings  `json:"settings"`
	Changed      []string  `json:"changed"`
	PreviousCode string    `json:"previous_code,omitempty"`
	At           time.Time `json:"at"`
}

// SecretAdded records a new secret (its hash only).
type SecretAdded struct {
	Secret Secret    `json:"secret"`
	At     time.Time `json:"at"`
}

// SecretRevoked records that a secret was removed and no longer works.
type SecretRevoked struct {
	SecretID string    `json:"secret_id"`
	At       time.Time `json:"at"`
}

// SecretRotated records a rotation: a New secret, and the other usable
// secrets whose expiry moved earlier so that they stop working after the
// overlap.
type SecretRotated struct {
	New      Secret         `json:"new"`
	Expiring []SecretExpiry `json:"expiring"`
	At       time.Time      `json:"at"`
}

// ClientActivated records that a deactivated client may get tokens again.
type ClientActivated struct {
	At time.Time `json:"at"`
}

// ClientDeactivated records that a client may no longer get tokens, for
// the given Reason (possibly empty). Its configuration is kept.
type ClientDeactivated struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// ClientDeleted records that a client was deleted. Code is its code at
// that moment, released for reuse; the client id is not.
type ClientDeleted struct {
	Code string    `json:"code"`
	At   time.Time `json:"at"`
}

// EventType returns "client.registered".
func (ClientRegistered) EventType() string { return EventTypeRegistered }

// EventType returns "client.updated".
func (ClientUpdated) EventType() string { return EventTypeUpdated }

// EventType returns "client.secret_added".
func (SecretAdded) EventType() string { return EventTypeSecretAdded }

// EventType returns "client.secret_revoked".
func (SecretRevoked) EventType() string { return EventTypeSecretRevoked }

// EventType returns "client.secret_rotated".
func (SecretRotated) EventType() string { return EventTypeSecretRotated }

// EventType returns "client.activated".
func (ClientActivated) EventType() string { return EventTypeActivated }

// EventType returns "client.deactivated".
func (ClientDeactivated) EventType() string { return EventTypeDeactivated }

// EventType returns "client.deleted".
func (ClientDeleted) EventType() string { return EventTypeDeleted }

// SchemaVersion returns 1.
func (ClientRegistered) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (ClientUpdated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (SecretAdded) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (SecretRevoked) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (SecretRotated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (ClientActivated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (ClientDeactivated) SchemaVersion() int { return 1 }

// SchemaVersion returns 1.
func (ClientDeleted) SchemaVersion() int { return 1 }

// Claims reserves the client id across the platform and the code within
// the tenant.
func (e ClientRegistered) Claims() []domain.Claim {
	return []domain.Claim{
		{Kind: ClaimKindClientID, Value: e.ClientID, Global: true},
		{Kind: ClaimKindClientCode, Value: e.Settings.Code},
	}
}

// Claims releases the previous code and reserves the new one when the code
// changed, and claims nothing otherwise.
func (e ClientUpdated) Claims() []domain.Claim {
	if e.PreviousCode == "" || e.PreviousCode == e.Settings.Code {
		return nil
	}
	return []domain.Claim{
		{Kind: ClaimKindClientCode, Value: e.PreviousCode, Release: true},
		{Kind: ClaimKindClientCode, Value: e.Settings.Code},
	}
}

// Claims releases the deleted client's code. The client id stays claimed.
func (e ClientDeleted) Claims() []domain.Claim {
	return []domain.Claim{{Kind: ClaimKindClientCode, Value: e.Code, Release: true}}
}

// LogValue implements [slog.LogValuer], logging the registration without
// settings or secret hashes: secrets appear by id only.
func (e ClientRegistered) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("client_id", e.ClientID),
		slog.String("code", e.Settings.Code),
		slog.Bool("active", e.Active),
		slog.Any("secret_ids", secretIDs(e.Secrets)),
		slog.String("cloned_from", e.ClonedFrom),
		slog.Time("at", e.At),
	)
}

// LogValue implements [slog.LogValuer], logging the secret without its hash.
func (e SecretAdded) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("secret", e.Secret), slog.Time("at", e.At))
}

// LogValue implements [slog.LogValuer], logging the new secret without its
// hash.
func (e SecretRotated) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("new", e.New), slog.Any("expiring", e.Expiring), slog.Time("at", e.At))
}

func secretIDs(secrets []Secret) []string {
	ids := make([]string, len(secrets))
	for i, s := range secrets {
		ids[i] = s.ID
	}
	return ids
}

// Compile-time checks that the events satisfy the domain contracts.
var (
	_ domain.Event   = ClientRegistered{}
	_ domain.Event   = ClientUpdated{}
	_ domain.Event   = SecretAdded{}
	_ domain.Event   = SecretRevoked{}
	_ domain.Event   = SecretRotated{}
	_ domain.Event   = ClientActivated{}
	_ domain.Event   = ClientDeactivated{}
	_ domain.Event   = ClientDeleted{}
	_ domain.Claimer = ClientRegistered{}
	_ domain.Claimer = ClientUpdated{}
	_ domain.Claimer = ClientDeleted{}
	_ slog.LogValuer = ClientRegistered{}
	_ slog.LogValuer = SecretAdded{}
	_ slog.LogValuer = SecretRotated{}
	_ slog.LogValuer = Secret{}
)
