export { runCli, readBuildInfo, type CliOptions } from './cli';
export { parseFlags, FlagError, type CliFlags } from './flags';
export { staveModules, COMPONENTS, type Component } from './modules';
