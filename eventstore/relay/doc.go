// Package relay carries committed events from the event store to NATS
// JetStream, in store order, at least once, and never reordered.
//
// Two streams receive every event. The internal stream ({PREFIX}_INTERNAL,
// subjects {prefix}.internal.{tenant}.{aggregate}.{event}) carries the
// whole envelope, secret hashes included, for Clavis's own projections; the
// public stream ({PREFIX}_EVENTS, subjects
// {prefix}.events.{tenant}.{aggregate}.{event}) carries CloudEvents 1.0 with
// every secret removed, for downstream subscribers.
//
// The relay keeps no checkpoint of its own: each stream's last message
// names the store position it carries, so the streams themselves are the
// durable checkpoint. Every publish states the stream sequence it expects
// to follow (Nats-Expected-Last-Sequence), so a message can never land
// after one it should precede: if a publish fails, the ones pipelined
// behind it fail too, and the relay resumes from what the stream holds.
// The same check makes several relays safe at once — a second relay's
// publish is refused, never duplicated or reordered — and a lease in a
// JetStream key-value bucket keeps all but one of them idle.
//
// The relay is the public stream's one writer: a message of anyone
// else's there would take the sequence one of its pipelined publishes
// expects. What else belongs on that stream (the audit log's signed
// checkpoints) it publishes itself, between events ([WithAnnouncer]).
//
// The relay only relays: the names of streams and subjects come from
// package subject, the form of each message from package message, and the
// embedded NATS server of the default setup from package natsserver.
package relay
