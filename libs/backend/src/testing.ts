// @stave/backend/testing: test support shared with other packages' tests (never imported by library code):
// the conformance suite every ObjectStore passes, and complete backend options to start from.
export { describeObjectStoreConformance, type ConformanceOptions, type StoreFactory } from './testing/conformance';
export { storageOptions } from './testing/options';
