package node

import (
	"context"
	"log/slog"

	"github.com/clavisiam/clavis/projections"
	"github.com/clavisiam/clavis/tenants"
)

// ensureAuditKeys gives every tenant without an audit key one, as the
// platform ("system"): tenants created before audit keys existed get
// theirs when an upgraded node first starts. It reads the tenants from
// the read model, which Run has just caught up, and asks the command
// service, which checks the tenant's own history, so that any number of
// nodes starting at once add one key per tenant. A failure is logged and
// does not stop the node; the next start tries again.
func (n *Node) ensureAuditKeys(ctx context.Context) {
	req := tenants.Request{Actor: "system", Reason: "every tenant has an audit key"}
	after, added := "", 0
	for {
		page, err := n.Admin.ReadModel.Tenants(ctx, after, projections.MaxPage)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Warn("could not list tenants to give them audit keys", "error", err)
			}
			return
		}
		for _, v := range page {
			if len(v.AuditKeys) > 0 {
				continue
			}
			res, err := n.Admin.Tenants.EnsureAuditKey(ctx, req, v.Slug)
			if err != nil {
				n.log.LogAttrs(ctx, slog.LevelWarn, "could not give the tenant an audit key",
					slog.String("tenant", v.Slug), slog.Any("error", err))
				continue
			}
			if !res.Position.IsZero() {
				added++
			}
		}
		if len(page) < projections.MaxPage {
			break
		}
		after = page[len(page)-1].Slug
	}
	if added > 0 {
		n.log.Info("gave tenants without an audit key one", "tenants", added)
	}
}
