// The search page: a TraceQL box (a trace ID typed or pasted opens that trace), time range, limit, recent
// queries, and the results newest first. The search lives in the URL hash (#/search?q=...&range=...), so
// results can be linked and the browser's back button returns to them.

import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { rememberQuery, recentQueries, search, type SearchParams, type SearchTrace, type Settings } from './api';
import { formatDuration } from '../src/trace-model';

export const RANGES: ReadonlyArray<[string, string, number]> = [
  ['15m', 'Last 15 minutes', 15 * 60],
  ['1h', 'Last hour', 3600],
  ['6h', 'Last 6 hours', 6 * 3600],
  ['24h', 'Last 24 hours', 24 * 3600],
  ['7d', 'Last 7 days', 7 * 24 * 3600],
];

/** A trace ID: 1 to 32 hex digits, and long enough not to be mistaken for a word (Tempo's IDs are 16 or 32). */
export function asTraceID(text: string): string | undefined {
  const t = text.trim();
  return /^[0-9a-fA-F]{16,32}$/.test(t) ? t.toLowerCase() : undefined;
}

export interface SearchRoute {
  q: string;
  range: string;
  limit: number;
}

interface Row {
  t: SearchTrace;
  start: bigint;
  spans: number;
  spansAreMatched: boolean;
  errors: number;
}

function summarise(t: SearchTrace, withErrors: ReadonlySet<string>): Row {
  const stats = t.serviceStats ? Object.values(t.serviceStats) : undefined;
  const sets = t.spanSets ?? (t.spanSet ? [t.spanSet] : []);
  const matched = sets.reduce((n, ss) => n + (ss.matched ?? ss.spans?.length ?? 0), 0);
  let start = 0n;
  try {
    start = BigInt(t.startTimeUnixNano);
  } catch {
    // left at 0: sorts last
  }
  return {
    t,
    start,
    spans: stats ? stats.reduce((n, s) => n + (s.spanCount ?? 0), 0) : matched,
    spansAreMatched: !stats,
    errors: stats ? stats.reduce((n, s) => n + (s.errorCount ?? 0), 0) : withErrors.has(t.traceID) ? -1 : 0,
  };
}

/**
 * The traces of the same search that have an error span: `(<query>) && { status = error }`. Used for the
 * error marks when the API gives no per-service stats (Tempo 2.3+ sends `serviceStats` with error counts).
 * A query this does not combine with (a metrics query, say) just shows no marks.
 */
async function tracesWithErrors(settings: Settings, p: SearchParams): Promise<Set<string>> {
  try {
    const traces = await search(settings, { ...p, q: `(${p.q}) && { status = error }` });
    return new Set(traces.map((t) => t.traceID));
  } catch {
    return new Set();
  }
}

function startText(ns: bigint): string {
  const d = new Date(Number(ns / 1_000_000n));
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString()}`;
}

export function SearchPage(props: { settings: Settings; route: SearchRoute; go: (hash: string) => void }) {
  const { settings, route, go } = props;
  const [text, setText] = useState(route.q);
  const [range, setRange] = useState(route.range);
  const [limit, setLimit] = useState(route.limit);
  const [recent, setRecent] = useState(recentQueries);
  const [rows, setRows] = useState<Row[] | undefined>(undefined);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  // The form follows the URL when it changes (back, forward, a link), synchronously with the render: a
  // plain effect runs a frame later and would wipe what the user typed into the new page meanwhile.
  useLayoutEffect(() => {
    setText(route.q);
    setRange(route.range);
    setLimit(route.limit);
  }, [route.q, route.range, route.limit]);

  useEffect(() => {
    if (!route.q) return;
    let live = true;
    const seconds = RANGES.find((r) => r[0] === route.range)?.[2] ?? 3600;
    const end = Math.ceil(Date.now() / 1000);
    setBusy(true);
    setError('');
    const params: SearchParams = { q: route.q, start: end - seconds, end, limit: route.limit };
    Promise.all([search(settings, params), tracesWithErrors(settings, params)]).then(
      ([traces, withErrors]) => {
        if (!live) return;
        setRows(traces.map((t) => summarise(t, withErrors)).sort((a, b) => (a.start === b.start ? 0 : a.start > b.start ? -1 : 1)));
        setBusy(false);
      },
      (e: unknown) => {
        if (!live) return;
        setRows(undefined);
        setError(e instanceof Error ? e.message : String(e));
        setBusy(false);
      },
    );
    return () => {
      live = false;
    };
  }, [route.q, route.range, route.limit, settings.apiUrl, settings.orgId]);

  const run = (q: string): void => {
    const id = asTraceID(q);
    if (id) return go(`#/trace/${id}`);
    if (!q.trim()) return;
    setRecent(rememberQuery(q.trim()));
    go(`#/search?${new URLSearchParams({ q: q.trim(), range, limit: String(limit) }).toString()}`);
  };

  return (
    <div class="search-page">
      <form
        class="search-form"
        onSubmit={(e) => {
          e.preventDefault();
          run(text);
        }}
      >
        <input
          class="query"
          name="q"
          aria-label="TraceQL query or trace ID"
          placeholder='TraceQL, e.g. { resource.service.name = "shop" && status = error }, or a trace ID'
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          autoFocus
          spellcheck={false}
        />
        <select name="range" aria-label="Time range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
          {RANGES.map(([v, label]) => (
            <option value={v}>{label}</option>
          ))}
        </select>
        <label class="limit">
          Limit
          <input name="limit" type="number" min={1} max={10000} value={limit} onInput={(e) => setLimit(Math.max(1, Number(e.currentTarget.value) || 20))} />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'Searching…' : 'Search'}
        </button>
      </form>
      {recent.length > 0 && (
        <div class="recent">
          <span class="muted">Recent:</span>
          {recent.map((q) => (
            <button type="button" class="chip" title={q} onClick={() => run(q)}>
              {q}
            </button>
          ))}
        </div>
      )}
      {error && <div class="error-box">{error}</div>}
      {rows && (
        <table class="results">
          <thead>
            <tr>
              <th>Trace</th>
              <th>Root service</th>
              <th>Root name</th>
              <th>Start</th>
              <th class="num">Duration</th>
              <th class="num" title={rows.some((r) => r.spansAreMatched) ? 'spans matched by the query (the API gave no span counts)' : 'spans in the trace'}>
                Spans
              </th>
              <th>Errors</th>
            </tr>
          </thead>
          <tbody>
            {rows.length === 0 && (
              <tr>
                <td colSpan={7} class="muted">
                  No traces found in this time range.
                </td>
              </tr>
            )}
            {rows.map((r) => (
              <tr class="result" data-trace-id={r.t.traceID} onClick={() => go(`#/trace/${r.t.traceID}`)}>
                <td>
                  <a href={`#/trace/${r.t.traceID}`} class="mono">
                    {r.t.traceID.slice(0, 16)}
                  </a>
                </td>
                <td>{r.t.rootServiceName ?? <span class="muted">&lt;root span not yet received&gt;</span>}</td>
                <td>{r.t.rootTraceName ?? ''}</td>
                <td>{startText(r.start)}</td>
                <td class="num">{r.t.durationMs !== undefined ? formatDuration(r.t.durationMs * 1e6) : '< 1 ms'}</td>
                <td class="num">{r.spansAreMatched ? `${r.spans} matched` : r.spans}</td>
                <td>
                  {r.errors !== 0 && (
                    <span class="err-mark" title="the trace has spans with status error">
                      ● {r.errors > 0 ? r.errors : 'error'}
                    </span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
