// `metrics_generator.storage` (as Tempo names its keys) → RemoteWriter options. Typed structurally, so
// this package does not depend on the process runtime's config module; durations arrive in milliseconds.

import type { RemoteWriterOptions } from './remote-writer';

export interface GeneratorStorageConfig {
  readonly path: string;
  readonly remote_write_flush_deadline: number;
  readonly remote_write_add_org_id_header: boolean;
  readonly wal: { readonly max_wal_time: number };
  readonly remote_write: ReadonlyArray<{
    readonly url: string;
    readonly name: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly send_exemplars: boolean;
    readonly remote_timeout: number;
    readonly basic_auth: { readonly username: string; readonly password: string };
    readonly authorization: { readonly type: string; readonly credentials: string };
  }>;
}

/** The options for a RemoteWriter from the config section; `multitenancy` is `multitenancy_enabled`. */
export function remoteWriterOptions(
  storage: GeneratorStorageConfig,
  multitenancy: boolean,
): Pick<RemoteWriterOptions, 'path' | 'endpoints' | 'addOrgIdHeader' | 'flushDeadlineMs' | 'maxWalTimeMs'> {
  return {
    path: storage.path,
    flushDeadlineMs: storage.remote_write_flush_deadline,
    // Without multitenancy every tenant is the single tenant, which never gets the header.
    addOrgIdHeader: storage.remote_write_add_org_id_header && multitenancy,
    maxWalTimeMs: storage.wal.max_wal_time,
    endpoints: storage.remote_write.map((e) => ({
      url: e.url,
      name: e.name,
      headers: { ...authorizationHeader(e), ...e.headers },
      sendExemplars: e.send_exemplars,
      remoteTimeoutMs: e.remote_timeout,
    })),
  };
}

/** `basic_auth` or `authorization` as an Authorization header (Prometheus allows one of them per endpoint). */
function authorizationHeader(e: GeneratorStorageConfig['remote_write'][number]): Record<string, string> {
  if (e.basic_auth.username !== '' || e.basic_auth.password !== '') {
    return { Authorization: `Basic ${Buffer.from(`${e.basic_auth.username}:${e.basic_auth.password}`).toString('base64')}` };
  }
  if (e.authorization.credentials !== '') return { Authorization: `${e.authorization.type || 'Bearer'} ${e.authorization.credentials}` };
  return {};
}
