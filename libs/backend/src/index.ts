// @stave/backend: object storage behind one small interface.
export type { ListResult, ObjectInfo, ObjectStore } from './object-store';
export { LocalStore } from './local';
