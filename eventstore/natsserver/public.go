package natsserver

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/clavisiam/clavis/eventstore/subject"
)

// PublicAccount is the embedded server's account of connections without
// credentials. It has no JetStream and shares no subject with the node's
// account but the public events, which it receives live as they are
// published. So nothing the node sends or receives (its replies, the
// internal stream, the key-value buckets), nor any JetStream API, is
// within their reach, whatever inbox a tool of the node's user uses.
const PublicAccount = "PUBLIC"

// setUpPublicAccount runs once the server is ready: it gives the node's
// (global) account its JetStream back, which configuring a second account
// turns off, and lets PublicAccount receive the public events.
func setUpPublicAccount(ns *server.Server, n subject.Names) error {
	node := ns.GlobalAccount()
	if !node.JetStreamEnabled() {
		if err := node.EnableJetStream(nil, nil); err != nil {
			return fmt.Errorf("natsserver: enable jetstream for the node's account: %w", err)
		}
	}
	public, err := ns.LookupAccount(PublicAccount)
	if err != nil {
		return fmt.Errorf("natsserver: the public account: %w", err)
	}
	if err := node.AddStreamExport(n.PublicFilter(), []*server.Account{public}); err != nil {
		return fmt.Errorf("natsserver: export %s to the public account: %w", n.PublicFilter(), err)
	}
	if err := public.AddStreamImport(node, n.PublicFilter(), ""); err != nil {
		return fmt.Errorf("natsserver: import %s into the public account: %w", n.PublicFilter(), err)
	}
	return nil
}

// removePublicJetStream deletes the JetStream files of PublicAccount
// under storeDir, where nats-server keeps each account's in
// jetstream/{account}.
func removePublicJetStream(storeDir string) error {
	dir := filepath.Join(storeDir, server.JetStreamStoreDir, PublicAccount)
	if filepath.Base(storeDir) == server.JetStreamStoreDir {
		dir = filepath.Join(storeDir, PublicAccount)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("natsserver: remove the public account's old jetstream files: %w", err)
	}
	return nil
}
