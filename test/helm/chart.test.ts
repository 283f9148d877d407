// helm/stave renders, for its default values and for each scenario under test/helm/scenarios, into objects
// that pass the Kubernetes API schemas of their kinds, reference each other correctly, and carry a
// stave.yaml that `stave -config.verify` accepts for every workload's target. The renderer is test/helm/render
// (Go's text/template + sprig), built here.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import {
  CHART,
  buildRenderer,
  container,
  parseManifests,
  renderChart,
  validateObjects,
  valuesSchemaErrors,
  verifyConfig,
  workloads,
  type K8sObject,
} from './chart';

const SCENARIOS = path.join(__dirname, 'scenarios');

let renderer: string;
beforeAll(async () => {
  renderer = await buildRenderer();
}, 300_000);

async function render(scenario: string | undefined): Promise<{ objects: K8sObject[]; values: unknown }> {
  const { text, values } = await renderChart(renderer, { valueFiles: scenario ? [path.join(SCENARIOS, `${scenario}.yaml`)] : [] });
  return { objects: parseManifests(text), values };
}

const byKind = (objects: readonly K8sObject[], kind: string) => objects.filter((o) => o.kind === kind).map((o) => o.metadata.name);
const find = (objects: readonly K8sObject[], kind: string, name: string) => {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind}/${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
};
const staveConfig = (objects: readonly K8sObject[]) => parseYaml(find(objects, 'ConfigMap', 'stave').data!['stave.yaml']!) as any;

const MICROSERVICES = ['stave-distributor', 'stave-querier', 'stave-query-frontend', 'stave-compactor'];

// The scenarios and what each must render, beyond what every render must satisfy.
const cases: Array<{ name: string; scenario?: string; check: (objects: K8sObject[]) => void }> = [
  {
    name: 'default values: single binary on local disk',
    check: (objects) => {
      expect(byKind(objects, 'StatefulSet')).toEqual(['stave']);
      expect(byKind(objects, 'Deployment')).toEqual([]);
      expect(container(find(objects, 'StatefulSet', 'stave')).args).toEqual([
        '-target=scalable-single-binary',
        '-config.file=/conf/stave.yaml',
        '-config.expand-env=true',
      ]);
      const config = staveConfig(objects);
      expect(config.storage.trace).toEqual({ backend: 'local', local: { path: '/var/lib/stave/blocks' }, wal: { path: '/var/lib/stave/wal' } });
      expect(config.ingester.lifecycler.ring.replication_factor).toBe(1);
      expect(config.memberlist.join_members).toEqual(['dns+stave-gossip-ring.tracing.svc.cluster.local:7946']);
    },
  },
  {
    name: 'local backend, microservices: one shared ReadWriteMany claim for blocks',
    scenario: 'local',
    check: (objects) => {
      expect(byKind(objects, 'Deployment')).toEqual(MICROSERVICES);
      expect(byKind(objects, 'StatefulSet')).toEqual(['stave-ingester']);
      const pvc = find(objects, 'PersistentVolumeClaim', 'stave-blocks');
      expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
      for (const w of ['stave-ingester', 'stave-querier', 'stave-query-frontend', 'stave-compactor']) {
        const o = objects.find((x) => x.metadata.name === w && (x.kind === 'Deployment' || x.kind === 'StatefulSet'))!;
        expect(o.spec.template.spec.volumes).toContainEqual({ name: 'blocks', persistentVolumeClaim: { claimName: 'stave-blocks' } });
      }
      expect(find(objects, 'Deployment', 'stave-distributor').spec.template.spec.volumes.map((v: any) => v.name)).not.toContain('blocks');
    },
  },
  {
    name: 's3 backend: keys from a Secret by reference, HPAs, ServiceMonitor',
    scenario: 's3',
    check: (objects) => {
      const config = staveConfig(objects);
      expect(config.storage.trace.s3).toEqual({
        bucket: 'stave-traces',
        endpoint: 's3.eu-west-1.amazonaws.com',
        region: 'eu-west-1',
        prefix: '',
        insecure: false,
        forcepathstyle: false,
        access_key: '${STAVE_S3_ACCESS_KEY}',
        secret_key: '${STAVE_S3_SECRET_KEY}',
      });
      for (const w of workloads(objects)) {
        expect(container(w).env).toEqual(
          expect.arrayContaining([{ name: 'STAVE_S3_SECRET_KEY', valueFrom: { secretKeyRef: { name: 'stave-s3', key: 'secret-access-key' } } }]),
        );
      }
      expect(byKind(objects, 'HorizontalPodAutoscaler')).toEqual(['stave-distributor', 'stave-querier']);
      expect(find(objects, 'Deployment', 'stave-querier').spec.replicas).toBeUndefined();
      expect(find(objects, 'HorizontalPodAutoscaler', 'stave-distributor').spec.metrics.map((m: any) => m.resource.name)).toEqual(['cpu', 'memory']);
      expect(byKind(objects, 'PersistentVolumeClaim')).toEqual([]);
      const sm = find(objects, 'ServiceMonitor', 'stave');
      expect(sm.metadata.labels!.release).toBe('prometheus');
      expect(sm.spec.endpoints[0]).toMatchObject({ port: 'http-metrics', path: '/metrics', interval: '30s' });
    },
  },
  {
    name: 'gcs backend: a service-account key file from a Secret; the metrics-generator',
    scenario: 'gcs',
    check: (objects) => {
      expect(staveConfig(objects).storage.trace.gcs).toEqual({ bucket_name: 'stave-traces', endpoint: '', prefix: '' });
      const querier = find(objects, 'Deployment', 'stave-querier');
      expect(container(querier).env).toContainEqual({ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/var/secrets/gcs/key.json' });
      expect(querier.spec.template.spec.volumes).toContainEqual({ name: 'gcs-credentials', secret: { secretName: 'stave-gcs' } });
      expect(byKind(objects, 'StatefulSet')).toEqual(['stave-ingester', 'stave-metrics-generator']);
      expect(container(find(objects, 'StatefulSet', 'stave-metrics-generator')).args[0]).toBe('-target=metrics-generator');
    },
  },
  {
    name: 'azure backend: the account key from a Secret by reference',
    scenario: 'azure',
    check: (objects) => {
      expect(staveConfig(objects).storage.trace.azure).toMatchObject({
        container_name: 'stave-traces',
        storage_account_name: 'staveaccount',
        storage_account_key: '${STAVE_AZURE_ACCOUNT_KEY}',
      });
      expect(container(find(objects, 'StatefulSet', 'stave-ingester')).env).toContainEqual({
        name: 'STAVE_AZURE_ACCOUNT_KEY',
        valueFrom: { secretKeyRef: { name: 'stave-azure', key: 'account-key' } },
      });
    },
  },
  {
    name: 'microservices with 3 ingesters: RF 3, anti-affinity, zone spreading, extraArgs and extraEnv',
    scenario: 'microservices-3-ingesters',
    check: (objects) => {
      const ingester = find(objects, 'StatefulSet', 'stave-ingester');
      expect(ingester.spec.replicas).toBe(3);
      expect(ingester.spec.volumeClaimTemplates[0].metadata.name).toBe('data');
      const pod = ingester.spec.template.spec;
      const selector = { 'app.kubernetes.io/name': 'stave', 'app.kubernetes.io/instance': 'stave', 'app.kubernetes.io/component': 'ingester' };
      expect(pod.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm).toEqual({
        topologyKey: 'kubernetes.io/hostname',
        labelSelector: { matchLabels: selector },
      });
      expect(pod.topologySpreadConstraints).toEqual([
        { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector } },
      ]);
      expect(container(ingester).args).toEqual([
        '-target=ingester',
        '-config.file=/conf/stave.yaml',
        '-config.expand-env=true',
        '-server.log-level=debug',
        '-ingester.flush-all-on-shutdown=true',
      ]);
      expect(container(find(objects, 'Deployment', 'stave-distributor')).args).toEqual([
        '-target=distributor',
        '-config.file=/conf/stave.yaml',
        '-config.expand-env=true',
        '-server.log-level=debug',
      ]);
      for (const w of workloads(objects)) {
        expect(container(w).env).toEqual([{ name: 'NODE_OPTIONS', value: '--max-old-space-size=1536' }]);
        expect(container(w).envFrom).toEqual([{ secretRef: { name: 'stave-aws-credentials' } }]);
      }
      const config = staveConfig(objects);
      expect(config.ingester.lifecycler.ring.replication_factor).toBe(3);
      expect(config.ingester.max_block_bytes).toBe(524288000);
      expect(config.multitenancy_enabled).toBe(true);
      expect(config.querier.frontend_worker.frontend_address).toBe('dns+stave-query-frontend-discovery.tracing.svc.cluster.local:9095');
      expect(byKind(objects, 'PodDisruptionBudget')).toEqual([
        'stave-distributor',
        'stave-ingester',
        'stave-querier',
        'stave-query-frontend',
        'stave-compactor',
      ]);
      // The API on the query-frontend; the receivers on the distributor, UDP where Jaeger's thrift is.
      expect(find(objects, 'Service', 'stave-query-frontend').spec.ports.map((p: any) => p.port)).toEqual([3200, 9095]);
      expect(find(objects, 'Service', 'stave-distributor').spec.ports.map((p: any) => `${p.port}/${p.protocol}`)).toEqual([
        '3200/TCP',
        '9095/TCP',
        '4317/TCP',
        '4318/TCP',
        '14250/TCP',
        '14268/TCP',
        '6831/UDP',
        '6832/UDP',
        '9411/TCP',
      ]);
      const gossip = find(objects, 'Service', 'stave-gossip-ring');
      expect(gossip.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
      const members = workloads(objects).filter((w) => w.spec.template.metadata.labels['app.kubernetes.io/part-of'] === 'memberlist');
      expect(members.map((w) => w.metadata.name).sort()).toEqual(['stave-compactor', 'stave-distributor', 'stave-ingester', 'stave-querier']);
    },
  },
  {
    name: 'single-binary mode, 3 replicas gossiping over S3',
    scenario: 'single-binary',
    check: (objects) => {
      const sts = find(objects, 'StatefulSet', 'stave');
      expect(sts.spec.replicas).toBe(3);
      expect(sts.spec.serviceName).toBe('stave-headless');
      expect(sts.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable).toBe('DoNotSchedule');
      expect(staveConfig(objects).ingester.lifecycler.ring.replication_factor).toBe(3);
      expect(byKind(objects, 'Service')).toEqual(['stave', 'stave-headless', 'stave-gossip-ring']);
      expect(byKind(objects, 'ServiceMonitor')).toEqual(['stave']);
    },
  },
];

describe('helm/stave renders', () => {
  it('covers every scenario file', () => {
    const files = readdirSync(SCENARIOS).map((f) => f.replace(/\.yaml$/, ''));
    expect(files.sort()).toEqual(cases.flatMap((c) => (c.scenario ? [c.scenario] : [])).sort());
  });

  describe.each(cases)('$name', ({ scenario, check }) => {
    let objects: K8sObject[];
    let values: unknown;
    beforeAll(async () => {
      ({ objects, values } = await render(scenario));
    }, 60_000);

    it('has values that pass values.schema.json', () => {
      expect(valuesSchemaErrors(values)).toEqual([]);
    });

    it('renders objects that pass the Kubernetes API schemas and reference each other', () => {
      expect(objects.length).toBeGreaterThan(5);
      expect(validateObjects(objects)).toEqual([]);
    });

    it('runs every container as `stave -target=<component>`, non-root, read-only root, ready on /ready', () => {
      for (const w of workloads(objects)) {
        const pod = w.spec.template.spec;
        const c = container(w);
        expect(c.args.slice(1, 3)).toEqual(['-config.file=/conf/stave.yaml', '-config.expand-env=true']);
        expect(c.args[0]).toMatch(/^-target=(distributor|ingester|querier|query-frontend|compactor|metrics-generator|scalable-single-binary)$/);
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
        expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
        expect(c.readinessProbe.httpGet).toEqual({ path: '/ready', port: 'http-metrics' });
        expect(c.volumeMounts.map((m: any) => m.mountPath)).toEqual(expect.arrayContaining(['/conf', '/var/lib/stave', '/tmp']));
        expect(w.spec.template.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
      }
    });

    it('passes its scenario checks', () => check(objects));

    it('carries a stave.yaml that `stave -config.verify` accepts for every workload', async () => {
      const results = await verifyConfig(objects);
      expect(results.length).toBe(workloads(objects).length);
      for (const r of results) {
        expect({ workload: r.workload, code: r.code }).toEqual({ workload: r.workload, code: 0 });
        expect(r.stdout).toContain('config is valid');
        // Nothing the chart sets is a key Stave ignores or does not apply yet: no warning at all.
        expect(r.stderr).toBe('');
      }
    }, 120_000);
  });
});

describe('helm/stave NOTES.txt', () => {
  it.each([
    ['single-binary', [], 'http://stave.tracing.svc.cluster.local:3200', 'Send spans to stave.tracing'],
    [
      'microservices',
      ['-set', 'deploymentMode=microservices'],
      'http://stave-query-frontend.tracing.svc.cluster.local:3200',
      'Send spans to stave-distributor.tracing',
    ],
  ])('names the API and the receivers (%s)', async (_mode, args, api, receivers) => {
    const { stdout } = await promisify(execFile)(renderer, ['-notes', '-name', 'stave', '-namespace', 'tracing', ...args, CHART]);
    expect(stdout).toContain(api);
    expect(stdout).toContain(receivers);
    expect(stdout).toContain('otlp-grpc: 4317/TCP');
  });
});

describe('helm/stave refuses what cannot work', () => {
  it.each([
    ['storage.backend s3 without a bucket', 'storage:\n  backend: s3\n', 'storage.s3.bucket is required'],
    ['single-binary replicas on local disk', 'singleBinary:\n  replicas: 2\n', 'needs an object store'],
    ['an unknown backend', 'storage:\n  backend: ftp\n', 'storage.backend must be local, s3, gcs or azure'],
  ])('%s', async (_name, values, message) => {
    const f = path.join(mkdtempSync(path.join(os.tmpdir(), 'stave-helm-bad-')), 'values.yaml');
    writeFileSync(f, values);
    await expect(renderChart(renderer, { valueFiles: [f] })).rejects.toThrow(message);
  });

  it('rejects an unknown or mistyped value in values.schema.json', () => {
    const defaults = parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
    expect(valuesSchemaErrors({ ...defaults, ingester: { ...defaults.ingester, replicas: 'three' } })).toEqual([
      expect.stringContaining('/ingester/replicas must be integer'),
    ]);
    expect(valuesSchemaErrors({ ...defaults, ingestr: {} })).toEqual([expect.stringContaining('must NOT have additional properties')]);
  });
});

describe('helm/stave/README.md', () => {
  it('documents every key of values.yaml', () => {
    const readme = readFileSync(path.join(CHART, 'README.md'), 'utf8');
    const keys: string[] = [];
    const walk = (node: unknown, prefix: string) => {
      if (node !== null && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length > 0) {
        for (const [k, v] of Object.entries(node)) walk(v, prefix ? `${prefix}.${k}` : k);
      } else keys.push(prefix);
    };
    walk(parseYaml(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')), '');
    expect(keys.length).toBeGreaterThan(100);
    expect(keys.filter((k) => !readme.includes(`\`${k}\``))).toEqual([]);
  });
});
