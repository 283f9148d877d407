// @stave/explorer: the trace search and waterfall pages (built from ui/ by `make build`, served at `/` by
// the query-frontend) and the `stave query` / `stave blocks` commands.
export { ASSETS_PATH, DEFAULT_UI_DIR, mountExplorer, type ExplorerOptions } from './assets';
export { BLOCKS_USAGE, runBlocksCommand, scanBlocks, type ListedBlock } from './blocks-command';
export { QUERY_USAGE, parseTime, runQueryCommand } from './query-command';
export type { CommandIO } from './terminal';
