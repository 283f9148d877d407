// s3rver as a child process, with three of its deviations from S3 corrected so that tests hold Stave
// to S3's documented behaviour rather than to the emulator's bugs (all present in s3rver 3.7.1 and in
// its 5.x fork):
//
// 1. Ranged GET `bytes=0-0` returns the whole object (the store reads `end || Infinity`). S3 returns
//    one byte.
// 2. ListObjectsV2 with a delimiter omits a common prefix that holds only deeper "folders" (its walker
//    skips directories below a common prefix before finding their keys), does not count prefixes
//    toward max-keys, and answers 500 when a truncated page ends with a prefix. S3 lists every common
//    prefix, counts keys and prefixes together, and continues after a prefix.
//
// Usage (as the s3rver CLI): node s3rver-main.js <s3rver package dir> <data dir> <port> <service endpoint> <bucket>...
// Prints `S3rver listening on <address>:<port>` when ready.
'use strict';

const path = require('path');
const fs = require('fs');
const crypto = require('crypto');
const { Transform } = require('stream');
const { pipeline } = require('stream/promises');

const [pkgDir, dataDir, port, serviceEndpoint, ...buckets] = process.argv.slice(2);
const lib = (p) => require(path.join(pkgDir, 'lib', p));

const S3rver = require(pkgDir);
const FilesystemStore = lib('stores/filesystem');
const S3Object = lib('models/object');
const bucketCtrl = lib('controllers/bucket');

const locks = new Map();
async function withLock(id, fn) {
  const prev = locks.get(id) || Promise.resolve();
  let release;
  const mine = new Promise((r) => (release = r));
  const tail = prev.then(() => mine);
  locks.set(id, tail);
  await prev;
  try {
    return await fn();
  } finally {
    release();
    if (locks.get(id) === tail) locks.delete(id);
  }
}

const proto = FilesystemStore.prototype;
const originalGetMetadata = proto.getMetadata;
const originalDelete = proto.deleteObject;

// 1. Ranges: an explicit end of 0 is an end. (3. The read happens under the key's lock.)
proto.getObject = async function getObject(bucket, key, options) {
  return withLock(`${bucket}/${key}`, async () => {
    try {
      const metadata = await originalGetMetadata.call(this, bucket, key);
      const lastByte = Math.max(0, Number(metadata['content-length']) - 1);
      const hasRange = Boolean(options && (options.start !== undefined || options.end !== undefined));
      const range = {
        start: (options && options.start) || 0,
        end: Math.min(options && options.end !== undefined ? options.end : Infinity, lastByte),
      };
      if (range.start < 0 || range.end < range.start) {
        const object = new S3Object(bucket, key, null, metadata);
        if (hasRange) object.range = range;
        return object;
      }
      const content = await new Promise((resolve, reject) => {
        const stream = fs
          .createReadStream(this.getResourcePath(bucket, key, 'object'), range)
          .on('error', reject)
          .on('open', () => resolve(stream));
      });
      const object = new S3Object(bucket, key, content, metadata);
      if (hasRange) object.range = range;
      return object;
    } catch (err) {
      if (err.code === 'ENOENT') return null;
      throw err;
    }
  });
};

// 3. Atomic PUT: write aside, then swap content and metadata under the key's lock.
proto.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const tmp = `${objectPath}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const md5Context = crypto.createHash('md5');
  let size = 0;
  try {
    const source = Buffer.isBuffer(object.content) ? [object.content] : object.content;
    await pipeline(
      source instanceof Array ? require('stream').Readable.from(source) : source,
      new Transform({
        transform(chunk, encoding, callback) {
          md5Context.update(chunk, encoding);
          size += chunk.length;
          callback(null, chunk);
        },
      }),
      fs.createWriteStream(tmp),
    );
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  const md5 = md5Context.digest('hex');
  return withLock(`${object.bucket}/${object.key}`, async () => {
    await fs.promises.rename(tmp, objectPath);
    await this.putMetadata(object.bucket, object.key, object.metadata, md5);
    return { size, md5 };
  });
};

proto.getMetadata = function getMetadata(bucket, key) {
  return withLock(`${bucket}/${key}`, () => originalGetMetadata.call(this, bucket, key));
};

proto.deleteObject = function deleteObject(bucket, key) {
  return withLock(`${bucket}/${key}`, () => originalDelete.call(this, bucket, key));
};

// 2. Listing: every key under the prefix (names only), then S3's paging over keys and common prefixes
// together; metadata is read for the objects of the page alone.
const { walk } = lib('utils');
const OBJECT_SUFFIX = '._S3rver_object';
async function listPage(store, bucket, options) {
  const prefix = options.prefix || '';
  const delimiter = options.delimiter || '';
  const after = options.startAfter || '';
  const maxKeys = options.maxKeys === undefined ? 1000 : options.maxKeys;
  const bucketPath = store.getBucketPath(bucket);
  const prefixPath = [bucketPath, FilesystemStore.encodeKeyPath(prefix)].join('/');
  const keys = [];
  const it = walk(bucketPath, (dir) => dir.startsWith(prefixPath) || prefixPath.startsWith(dir));
  for (const file of it) {
    if (!file.endsWith(OBJECT_SUFFIX)) continue;
    const key = FilesystemStore.decodeKeyPath(file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length));
    if (key.startsWith(prefix)) keys.push(key);
  }
  keys.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const pageKeys = [];
  const commonPrefixes = [];
  let last;
  let isTruncated = false;
  for (const key of keys) {
    if (key <= after || (delimiter && after.endsWith(delimiter) && key.startsWith(after))) continue;
    const rest = key.slice(prefix.length);
    const i = delimiter ? rest.indexOf(delimiter) : -1;
    const entry = i >= 0 ? prefix + rest.slice(0, i + delimiter.length) : key;
    if (entry === last) continue;
    if (pageKeys.length + commonPrefixes.length >= maxKeys) {
      isTruncated = true;
      break;
    }
    if (i >= 0) commonPrefixes.push(entry);
    else pageKeys.push(key);
    last = entry;
  }
  const metas = await Promise.all(pageKeys.map((k) => store.getMetadata(bucket, k).catch((err) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)))));
  const objects = pageKeys.flatMap((k, i) => (metas[i] ? [new S3Object(bucket, k, null, metas[i])] : []));
  return { objects, commonPrefixes, isTruncated, last };
}

const originalGetBucket = bucketCtrl.getBucket;
bucketCtrl.getBucket = async function getBucket(ctx) {
  let page;
  const store = ctx.store;
  const token = ctx.query['continuation-token'];
  if (ctx.query['list-type'] === '2' && token) {
    const rest = { ...ctx.query };
    delete rest['continuation-token'];
    ctx.query = { ...rest, 'start-after': Buffer.from(token, 'base64url').toString('utf8') };
  }
  ctx.store = Object.create(store, {
    listObjects: {
      value: async (bucket, options) => {
        page = await listPage(store, bucket, options);
        // The controller would build a token from the last object: it is built below instead.
        return { objects: page.objects, commonPrefixes: page.commonPrefixes, isTruncated: false };
      },
    },
  });
  try {
    await originalGetBucket(ctx);
  } finally {
    ctx.store = store;
  }
  const body = ctx.body && ctx.body.ListBucketResult;
  if (!page || !body) return;
  body.IsTruncated = page.isTruncated;
  if (ctx.query['list-type'] === '2') {
    body.KeyCount = page.objects.length + page.commonPrefixes.length;
    if (token) {
      body.ContinuationToken = token;
      body.StartAfter = undefined;
    }
    body.NextContinuationToken = page.isTruncated ? Buffer.from(page.last, 'utf8').toString('base64url') : undefined;
  } else if (page.isTruncated) {
    body.NextMarker = page.last;
  }
};

new S3rver({
  directory: dataDir,
  address: '127.0.0.1',
  port: Number(port),
  silent: true,
  serviceEndpoint,
  configureBuckets: buckets.map((name) => ({ name, configs: [] })),
})
  .run()
  .then(({ address, port: p }) => console.log(`S3rver listening on ${address}:${p}`))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });

process.on('SIGTERM', () => process.exit(0));
