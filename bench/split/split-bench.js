// Micro-benchmark: splitByTrace (wire scan) against fromBinary(ExportTraceServiceRequestSchema) on a realistic
// OTLP batch (default 200 spans: 20 interleaved traces of 10 spans, one resource, two scopes, ~8 attributes
// per span, an exception event on every tenth span), as an OpenTelemetry SDK's batch processor sends it.
//
// Run after building the model library:
//   node_modules/.bin/tsc -b libs/model && node bench/split/split-bench.js [--spans 200] [--seconds 6] [--only split|decode]
// Profile:  node --cpu-prof --cpu-prof-dir=bench/out bench/split/split-bench.js --only split
'use strict';

const path = require('node:path');
const { createRequire } = require('node:module');

const root = path.join(__dirname, '..', '..');
const fromModel = createRequire(path.join(root, 'libs/model/package.json'));
const { create, toBinary, fromBinary } = fromModel('@bufbuild/protobuf');
const proto = require(path.join(root, 'libs/proto/dist/index.js'));
const { splitByTrace } = require(path.join(root, 'libs/model/dist/otlp/split.js'));

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const SPANS = Number(arg('spans', '200'));
const SECONDS = Number(arg('seconds', '6'));
const ONLY = arg('only', '');

// Deterministic pseudo-random bytes, so every run measures the same request.
let seed = 42;
function rand() {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed;
}
function randomBytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rand() & 0xff;
  return b;
}
const str = (key, value) => ({ key, value: { value: { case: 'stringValue', value } } });
const int = (key, value) => ({ key, value: { value: { case: 'intValue', value: BigInt(value) } } });

function buildRequest(spanCount) {
  const perTrace = 10;
  const traceCount = Math.max(1, Math.ceil(spanCount / perTrace));
  const traces = Array.from({ length: traceCount }, () => ({ id: randomBytes(16), root: randomBytes(8) }));
  const httpSpans = [];
  const dbSpans = [];
  const base = 1_700_000_000_000_000_000n;
  for (let i = 0; i < spanCount; i++) {
    // Interleave traces the way a batch of concurrently finishing requests looks.
    const t = traces[i % traceCount];
    const n = Math.floor(i / traceCount);
    const isRoot = n === perTrace - 1;
    const start = base + BigInt(i) * 1_000_000n;
    const isDb = !isRoot && n % 3 === 1;
    const span = {
      traceId: t.id,
      spanId: isRoot ? t.root : randomBytes(8),
      parentSpanId: isRoot ? new Uint8Array(0) : t.root,
      name: isDb ? 'SELECT orders' : isRoot ? 'GET /api/orders/:id' : `GET /internal/inventory/${n}`,
      kind: isRoot ? 2 : 3,
      startTimeUnixNano: start,
      endTimeUnixNano: start + 4_500_000n,
      flags: 0x101,
      attributes: isDb
        ? [
            str('db.system', 'postgresql'),
            str('db.name', 'orders'),
            str('db.statement', 'SELECT id, customer_id, total, created_at FROM orders WHERE id = $1'),
            str('net.peer.name', 'db.internal'),
            int('net.peer.port', 5432),
            str('db.user', 'app'),
          ]
        : [
            str('http.method', 'GET'),
            str('http.url', `https://shop.example.com/api/orders/${1000 + i}?expand=items`),
            str('http.route', '/api/orders/:id'),
            int('http.status_code', 200),
            str('http.user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36'),
            str('net.peer.ip', '10.1.2.3'),
            int('net.peer.port', 43512),
            str('http.flavor', '1.1'),
          ],
      events:
        i % 10 === 0
          ? [
              {
                timeUnixNano: start + 1_000_000n,
                name: 'exception',
                attributes: [
                  str('exception.type', 'TimeoutError'),
                  str('exception.message', 'upstream timed out after 2000ms'),
                  str(
                    'exception.stacktrace',
                    'TimeoutError: upstream timed out\n    at fetchInventory (/app/src/inventory.js:42:11)\n    at async getOrder (/app/src/orders.js:88:5)\n    at async handler (/app/src/routes.js:17:3)',
                  ),
                ],
              },
            ]
          : [],
      status: { code: i % 10 === 0 ? 2 : 0, message: i % 10 === 0 ? 'upstream timed out' : '' },
    };
    (isDb ? dbSpans : httpSpans).push(span);
  }
  return create(proto.ExportTraceServiceRequestSchema, {
    resourceSpans: [
      {
        resource: {
          attributes: [
            str('service.name', 'checkout'),
            str('service.version', '1.42.0'),
            str('service.namespace', 'shop'),
            str('deployment.environment', 'production'),
            str('host.name', 'checkout-7d9f8b6c5-x2x9k'),
            str('host.arch', 'amd64'),
            int('process.pid', 12345),
            str('process.runtime.name', 'nodejs'),
            str('process.runtime.version', '20.20.2'),
            str('telemetry.sdk.name', 'opentelemetry'),
            str('telemetry.sdk.language', 'nodejs'),
            str('telemetry.sdk.version', '2.1.0'),
          ],
        },
        scopeSpans: [
          { scope: { name: '@opentelemetry/instrumentation-http', version: '0.203.0' }, spans: httpSpans },
          { scope: { name: '@opentelemetry/instrumentation-pg', version: '0.55.0' }, spans: dbSpans },
        ],
        schemaUrl: 'https://opentelemetry.io/schemas/1.24.0',
      },
    ],
  });
}

/** Spans per second of `fn` over one round of about `seconds`. */
function round(fn, seconds) {
  let iterations = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  do {
    for (let i = 0; i < 20; i++) fn();
    iterations += 20;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < budget);
  return (iterations * SPANS) / (Number(elapsed) / 1e9);
}

/**
 * Runs the variants in interleaved rounds and keeps each one's best round: on a shared machine the best
 * round is the one least disturbed by other work, and interleaving exposes every variant to the same noise.
 */
function compare(variants) {
  for (const v of variants) round(v.fn, 0.3); // warm up (JIT)
  const rounds = Math.max(3, Math.round(SECONDS / 0.5));
  const best = variants.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    variants.forEach((v, i) => {
      best[i] = Math.max(best[i], round(v.fn, SECONDS / rounds / variants.length));
    });
  }
  variants.forEach((v, i) => {
    console.log(
      `${v.label.padEnd(38)} ${Math.round(best[i]).toLocaleString('en-US').padStart(12)} spans/s  ${((SPANS / best[i]) * 1e6).toFixed(1).padStart(8)} µs/request`,
    );
  });
  return best;
}

const bytes = toBinary(proto.ExportTraceServiceRequestSchema, buildRequest(SPANS));
const check = splitByTrace(bytes);
console.log(`request: ${SPANS} spans, ${check.traceCount} traces, ${bytes.length} bytes; node ${process.version}; ${require('node:os').cpus()[0].model}`);

const variants = [];
if (ONLY === '' || ONLY === 'split') {
  variants.push({ label: 'splitByTrace (deep validation)', fn: () => splitByTrace(bytes) });
  variants.push({ label: 'splitByTrace (deep: false)', fn: () => splitByTrace(bytes, { deep: false }) });
}
if (ONLY === '' || ONLY === 'decode') {
  variants.push({ label: 'fromBinary(ExportTraceServiceRequest)', fn: () => fromBinary(proto.ExportTraceServiceRequestSchema, bytes) });
}
const best = compare(variants);
if (variants.length === 3) {
  console.log(`ratio to fromBinary: ${(best[0] / best[2]).toFixed(1)}x (deep validation), ${(best[1] / best[2]).toFixed(1)}x (deep: false)`);
}
