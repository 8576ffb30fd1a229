// Follows a Clavis events stream with the eventsource package's
// EventSource, as a browser would: the token in the URL's access_token,
// no header of its own. It prints one JSON line per open, error and
// event until it is killed. Usage: node eventsource-follow.cjs URL TYPES
// (TYPES: the CloudEvent types to listen for, comma-separated).
'use strict';
const { EventSource } = require('eventsource');

const [url, types] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const es = new EventSource(url);
es.onopen = () => out({ kind: 'open' });
es.onerror = (e) => out({ kind: 'error', code: e.code ?? null, message: e.message ?? '', state: es.readyState });
es.onmessage = (e) => out({ kind: 'message', id: e.lastEventId, data: e.data });
for (const t of (types || '').split(',').filter(Boolean)) {
  es.addEventListener(t, (e) => out({ kind: 'event', type: e.type, id: e.lastEventId, data: e.data }));
}
// The package's reconnection timer does not keep node running (it is
// unref'd, as a browser tab would not need it to): this does, until the
// test kills the process.
setInterval(() => {}, 1 << 30);
