// The trace view: header (root, duration, span and error counts, services), search inside the trace
// (name, service, attribute keys and values; matches highlighted, next/previous opens the path to each),
// the waterfall, and the selected span's details (attributes, resource, events, links).

import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, traceByID, type Settings } from './api';
import { formatDuration, haystack, parseTrace, visibleRows, type Attr, type Span, type Trace } from '../src/trace-model';
import { serviceColour, Waterfall } from './waterfall';

function AttrTable(props: { title: string; attrs: Attr[]; testId: string }) {
  return (
    <section class="attrs" data-testid={props.testId}>
      <h4>
        {props.title} <span class="muted">({props.attrs.length})</span>
      </h4>
      {props.attrs.length > 0 && (
        <table>
          <tbody>
            {props.attrs.map((a) => (
              <tr>
                <td class="key">{a.key}</td>
                <td class="val">{a.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** An event's or a link's attributes, one per line under it. */
function SubAttrs(props: { attrs: Attr[] }) {
  return (
    <>
      {props.attrs.map((a) => (
        <div class="sub">
          <span class="key">{a.key}</span> = {a.value}
        </div>
      ))}
    </>
  );
}

function SpanDetails(props: { trace: Trace; span: Span; onClose: () => void; onOpen: (s: Span) => void }) {
  const { span: s, trace } = props;
  return (
    <aside class="details" data-testid="span-details" data-span-id={s.id}>
      <header>
        <span class="swatch" style={{ background: serviceColour(trace, s.service) }} />
        <h3 title={s.name}>{s.name}</h3>
        <button type="button" class="close" aria-label="Close details" onClick={props.onClose}>
          ×
        </button>
      </header>
      <dl class="facts">
        <dt>Service</dt>
        <dd>{s.service}</dd>
        <dt>Span ID</dt>
        <dd class="mono">{s.id}</dd>
        <dt>Parent</dt>
        <dd class="mono">{s.parent ? <a onClick={() => props.onOpen(s.parent!)}>{s.parentId}</a> : s.parentId || '(root)'}</dd>
        <dt>Kind</dt>
        <dd>{s.kind}</dd>
        <dt>Start</dt>
        <dd>+{formatDuration(s.startNs)}</dd>
        <dt>Duration</dt>
        <dd data-testid="detail-duration">{formatDuration(s.durationNs)}</dd>
        <dt>Status</dt>
        <dd class={s.error ? 'err' : ''}>{s.error ? `error${s.statusMessage ? `: ${s.statusMessage}` : ''}` : 'ok / unset'}</dd>
        {s.scope && (
          <>
            <dt>Scope</dt>
            <dd>{s.scope}</dd>
          </>
        )}
      </dl>
      <AttrTable title="Attributes" attrs={s.attributes} testId="span-attributes" />
      <AttrTable title="Resource" attrs={s.resource} testId="resource-attributes" />
      <section class="attrs" data-testid="span-events">
        <h4>
          Events <span class="muted">({s.events.length})</span>
        </h4>
        {s.events.map((e) => (
          <div class="event">
            <div>
              <span class="muted">+{formatDuration(e.offsetNs)}</span> {e.name}
            </div>
            <SubAttrs attrs={e.attributes} />
          </div>
        ))}
      </section>
      <section class="attrs" data-testid="span-links">
        <h4>
          Links <span class="muted">({s.links.length})</span>
        </h4>
        {s.links.map((l) => (
          <div class="event">
            <a class="mono" href={`#/trace/${l.traceId}`}>
              {l.traceId}
            </a>{' '}
            <span class="mono muted">{l.spanId}</span>
            <SubAttrs attrs={l.attributes} />
          </div>
        ))}
      </section>
    </aside>
  );
}

export function TracePage(props: { settings: Settings; id: string }) {
  const { settings, id } = props;
  const [trace, setTrace] = useState<Trace | undefined>(undefined);
  const [error, setError] = useState('');
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [selected, setSelected] = useState<Span | undefined>(undefined);
  const [find, setFind] = useState('');
  const [matchAt, setMatchAt] = useState(-1);
  const [scrollTo, setScrollTo] = useState<{ row: number } | undefined>(undefined);

  useEffect(() => {
    let live = true;
    setTrace(undefined);
    setError('');
    setSelected(undefined);
    setCollapsed(new Set());
    traceByID(settings, id).then(
      (doc) => {
        if (!live) return;
        // Marks read by bench/explorer: where the page's time goes on a big trace.
        performance.mark('stave:trace-json');
        const t = parseTrace(doc, id);
        performance.mark('stave:trace-parsed');
        if (t.spans.length === 0) setError(`trace ${id} has no spans`);
        else setTrace(t);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e instanceof ApiError && e.status === 404 ? `trace ${id} was not found` : e instanceof Error ? e.message : String(e));
      },
    );
    return () => {
      live = false;
    };
  }, [id, settings.apiUrl, settings.orgId]);

  const rows = useMemo(() => (trace ? visibleRows(trace, collapsed) : []), [trace, collapsed]);
  const matchList = useMemo(() => {
    const q = find.trim().toLowerCase();
    return trace && q ? trace.spans.filter((s) => haystack(s).includes(q)) : [];
  }, [trace, find]);
  const matches = useMemo(() => new Set(matchList), [matchList]);

  if (error) return <div class="error-box">{error}</div>;
  if (!trace) return <div class="muted loading">Loading trace {id}…</div>;

  const open = (s: Span): void => {
    // Expand every collapsed ancestor so the span has a row, then bring that row into view.
    const next = new Set(collapsed);
    for (let p = s.parent; p; p = p.parent) next.delete(p.id);
    const r = visibleRows(trace, next);
    setCollapsed(next);
    setSelected(s);
    setScrollTo({ row: r.indexOf(s) });
  };
  const step = (d: number): void => {
    if (matchList.length === 0) return;
    const i = (matchAt + d + matchList.length) % matchList.length;
    setMatchAt(i);
    open(matchList[i]!);
  };
  const root = trace.roots[0]!;
  const errors = trace.spans.reduce((n, s) => n + (s.error ? 1 : 0), 0);

  return (
    <div class={`trace-page${selected ? ' with-details' : ''}`}>
      <div class="trace-head">
        <h2>
          <span class="svc">{root.service}</span> {root.name}
        </h2>
        <div class="facts-line">
          <span class="mono" data-testid="trace-id">
            {trace.traceId}
          </span>
          <span>
            Duration <b>{formatDuration(trace.durationNs)}</b>
          </span>
          <span>
            Spans <b data-testid="span-count">{trace.spans.length}</b>
          </span>
          <span>
            Depth <b>{trace.spans.reduce((d, s) => Math.max(d, s.depth + 1), 0)}</b>
          </span>
          {errors > 0 && <span class="err-mark">● {errors === 1 ? '1 error' : `${errors} errors`}</span>}
          <span>Started {new Date(trace.startUnixMs).toLocaleString()}</span>
        </div>
        <div class="legend">
          {trace.services.map((svc) => (
            <span class="legend-item">
              <span class="swatch" style={{ background: serviceColour(trace, svc) }} />
              {svc}
            </span>
          ))}
        </div>
        <div class="trace-tools">
          <input
            class="find"
            aria-label="Find in trace"
            placeholder="Find in trace (name, service, attribute)"
            value={find}
            onInput={(e) => {
              setFind(e.currentTarget.value);
              setMatchAt(-1);
            }}
            onKeyDown={(e) => {
              if (e.key === 'Enter') step(e.shiftKey ? -1 : 1);
            }}
          />
          {find.trim() && (
            <span class="muted" data-testid="match-count">
              {matchList.length === 0 ? 'no matches' : `${matchAt >= 0 ? `${matchAt + 1} of ` : ''}${matchList.length} matches`}
            </span>
          )}
          <button type="button" onClick={() => step(-1)} disabled={matchList.length === 0}>
            ↑
          </button>
          <button type="button" onClick={() => step(1)} disabled={matchList.length === 0}>
            ↓
          </button>
          <button type="button" onClick={() => setCollapsed(new Set())}>
            Expand all
          </button>
          <button type="button" onClick={() => setCollapsed(new Set(trace.spans.filter((s) => s.depth >= 1 && s.children.length > 0).map((s) => s.id)))}>
            Collapse to depth 1
          </button>
        </div>
      </div>
      <div class="trace-body">
        <Waterfall
          trace={trace}
          rows={rows}
          collapsed={collapsed}
          selected={selected}
          matches={matches}
          scrollTo={scrollTo}
          onToggle={(s) => {
            const next = new Set(collapsed);
            if (next.has(s.id)) next.delete(s.id);
            else next.add(s.id);
            setCollapsed(next);
          }}
          onSelect={(s) => setSelected(selected === s ? undefined : s)}
        />
        {selected && <SpanDetails trace={trace} span={selected} onClose={() => setSelected(undefined)} onOpen={open} />}
      </div>
    </div>
  );
}
