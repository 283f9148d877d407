// @stave/backend: object storage behind one small interface, four implementations, one factory.
// Test support (the conformance suite every store passes, complete options) is @stave/backend/testing.
export type { ListResult, ObjectInfo, ObjectStore } from './object-store';
export { LocalStore, writeSyncedAsWritten } from './local';
export { createObjectStore, validateStorageConfig, type ManagedObjectStore, type ObjectStoreDeps, type StorageIssue } from './factory';
export type { TraceStorageConfig } from './config';
export { copyBlockObjects, deleteBlockObjects } from './helpers';
