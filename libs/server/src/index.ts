// @stave/server: the runtime every component runs in — lifecycle, module graph, config, servers, logs.
export { BasicService, EventLoopCpu, State, type CpuReservation, type Service, type ServiceHooks } from '@stave/core';
export { ModuleManager, RunningModules, UnknownTargetError, type ModuleDef } from './modules';
export { App, ServerService, type AppContext, type AppOptions, type BuildInfo } from './app';
export { HttpServer, Router, readBody, sendJson, sendText, type HttpHandler, type HttpServerOptions } from './http-server';
export { pageHandler } from './status-page';
export { ConnectServer, publicErrorsInterceptor, tenantFieldInterceptor, type ConnectServerOptions } from './connect-server';
export { Logger, nopLogger, type LogFields, type LogFormat, type LogLevel, type LogSink } from '@stave/core';
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
} from '@stave/core';
export {
  c,
  declaredKeys,
  parseHostPort,
  type HostPort,
  Field,
  ObjectField,
  type ConfigIssue,
  type DeclaredKey,
  type Infer,
  type KeyStatus,
  type ParseContext,
} from './config/schema';
export { parseDuration, formatDuration } from './config/duration';
export { ConfigError, configToYaml, defaultConfig, expandEnv, loadConfig, parseConfig, type LoadOptions, type LoadedConfig } from './config/load';
export {
  staveConfigSchema,
  serverSection,
  distributorSection,
  ingesterSection,
  querierSection,
  queryFrontendSection,
  compactorSection,
  metricsGeneratorSection,
  storageSection,
  memberlistSection,
  overridesSection,
  limitsSection,
  type StaveConfig,
  type LimitsConfig,
} from './config/stave-config';
export { LEGACY_OVERRIDES, Overrides, defaultLimits } from './config/overrides';
export { SINGLE_TENANT, resolveTenant, validateTenantID } from '@stave/core';
export { listen } from './listen';
export { Http2Sessions, closeHttp2Gracefully, closeHttpGracefully } from './graceful-close';
export { GuardedSessionManager, grpcTransport } from './grpc-transport';
export { GRPC_PREFIX_BYTES, GrpcUnaryClient, grpcFrame, type GrpcUnaryClientOptions, type UnaryBytesHandler } from './grpc-unary';
