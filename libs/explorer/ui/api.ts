// The pages talk to Tempo's public HTTP API (/api/search and /api/v2/traces/<id>), and the service-graph
// page to Stave's /api/explorer/service-graph. The API's base URL
// defaults to the serving process (with its http_api_prefix) and can point at any Tempo-compatible
// backend; the tenant (X-Scope-OrgID) is optional. Both are kept in localStorage.

import type { ServiceGraphJson } from '../src/service-graph';
import type { TraceJson } from '../src/trace-model';

export interface Settings {
  /** '' means the serving process. */
  apiUrl: string;
  orgId: string;
}

const SETTINGS_KEY = 'stave.explorer.settings';
const RECENT_KEY = 'stave.explorer.recentQueries';
const RECENT_MAX = 10;

function servedPrefix(): string {
  const meta = document.querySelector('meta[name="stave-api-prefix"]');
  const v = meta?.getAttribute('content') ?? '';
  return v === '__STAVE_API_PREFIX__' ? '' : v;
}

export function loadSettings(): Settings {
  try {
    const s = JSON.parse(localStorage.getItem(SETTINGS_KEY) ?? '{}') as Partial<Settings>;
    return { apiUrl: typeof s.apiUrl === 'string' ? s.apiUrl : '', orgId: typeof s.orgId === 'string' ? s.orgId : '' };
  } catch {
    return { apiUrl: '', orgId: '' };
  }
}

export function saveSettings(s: Settings): void {
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(s));
}

export function recentQueries(): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((q): q is string => typeof q === 'string').slice(0, RECENT_MAX) : [];
  } catch {
    return [];
  }
}

export function rememberQuery(q: string): string[] {
  const list = [q, ...recentQueries().filter((x) => x !== q)].slice(0, RECENT_MAX);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
  return list;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function get(settings: Settings, path: string): Promise<unknown> {
  const base = (settings.apiUrl || servedPrefix()).replace(/\/$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (settings.orgId) headers['X-Scope-OrgID'] = settings.orgId;
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  performance.mark('stave:api-body');
  if (!res.ok) throw new ApiError(res.status, `${res.status} ${res.statusText}: ${text.trim() || 'no message'}`);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(res.status, `the API answered ${path} with a body that is not JSON`);
  }
}

export interface SearchSpan {
  spanID: string;
  name?: string;
  startTimeUnixNano: string;
  durationNanos: string;
  attributes?: Array<{ key: string; value?: { stringValue?: string } }>;
}

export interface SearchTrace {
  traceID: string;
  rootServiceName?: string;
  rootTraceName?: string;
  startTimeUnixNano: string;
  durationMs?: number;
  spanSets?: Array<{ spans?: SearchSpan[]; matched?: number }>;
  spanSet?: { spans?: SearchSpan[]; matched?: number };
  /** Tempo 2.3+: spans and errors per service of the whole trace. */
  serviceStats?: Record<string, { spanCount?: number; errorCount?: number }>;
}

export interface SearchParams {
  q: string;
  /** Unix seconds. */
  start: number;
  end: number;
  limit: number;
}

export async function search(settings: Settings, p: SearchParams): Promise<SearchTrace[]> {
  const qs = new URLSearchParams({ q: p.q, start: String(p.start), end: String(p.end), limit: String(p.limit) });
  const body = (await get(settings, `/api/search?${qs.toString()}`)) as { traces?: SearchTrace[] };
  return body.traces ?? [];
}

export async function traceByID(settings: Settings, id: string): Promise<TraceJson> {
  return (await get(settings, `/api/v2/traces/${encodeURIComponent(id)}`)) as TraceJson;
}

/**
 * The service graph of the metrics-generators (Stave's own `/api/explorer/service-graph`; a Tempo
 * without it answers 404, and the page says so).
 */
export async function serviceGraph(settings: Settings): Promise<ServiceGraphJson> {
  return (await get(settings, '/api/explorer/service-graph')) as ServiceGraphJson;
}
