// The waterfall: one row per visible span (name column indented by depth, a bar on the trace's time axis),
// virtualised — only the rows in the viewport (plus a margin) are in the DOM, so a 20,000-span trace costs
// what a screenful does. Rows have a fixed height; the scroll area's height stands for the rest.

import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { formatDuration, type Span, type Trace } from '../src/trace-model';

export const ROW_HEIGHT = 24;
const OVERSCAN = 12;

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#9c755f', '#ff9da7', '#86bcb6', '#8cd17d', '#a0cbe8', '#d4a6c8'];

export function serviceColour(trace: Trace, service: string): string {
  return PALETTE[Math.max(0, trace.services.indexOf(service)) % PALETTE.length]!;
}

function TimeAxis(props: { durationNs: number }) {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div class="wf-axis">
      <div class="wf-name-col">Service &amp; operation</div>
      <div class="wf-time-col">
        {ticks.map((f) => (
          <span class="tick" style={{ left: `${f * 100}%` }}>
            {formatDuration(props.durationNs * f)}
          </span>
        ))}
      </div>
    </div>
  );
}

export interface WaterfallProps {
  trace: Trace;
  rows: Span[];
  collapsed: ReadonlySet<string>;
  selected: Span | undefined;
  matches: ReadonlySet<Span>;
  /** Set to a row index to bring it into view (changes each time). */
  scrollTo: { row: number } | undefined;
  onToggle: (s: Span) => void;
  onSelect: (s: Span) => void;
}

export function Waterfall(props: WaterfallProps) {
  const { trace, rows, collapsed, selected, matches } = props;
  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(800);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    setHeight(el.clientHeight || 800);
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 800));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el || !props.scrollTo) return;
    const top = props.scrollTo.row * ROW_HEIGHT;
    if (top < el.scrollTop || top + ROW_HEIGHT > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.max(0, top - el.clientHeight / 3);
      setScrollTop(el.scrollTop);
    }
  }, [props.scrollTo]);

  const total = Math.max(trace.durationNs, 1);
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const shown = rows.slice(first, last);

  return (
    <div class="waterfall">
      <TimeAxis durationNs={trace.durationNs} />
      <div class="wf-scroll" ref={scroller} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)} data-rows={rows.length}>
        <div class="wf-canvas" style={{ height: `${rows.length * ROW_HEIGHT}px` }}>
          {shown.map((s, i) => {
            const colour = serviceColour(trace, s.service);
            const left = (s.startNs / total) * 100;
            const width = (s.durationNs / total) * 100;
            // The duration goes right of the bar, or left of it when the bar ends near the edge, or inside
            // it when the bar spans nearly the whole axis.
            const place = left + width <= 85 ? 'right' : left >= 12 ? 'left' : 'inside';
            const labelStyle =
              place === 'right' ? { left: `${left + width}%` } : place === 'left' ? { right: `${100 - left}%` } : { right: `${100 - left - width}%` };
            return (
              <div
                key={s.index}
                class={`wf-row${selected === s ? ' selected' : ''}${matches.has(s) ? ' match' : ''}${s.error ? ' error' : ''}`}
                style={{ top: `${(first + i) * ROW_HEIGHT}px` }}
                data-span-id={s.id}
                data-depth={s.depth}
                data-duration-ns={s.durationNs}
                data-parent-id={s.parentId}
                onClick={() => props.onSelect(s)}
              >
                <div class="wf-name-col" style={{ paddingLeft: `${4 + s.depth * 14}px` }}>
                  {s.children.length > 0 ? (
                    <button
                      type="button"
                      class="toggle"
                      aria-label={collapsed.has(s.id) ? 'Expand' : 'Collapse'}
                      onClick={(e) => {
                        e.stopPropagation();
                        props.onToggle(s);
                      }}
                    >
                      {collapsed.has(s.id) ? '▸' : '▾'}
                      {collapsed.has(s.id) && <span class="hidden-count">{s.children.length}</span>}
                    </button>
                  ) : (
                    <span class="toggle-space" />
                  )}
                  <span class="swatch" style={{ background: colour }} />
                  <span class="svc">{s.service}</span>
                  <span class="op" title={s.name}>
                    {s.name}
                  </span>
                  {s.error && (
                    <span class="err-mark" title={s.statusMessage || 'status: error'}>
                      ●
                    </span>
                  )}
                </div>
                <div class="wf-time-col">
                  <div class="bar" style={{ left: `${left}%`, width: `max(${width}%, 1px)`, background: colour }} />
                  <span class={`dur ${place}`} style={labelStyle}>
                    {formatDuration(s.durationNs)}
                  </span>
                </div>
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
