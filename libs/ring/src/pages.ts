// Status pages, as functions from a page request to a page response (no HTTP server here: the process
// mounts them with @stave/server's `pageHandler`, which reads the form and writes the response):
//
//   ringPage        GET: Tempo's ring page — an HTML table, or with `Accept: application/json`
//                   {"shards":[{"id","state","address","timestamp","registered_timestamp","zone",
//                   "tokens"}],"now"} where an instance whose heartbeat is older than the ring's
//                   heartbeat_timeout shows state UNHEALTHY. POST (form field `forget=<id>`) forgets
//                   an unhealthy instance and redirects back (post/redirect/get, as dskit).
//   memberlistPage  GET: the gossip members and their state, and the KV keys (HTML or JSON).
//
// Every string on these pages came from the network (instance IDs, addresses, zones): all of it is escaped.

import type { PageRequest, PageResponse, StatusPage } from '@stave/core';
import type { Ring } from './kv-ring';
import type { MemberlistKV } from './memberlist-kv';
import { hostPort } from './memberlist-addr';

export interface RingPageOptions {
  /** Page heading, e.g. "Ingester ring". */
  title?: string;
  now?: () => number;
}

/** Go's time.Time JSON form (RFC 3339 with trailing zeros of the fraction dropped); 0 is Go's zero time. */
export function goTime(ms: number): string {
  if (ms <= 0) return '0001-01-01T00:00:00Z';
  return new Date(ms).toISOString().replace(/\.?0+Z$/, 'Z');
}

function wantsJson(req: PageRequest): boolean {
  return req.accept.includes('application/json');
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const html = (body: string): PageResponse => ({ status: 200, contentType: 'text/html; charset=utf-8', body });
const json = (body: unknown): PageResponse => ({ status: 200, contentType: 'application/json', body: JSON.stringify(body) });
const text = (status: number, body: string): PageResponse => ({ status, contentType: 'text/plain; charset=utf-8', body });

const STYLE =
  '<style>body{font-family:sans-serif;margin:1em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}tr.unhealthy{background:#fdd}</style>';

export function ringPage(ring: Ring, opts: RingPageOptions = {}): StatusPage {
  const now = opts.now ?? Date.now;
  const title = opts.title ?? 'Ring';
  return async (req) => {
    if (req.method === 'POST') {
      const id = req.form.get('forget') ?? '';
      const inst = ring.desc().get(id);
      if (id === '' || !inst || inst.state === 'LEFT') return text(404, `instance "${id}" is not in the ring\n`);
      if (ring.isHealthy(inst, 'reporting', now())) return text(400, `instance "${id}" is healthy; only unhealthy instances can be forgotten\n`);
      await ring.forget(id);
      return { ...text(302, ''), location: '#' };
    }
    const t = now();
    const owned = ring.ownership();
    const shards = ring.instances().map((i) => ({
      id: i.id,
      state: ring.isHealthy(i, 'reporting', t) ? i.state : 'UNHEALTHY',
      address: i.addr,
      timestamp: goTime(i.timestamp),
      registered_timestamp: goTime(i.registeredTimestamp),
      zone: i.zone,
      tokens: [...i.tokens],
    }));
    if (wantsJson(req)) return json({ shards, now: goTime(t) });
    const showTokens = req.query.get('tokens') === 'true';
    const rows = shards
      .map((s) => {
        const forget =
          s.state === 'UNHEALTHY'
            ? `<form method="POST"><input type="hidden" name="forget" value="${esc(s.id)}"><button type="submit">Forget</button></form>`
            : '';
        const pct = ((owned.get(s.id) ?? 0) * 100).toFixed(2);
        return `<tr class="${s.state === 'UNHEALTHY' ? 'unhealthy' : ''}"><td>${esc(s.id)}</td><td>${esc(s.zone)}</td><td>${esc(s.state)}</td><td>${esc(s.address)}</td><td>${esc(s.registered_timestamp)}</td><td>${esc(s.timestamp)}</td><td>${s.tokens.length}</td><td>${pct}%</td><td>${forget}</td></tr>`;
      })
      .join('\n');
    const tokens = showTokens
      ? shards.map((s) => `<h3>${esc(s.id)}</h3><p>${s.tokens.join(' ')}</p>`).join('\n')
      : '<p><a href="?tokens=true">Show tokens</a></p>';
    return html(
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title>${STYLE}</head><body><h1>${esc(title)}</h1><p>Current time: ${esc(goTime(t))}</p>` +
        `<table><thead><tr><th>Instance ID</th><th>Availability Zone</th><th>State</th><th>Address</th><th>Registered At</th><th>Last Heartbeat</th><th>Tokens</th><th>Ownership</th><th>Actions</th></tr></thead><tbody>\n${rows}\n</tbody></table>${tokens}</body></html>`,
    );
  };
}

export function memberlistPage(kv: MemberlistKV, opts: { now?: () => number } = {}): StatusPage {
  const now = opts.now ?? Date.now;
  return (req) => {
    const members = kv
      .members()
      .map((m) => ({ name: m.name, address: hostPort(m.addr, m.port), state: m.state, incarnation: m.incarnation, state_change: goTime(m.stateChange) }));
    const keys = kv.kvSummaries().map((k) => ({ key: k.key, codec: k.codec, version: k.version, encoded_bytes: k.encodedBytes }));
    const self = kv.state === 'Running' ? { name: kv.memberlist.name, address: kv.memberlist.localAddress() } : { name: kv.memberlist.name, address: '' };
    const stats = kv.memberlist.stats();
    if (wantsJson(req)) return json({ node: self, members, keys, dropped: stats.dropped, now: goTime(now()) });
    const memberRows = members
      .map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.address)}</td><td>${esc(m.state)}</td><td>${m.incarnation}</td><td>${esc(m.state_change)}</td></tr>`)
      .join('\n');
    const keyRows = keys.map((k) => `<tr><td>${esc(k.key)}</td><td>${esc(k.codec)}</td><td>${k.version}</td><td>${k.encoded_bytes}</td></tr>`).join('\n');
    const dropped = Object.entries(stats.dropped)
      .map(([r, n]) => `${esc(r)}: ${n}`)
      .join(', ');
    return html(
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Memberlist</title>${STYLE}</head><body><h1>Memberlist</h1>` +
        `<p>This node: ${esc(self.name)} at ${esc(self.address)}. Dropped messages: ${dropped}.</p>` +
        `<h2>Members</h2><table><thead><tr><th>Name</th><th>Address</th><th>State</th><th>Incarnation</th><th>State changed</th></tr></thead><tbody>\n${memberRows}\n</tbody></table>` +
        `<h2>KV store</h2><table><thead><tr><th>Key</th><th>Codec</th><th>Version</th><th>Size (bytes)</th></tr></thead><tbody>\n${keyRows}\n</tbody></table></body></html>`,
    );
  };
}
