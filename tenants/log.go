package tenants

import (
	"log/slog"

	"github.com/clavisiam/clavis/eventstore/aggregate"
)

const slogDebug = slog.LevelDebug

// attrs are the fixed log keys of a client command's outcome. They never
// include a secret.
func attrs(tenant, clientID string, res aggregate.Result) []slog.Attr {
	return []slog.Attr{
		slog.String("tenant", tenant),
		slog.String("client_id", clientID),
		slog.Int64("version", res.Version),
		slog.String("position", res.Position.String()),
	}
}
