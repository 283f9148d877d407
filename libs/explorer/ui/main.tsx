// The explorer's entry point: a header (pages and the API settings), and a page chosen by the URL hash —
// `#/trace/<id>` opens a trace, `#/service-graph` the service graph, anything else is the search page
// (`#/search?q=...&range=...&limit=...`).
// Hash routes keep every page at `/`, so the server needs no route per page.

import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { loadSettings, saveSettings, type Settings } from './api';
import { RANGES, SearchPage, type SearchRoute } from './search-page';
import { ServiceGraphPage } from './service-graph-page';
import { TracePage } from './trace-page';
import './style.css';

type Route = { page: 'trace'; id: string } | { page: 'service-graph' } | { page: 'search'; search: SearchRoute };

function parseRoute(hash: string): Route {
  if (/^#\/service-graph\b/.test(hash)) return { page: 'service-graph' };
  const m = /^#\/trace\/([0-9a-fA-F]+)/.exec(hash);
  if (m) return { page: 'trace', id: m[1]!.toLowerCase() };
  const qs = new URLSearchParams(hash.replace(/^#\/search\??/, ''));
  const range = qs.get('range') ?? '1h';
  const limit = Number(qs.get('limit') ?? '20');
  return {
    page: 'search',
    search: {
      q: hash.startsWith('#/search') ? (qs.get('q') ?? '') : '',
      range: RANGES.some((r) => r[0] === range) ? range : '1h',
      limit: Number.isFinite(limit) && limit > 0 ? Math.floor(limit) : 20,
    },
  };
}

function SettingsForm(props: { settings: Settings; onSave: (s: Settings) => void }) {
  const [apiUrl, setApiUrl] = useState(props.settings.apiUrl);
  const [orgId, setOrgId] = useState(props.settings.orgId);
  return (
    <details class="settings">
      <summary>API{props.settings.orgId ? ` · tenant ${props.settings.orgId}` : ''}</summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          props.onSave({ apiUrl: apiUrl.trim(), orgId: orgId.trim() });
        }}
      >
        <label>
          Tempo API URL
          <input name="api-url" placeholder="this server" value={apiUrl} onInput={(e) => setApiUrl(e.currentTarget.value)} />
        </label>
        <label>
          Tenant (X-Scope-OrgID)
          <input name="org-id" placeholder="none" value={orgId} onInput={(e) => setOrgId(e.currentTarget.value)} />
        </label>
        <button type="submit">Save</button>
      </form>
    </details>
  );
}

function App() {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  const [settings, setSettings] = useState(loadSettings);
  useEffect(() => {
    const onHash = (): void => setRoute(parseRoute(location.hash));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  const go = (hash: string): void => {
    if (location.hash === hash) setRoute(parseRoute(hash));
    else location.hash = hash;
  };
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          Stave
        </a>
        <span class="muted">explorer</span>
        <nav class="nav">
          <a href="#/" class={route.page === 'search' ? 'current' : ''}>
            Search
          </a>
          <a href="#/service-graph" class={route.page === 'service-graph' ? 'current' : ''}>
            Service graph
          </a>
        </nav>
        <span class="spacer" />
        <SettingsForm
          settings={settings}
          onSave={(s) => {
            saveSettings(s);
            setSettings(s);
          }}
        />
      </header>
      <main>
        {route.page === 'trace' ? (
          <TracePage settings={settings} id={route.id} />
        ) : route.page === 'service-graph' ? (
          <ServiceGraphPage settings={settings} go={go} />
        ) : (
          <SearchPage settings={settings} route={route.search} go={go} />
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
