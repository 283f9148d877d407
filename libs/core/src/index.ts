// @stave/core: the ground every package stands on — one error type, tenant IDs, structured logs and the
// service lifecycle, and the plain-data contract of a status page. No HTTP and no config here: the data
// model, block format, backends and ring use it without the process runtime (@stave/server).
export {
  Code,
  ConnectError,
  MAX_ERROR_MESSAGE_CHARS,
  codeOf,
  errors,
  httpStatusOf,
  publicErrorMessage,
  publicMessage,
  toPublicConnectError,
  truncateMessage,
} from './errors';
export { SINGLE_TENANT, resolveTenant, validateTenantID } from './tenant';
export { Logger, nopLogger, type LogFields, type LogFormat, type LogLevel, type LogSink } from './log';
export { BasicService, State, type Service, type ServiceHooks } from './lifecycle';
export type { PageRequest, PageResponse, StatusPage } from './status-page';
export { WireError } from './wire-error';
export { FNV1A_BASIS, hashBytes } from './hash';
export { allowedCpus, parseCpuList, statCpuSeconds, threadCpuSeconds } from './thread-cpu';
export { DEFAULT_LIFT_MS, EventLoopCpu, type CpuReservation, type EventLoopCpuOptions } from './event-loop-cpu';
