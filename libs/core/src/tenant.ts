// Tenant IDs, as Tempo (dskit) accepts them: 1–150 bytes of letters, digits and ! - _ . * ' ( ),
// and neither "." nor "..".

import { Code, ConnectError } from './errors';

export const SINGLE_TENANT = 'single-tenant';
const MAX_TENANT_LENGTH = 150;
const VALID = /^[A-Za-z0-9!\-_.*'()]+$/;

export function validateTenantID(id: string): void {
  if (id.length > MAX_TENANT_LENGTH) throw new ConnectError(`tenant ID is ${id.length} bytes long: max ${MAX_TENANT_LENGTH}`, Code.InvalidArgument);
  if (!VALID.test(id)) throw new ConnectError(`tenant ID "${id}" contains unsupported characters (allowed: letters, digits, !-_.*'())`, Code.InvalidArgument);
  if (id === '.' || id === '..') throw new ConnectError(`tenant ID "${id}" is not allowed`, Code.InvalidArgument);
}

/** The tenant of a request: the org ID header when multitenancy is on (401 without one), else single-tenant. */
export function resolveTenant(orgID: string | undefined, multitenancy: boolean): string {
  if (!multitenancy) return SINGLE_TENANT;
  if (orgID === undefined || orgID === '') throw new ConnectError('no org id', Code.Unauthenticated);
  validateTenantID(orgID);
  return orgID;
}
