package relay

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublicAccount is the embedded server's account of connections without
// credentials. It shares no subject with the node's account but the
// public events: its JetStream holds a mirror of the public stream,
// under the same name, and its subscribers' consumers, at most
// MaxAnonymousConsumers of them. So nothing the node sends or receives
// (its replies, the internal stream, the key-value buckets), nor any
// consumer of the node's account, is within their reach, whatever inbox
// a tool of the node's user uses.
const PublicAccount = "PUBLIC"

// PublicAdminUser is the embedded server's user with every right in
// PublicAccount, with the node's password: it keeps the mirror, and an
// operator may use it to remove subscribers' consumers.
const PublicAdminUser = InternalUser + "-public"

// MaxAnonymousConsumers is how many consumers connections without
// credentials may have on the public stream's mirror, all together.
const MaxAnonymousConsumers = 100

// anonymousInactiveThreshold is the longest a consumer of connections
// without credentials lives unused, durable ones included (ordered
// consumers ask for 5 minutes), so that none stays forever.
const anonymousInactiveThreshold = time.Hour

// mirrorAPI is the prefix under which PublicAccount reaches the part of
// the node account's JetStream API its mirror needs.
const mirrorAPI = "$JS.node.API"

// setUpTimeout bounds setUpPublicAccount.
const setUpTimeout = 30 * time.Second

// setUpPublicAccount runs once the server is ready: it gives the node's
// (global) account its JetStream back, which configuring a second account
// turns off, lets PublicAccount mirror the public stream and receive
// its events, and creates both streams and the mirror.
func setUpPublicAccount(ctx context.Context, ns *server.Server, n Names, password string) error {
	node := ns.GlobalAccount()
	if !node.JetStreamEnabled() {
		if err := node.EnableJetStream(nil, nil); err != nil {
			return fmt.Errorf("relay: enable jetstream for the node's account: %w", err)
		}
	}
	public, err := ns.LookupAccount(PublicAccount)
	if err != nil {
		return fmt.Errorf("relay: the public account: %w", err)
	}
	limits := map[string]server.JetStreamAccountLimits{"": {MaxMemory: -1, MaxStore: -1, MaxStreams: 1, MaxConsumers: MaxAnonymousConsumers}}
	if public.JetStreamEnabled() {
		err = public.UpdateJetStreamLimits(limits)
	} else {
		err = public.EnableJetStream(limits, nil)
	}
	if err != nil {
		return fmt.Errorf("relay: enable jetstream for the public account: %w", err)
	}

	pub := n.PublicStream()
	deliver := n.Prefix + ".mirror"
	only := []*server.Account{public}
	for _, e := range []struct {
		service bool
		subject string
	}{
		{true, "$JS.API.CONSUMER.CREATE." + pub},
		{true, "$JS.API.CONSUMER.CREATE." + pub + ".>"},
		{true, "$JS.FC." + pub + ".>"},
		{false, deliver + ".>"},
		{false, n.PublicFilter()},
	} {
		if e.service {
			err = node.AddServiceExport(e.subject, only)
		} else {
			err = node.AddStreamExport(e.subject, only)
		}
		if err != nil {
			return fmt.Errorf("relay: export %s to the public account: %w", e.subject, err)
		}
	}
	for _, i := range []struct{ from, to string }{
		{mirrorAPI + ".CONSUMER.CREATE." + pub, "$JS.API.CONSUMER.CREATE." + pub},
		{mirrorAPI + ".CONSUMER.CREATE." + pub + ".>", "$JS.API.CONSUMER.CREATE." + pub + ".>"},
		{"$JS.FC." + pub + ".>", "$JS.FC." + pub + ".>"},
	} {
		if err := public.AddServiceImport(node, i.from, i.to); err != nil {
			return fmt.Errorf("relay: import %s into the public account: %w", i.to, err)
		}
	}
	for _, s := range []string{deliver + ".>", n.PublicFilter()} {
		if err := public.AddStreamImport(node, s, ""); err != nil {
			return fmt.Errorf("relay: import %s into the public account: %w", s, err)
		}
	}

	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(InternalUser, password), nats.CustomInboxPrefix(n.InboxPrefix()))
	if err != nil {
		return fmt.Errorf("relay: connect to the embedded server: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	if err := EnsureStreams(ctx, js, n, 1); err != nil {
		return err
	}
	pc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserInfo(PublicAdminUser, password))
	if err != nil {
		return fmt.Errorf("relay: connect to the embedded server's public account: %w", err)
	}
	defer pc.Close()
	pjs, err := jetstream.New(pc)
	if err != nil {
		return err
	}
	_, err = pjs.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:           pub,
		Description:    "Clavis events as CloudEvents, without secrets (a mirror for connections without credentials)",
		Storage:        jetstream.FileStorage,
		Retention:      jetstream.LimitsPolicy,
		ConsumerLimits: jetstream.StreamConsumerLimits{InactiveThreshold: anonymousInactiveThreshold},
		Mirror: &jetstream.StreamSource{Name: pub, External: &jetstream.ExternalStream{
			APIPrefix: mirrorAPI, DeliverPrefix: deliver,
		}},
	})
	if err != nil {
		return fmt.Errorf("relay: create the public stream's mirror: %w", err)
	}
	return nil
}
