// @stave/explorer: the trace search, waterfall and service-graph pages (built from ui/ by `make build`,
// served at `/` by the query-frontend), the service-graph API they read, and the `stave query` /
// `stave blocks` commands.
export { ASSETS_PATH, DEFAULT_UI_DIR, mountExplorer, type ExplorerOptions } from './assets';
export { BLOCKS_USAGE, runBlocksCommand, scanBlocks, type ListedBlock } from './blocks-command';
export { mergeServiceGraphs, type GeneratorAnswer, type GeneratorServiceGraph, type ServiceGraphJson } from './service-graph';
export { mountServiceGraphApi, SERVICE_GRAPH_PATH, type GeneratorRef, type ServiceGraphApiOptions } from './service-graph-api';
export { QUERY_USAGE, parseTime, runQueryCommand } from './query-command';
export type { CommandIO } from './terminal';
