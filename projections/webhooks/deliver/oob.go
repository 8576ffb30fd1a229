package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/uuid"

	"github.com/clavisiam/clavis/domain/eventtype"
	"github.com/clavisiam/clavis/eventstore"
	"github.com/clavisiam/clavis/eventstore/message"
	"github.com/clavisiam/clavis/projections/webhooks"
)

// PingType is the CloudEvent type of a test message.
const PingType = message.TypePrefix + "webhook.ping"

// public is an event as an endpoint receives it: the CloudEvent's JSON
// and its type.
type public struct {
	body []byte
	typ  string
}

// publicMessage is the body a delivery of e carries: its public
// CloudEvent, as the events API and NATS's public stream have it.
func publicMessage(e eventstore.Event) (public, error) {
	ce, err := message.PublicEvent(e)
	if err != nil {
		return public{}, err
	}
	return encode(ce)
}

func encode(ce event.Event) (public, error) {
	body, err := json.Marshal(ce)
	if err != nil {
		return public{}, fmt.Errorf("encode cloudevent %s: %w", ce.ID(), err)
	}
	return public{body: body, typ: ce.Type()}, nil
}

// Ping sends endpoint id of tenant a test message: a CloudEvent of type
// [PingType] with a fresh id, signed as deliveries are, whether the
// endpoint is active or not. The attempt is added to the delivery log
// and returned, with the ID the log gave it; a failed attempt is not an
// error. It returns an error matching webhooks.ErrNotFound when tenant
// has no such endpoint, and a [*webhooks.LimitError] past the tenant's
// on-demand limits (see [OnDemand]).
func (d *Deliverer) Ping(ctx context.Context, tenant, id string) (webhooks.Attempt, error) {
	ep, err := d.store.Endpoint(ctx, tenant, id)
	if err != nil {
		return webhooks.Attempt{}, fmt.Errorf("ping webhook: %w", err)
	}
	at := d.now()
	ce := event.New(message.SpecVersion)
	ce.SetID(uuid.Must(uuid.NewV7()).String())
	ce.SetSource("/t/" + tenant)
	ce.SetType(PingType)
	ce.SetSubject("webhooks/" + id)
	ce.SetTime(at.UTC())
	ce.SetExtension("clavistenant", tenant)
	if err := ce.SetData(event.ApplicationJSON, map[string]string{"webhook": id}); err != nil {
		return webhooks.Attempt{}, fmt.Errorf("ping webhook: %w", err)
	}
	msg, err := encode(ce)
	if err != nil {
		return webhooks.Attempt{}, fmt.Errorf("ping webhook: %w", err)
	}
	return d.once(ctx, ep, ce.ID(), "", webhooks.TriggerPing, msg)
}

// Resend sends endpoint id of tenant, once more, the tenant's event at
// cursor (an events API cursor: the event's store position), whether the
// endpoint is active or not, with the event's own webhook-id: only an
// event the endpoint's types match, as its deliveries would send. The
// attempt is added to the delivery log and returned, with the ID the log
// gave it; a failed attempt is not an error. It returns an error matching
// webhooks.ErrNotFound when
// tenant has no such endpoint, [ErrNoEvent] (which matches
// webhooks.ErrNotFound too) when it has no event at cursor or none the
// endpoint's types match, one matching webhooks.ErrInvalid for a
// malformed cursor, and a [*webhooks.LimitError] past the tenant's
// on-demand limits (see [OnDemand]).
func (d *Deliverer) Resend(ctx context.Context, tenant, id, cursor string) (webhooks.Attempt, error) {
	pos, err := eventstore.ParsePosition(cursor)
	if err != nil || pos.IsZero() {
		return webhooks.Attempt{}, fmt.Errorf("resend webhook: %w: cursor %q is not an event's cursor", webhooks.ErrInvalid, cursor)
	}
	ep, err := d.store.Endpoint(ctx, tenant, id)
	if err != nil {
		return webhooks.Attempt{}, fmt.Errorf("resend webhook: %w", err)
	}
	events, err := d.events.ReadTenant(ctx, tenant, before(pos), 1)
	if err != nil {
		return webhooks.Attempt{}, fmt.Errorf("resend webhook: read event: %w", err)
	}
	if len(events) == 0 || events[0].Position != pos {
		return webhooks.Attempt{}, fmt.Errorf("resend webhook: %w", ErrNoEvent)
	}
	e := events[0]
	// An event the endpoint's types do not match is one its deliveries
	// never send: as if there were none.
	if filter, err := eventtype.Parse(ep.State.Settings.Types); err == nil && !filter.Match(e.Type) {
		return webhooks.Attempt{}, fmt.Errorf("resend webhook: %w", ErrNoEvent)
	}
	msg, err := publicMessage(e)
	if err != nil {
		// Not an event with a public form: deliveries skip it too.
		return webhooks.Attempt{}, fmt.Errorf("resend webhook: %w (%v)", ErrNoEvent, err)
	}
	return d.once(ctx, ep, e.ID, cursor, webhooks.TriggerResend, msg)
}

// before is the position just before p: nothing lies between them.
func before(p eventstore.Position) eventstore.Position {
	if p.Seq > 0 {
		return eventstore.Position{Commit: p.Commit, Seq: p.Seq - 1}
	}
	return eventstore.Position{Commit: p.Commit - 1, Seq: math.MaxInt64}
}

// once sends msg to ep outside its deliveries and logs the attempt.
func (d *Deliverer) once(ctx context.Context, ep webhooks.Endpoint, messageID, cursor string, trigger webhooks.Trigger, msg public) (webhooks.Attempt, error) {
	release, err := d.limits.acquire(ep.Tenant)
	if err != nil {
		return webhooks.Attempt{}, err
	}
	defer release()
	at := d.now()
	a := webhooks.Attempt{Tenant: ep.Tenant, Webhook: ep.State.ID, MessageID: messageID, EventType: msg.typ, Cursor: cursor, Trigger: trigger, At: at}
	keys, err := openKeys(d.secrets, nil, ep, at)
	if err != nil {
		d.log.Error("could not open a webhook signing secret", "tenant", ep.Tenant, "webhook", ep.State.ID, "error", err)
		a.Error = "the endpoint's signing secret could not be opened"
	} else {
		r := d.oob.send(ctx, outgoing{URL: ep.State.Settings.URL, ID: messageID, At: at, Body: msg.body, Keys: keys})
		a.Status, a.Latency, a.Error = r.Status, r.Latency, r.Error
	}
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ids, err := d.store.Log(lctx, []webhooks.Attempt{a})
	if err != nil {
		return a, fmt.Errorf("log webhook attempt: %w", err)
	}
	a.ID = ids[0]
	return a, nil
}

// bodyCacheSize is how many events' bodies the deliverer keeps: the
// endpoints of one tenant deliver the same events at about the same
// time, and each body is written once for all of them.
const bodyCacheSize = 4096

// bodies keeps the public form of the events delivered last, so that
// endpoints that deliver the same event share its encoding.
type bodies struct {
	mu    sync.Mutex
	max   int
	m     map[string]public
	order []string // ring of the keys, oldest at next
	next  int
}

func newBodies(n int) *bodies { return &bodies{max: n, m: make(map[string]public, n)} }

// get returns the public form of e, from the cache or made now.
func (b *bodies) get(e eventstore.Event) (public, error) {
	b.mu.Lock()
	p, ok := b.m[e.ID]
	b.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := publicMessage(e)
	if err != nil {
		return public{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[e.ID]; ok {
		return p, nil
	}
	if len(b.order) < b.max {
		b.order = append(b.order, e.ID)
	} else {
		delete(b.m, b.order[b.next])
		b.order[b.next] = e.ID
		b.next = (b.next + 1) % b.max
	}
	b.m[e.ID] = p
	return p, nil
}
