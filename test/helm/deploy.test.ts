// deploy/kubernetes holds plain manifests for `kubectl apply -f`, rendered from helm/stave by
// deploy/kubernetes/generate.sh (`make deploy-manifests`). They must equal a fresh render of the chart, and
// pass the same checks as the chart's own renders.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO } from '../support/stave-process';
import { buildRenderer, parseManifests, validateObjects, verifyConfig, workloads } from './chart';

const run = promisify(execFile);
const DEPLOY = path.join(REPO, 'deploy', 'kubernetes');
const MANIFESTS = readdirSync(path.join(DEPLOY, 'values')).map((f) => f.replace(/\.yaml$/, ''));

let fresh: string;
beforeAll(async () => {
  const renderer = await buildRenderer();
  fresh = mkdtempSync(path.join(os.tmpdir(), 'stave-deploy-'));
  await run(path.join(DEPLOY, 'generate.sh'), [fresh], { env: { ...process.env, HELM_RENDER: renderer }, timeout: 120_000 });
}, 300_000);

describe('deploy/kubernetes', () => {
  it('has one manifest per values file, and nothing else', () => {
    expect(MANIFESTS.sort()).toEqual(['microservices', 'single-binary']);
    const files = readdirSync(DEPLOY).filter((f) => f.endsWith('.yaml'));
    expect(files.sort()).toEqual(MANIFESTS.map((m) => `${m}.yaml`).sort());
  });

  describe.each(MANIFESTS)('%s.yaml', (name) => {
    const committed = () => readFileSync(path.join(DEPLOY, `${name}.yaml`), 'utf8');

    it('equals a fresh render of helm/stave (run `make deploy-manifests` after changing the chart)', () => {
      expect(committed()).toBe(readFileSync(path.join(fresh, `${name}.yaml`), 'utf8'));
    });

    it('passes the Kubernetes API schemas, and its stave.yaml passes `stave -config.verify`', async () => {
      const objects = parseManifests(committed());
      expect(validateObjects(objects)).toEqual([]);
      for (const o of objects) expect(o.metadata.namespace).toBe('stave');
      const results = await verifyConfig(objects);
      expect(results.map((r) => [r.workload, r.code, r.stderr])).toEqual(workloads(objects).map((w) => [`${w.kind}/${w.metadata.name}`, 0, '']));
    }, 120_000);
  });
});
