// `stave query trace <id>` and `stave query search '<traceql>'`: the public HTTP API of Stave or any
// Tempo-compatible backend (`--api <url>`), read as Grafana would. `--output json` prints exactly the
// data the API answered (the body re-indented); `--output table` (the default) a span tree or a result
// table. Nothing here reaches past the HTTP API.

import { formatDuration, parseTrace, visibleRows, type TraceJson } from './trace-model';
import { outputFormat, parseCommandArgs, table, UsageError, type CommandIO } from './terminal';

export const QUERY_USAGE = `Usage:
  stave query trace <trace-id> --api <url> [--org-id <tenant>] [--start <time>] [--end <time>] [--output json|table]
  stave query search '<traceql>' --api <url> [--org-id <tenant>] [--start <time>] [--end <time>] [--limit <n>] [--output json|table]

  --api        base URL of a Tempo-compatible HTTP API, e.g. http://localhost:3200 (with any http_api_prefix)
  --org-id     tenant, sent as X-Scope-OrgID (needed when multitenancy_enabled)
  --start/end  unix seconds, RFC3339 (2026-01-02T15:04:05Z), or a duration ago (15m, 1h, 7d); "now"
  --limit      most traces to return (the API's default_result_limit when absent)
  --output     table (default) or json: the API's answer, unchanged but indented
  --timeout    seconds to wait for the API (default 60)
`;

const VALUED = new Set(['api', 'org-id', 'start', 'end', 'limit', 'output', 'o', 'timeout']);

/** Unix seconds from `1700000000`, `2026-01-02T15:04:05Z`, `now` or `1h` (one hour ago). */
export function parseTime(flag: string, v: string, nowMs = Date.now()): number {
  if (v === 'now') return Math.floor(nowMs / 1000);
  if (/^\d+$/.test(v)) return Number(v);
  const rel = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(v);
  if (rel) return Math.floor(nowMs / 1000 - Number(rel[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[rel[2] as 's' | 'm' | 'h' | 'd']);
  const t = Date.parse(v);
  if (/^\d{4}-\d\d-\d\d/.test(v) && Number.isFinite(t)) return Math.floor(t / 1000);
  throw new UsageError(`--${flag}: "${v}" is not unix seconds, an RFC3339 time, "now" or a duration like 1h`);
}

export interface ApiAnswer {
  status: number;
  body: string;
}

/** One GET against the API with a deadline; the tenant header when given. */
export async function apiGet(api: string, path: string, orgId: string | undefined, timeoutMs: number): Promise<ApiAnswer> {
  const url = `${api.replace(/\/$/, '')}${path}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (orgId) headers['X-Scope-OrgID'] = orgId;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const why =
      e instanceof Error && e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : e instanceof Error
          ? ((e.cause as Error | undefined)?.message ?? e.message)
          : String(e);
    throw new ApiFailure(`GET ${url}: ${why}`);
  }
  return { status: res.status, body: await res.text() };
}

export class ApiFailure extends Error {}

function traceTable(doc: TraceJson, id: string): string {
  const trace = parseTrace(doc, id);
  if (trace.spans.length === 0) return `trace ${id}: no spans\n`;
  const rows = visibleRows(trace, new Set()).map((s) => [
    s.id,
    s.service,
    `${'  '.repeat(s.depth)}${s.name}`,
    `+${formatDuration(s.startNs)}`,
    formatDuration(s.durationNs),
    s.error ? `error${s.statusMessage ? `: ${s.statusMessage}` : ''}` : '',
  ]);
  const errors = trace.spans.filter((s) => s.error).length;
  const head = `trace ${trace.traceId}: ${trace.spans.length} spans, ${trace.services.length} services, ${formatDuration(trace.durationNs)}${errors ? `, ${errors} errors` : ''}\n`;
  return head + table(['span id', 'service', 'name', 'start', 'duration', 'status'], rows, new Set([3, 4]));
}

interface SearchBody {
  traces?: Array<{
    traceID: string;
    rootServiceName?: string;
    rootTraceName?: string;
    startTimeUnixNano?: string;
    durationMs?: number;
    spanSets?: Array<{ matched?: number }>;
  }>;
  metrics?: { inspectedTraces?: number; inspectedBytes?: string; completedJobs?: number; totalJobs?: number };
}

function searchTable(body: SearchBody): string {
  const traces = [...(body.traces ?? [])].sort((a, b) => {
    const x = BigInt(a.startTimeUnixNano ?? '0');
    const y = BigInt(b.startTimeUnixNano ?? '0');
    return x === y ? 0 : x > y ? -1 : 1;
  });
  const rows = traces.map((t) => [
    t.traceID,
    t.rootServiceName ?? '<root span not yet received>',
    t.rootTraceName ?? '',
    new Date(Number(BigInt(t.startTimeUnixNano ?? '0') / 1_000_000n)).toISOString(),
    t.durationMs !== undefined ? formatDuration(t.durationMs * 1e6) : '<1 ms',
    String((t.spanSets ?? []).reduce((n, ss) => n + (ss.matched ?? 0), 0)),
  ]);
  const m = body.metrics ?? {};
  const foot = `${traces.length} traces (inspected ${m.inspectedTraces ?? 0} traces, ${m.inspectedBytes ?? 0} bytes)\n`;
  return table(['trace id', 'root service', 'root name', 'start', 'duration', 'matched'], rows, new Set([4, 5])) + foot;
}

/** Runs `stave query ...` (argv after `query`); resolves with the exit code: 0 ok, 1 API error, 2 usage. */
export async function runQueryCommand(argv: readonly string[], io: CommandIO): Promise<number> {
  try {
    const { flags, positional } = parseCommandArgs(argv, VALUED);
    if (flags.has('help') || flags.has('h') || positional.length === 0) {
      io.out(QUERY_USAGE);
      return positional.length === 0 && !flags.has('help') && !flags.has('h') ? 2 : 0;
    }
    const [what, arg, ...extra] = positional;
    if (what !== 'trace' && what !== 'search') throw new UsageError(`unknown query "${what}": use trace or search`);
    if (arg === undefined) throw new UsageError(what === 'trace' ? 'stave query trace needs a trace ID' : 'stave query search needs a TraceQL query');
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}" (quote the TraceQL query)`);
    const api = flags.get('api');
    if (!api) throw new UsageError('--api <url> is required, e.g. --api http://localhost:3200');
    if (!/^https?:\/\//.test(api)) throw new UsageError(`--api must be an http:// or https:// URL, not "${api}"`);
    const output = outputFormat(flags);
    const timeoutMs = flags.has('timeout') ? Number(flags.get('timeout')) * 1000 : 60_000;
    if (!(timeoutMs > 0)) throw new UsageError(`--timeout must be a positive number of seconds`);
    const params = new URLSearchParams();
    if (flags.has('start')) params.set('start', String(parseTime('start', flags.get('start')!)));
    if (flags.has('end')) params.set('end', String(parseTime('end', flags.get('end')!)));

    let path: string;
    if (what === 'trace') {
      if (!/^[0-9a-fA-F]{1,32}$/.test(arg)) throw new UsageError(`"${arg}" is not a trace ID (1 to 32 hex digits)`);
      if (flags.has('limit')) throw new UsageError('--limit applies to search only');
      path = `/api/v2/traces/${arg}`;
    } else {
      params.set('q', arg);
      if (flags.has('limit')) {
        const limit = flags.get('limit')!;
        if (!/^\d+$/.test(limit) || Number(limit) < 1) throw new UsageError(`--limit must be a positive whole number, not "${limit}"`);
        params.set('limit', limit);
      }
      path = '/api/search';
    }
    const qs = params.toString();
    const answer = await apiGet(api, qs ? `${path}?${qs}` : path, flags.get('org-id'), timeoutMs);
    if (answer.status !== 200) {
      io.err(`${answer.status === 404 && what === 'trace' ? `trace ${arg} not found` : `the API answered ${answer.status}`}: ${answer.body.trim()}\n`);
      return 1;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(answer.body);
    } catch {
      io.err(`the API answered ${path} with a body that is not JSON\n`);
      return 1;
    }
    if (output === 'json') io.out(JSON.stringify(doc, null, 2) + '\n');
    else io.out(what === 'trace' ? traceTable(doc as TraceJson, arg.toLowerCase()) : searchTable(doc as SearchBody));
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`${e.message}\n\n${QUERY_USAGE}`);
      return 2;
    }
    if (e instanceof ApiFailure) {
      io.err(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
