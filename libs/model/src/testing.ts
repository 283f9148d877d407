// @stave/model/testing: test support shared with other packages' tests (never imported by library code).
// Its module imports the dev-only `thrift` package, so only tests may load it.
export { encodeBatch, encodeEmitBatch, encodeWith, i64, writeBatch, writeSpan, writeTag } from './jaeger/thrift-test-encoder';
export { framedResult, splitFramed } from './otlp/split-pool';
