// Renders helm/stave as `helm template` does (test/helm/render, Go's text/template + sprig, built here from
// Debian's Go packages) and checks what comes out: every object against the Kubernetes API schema of its
// kind (kubernetes-models), the rules the API server adds that the schemas leave out, the references
// between objects, and the rendered stave.yaml with `stave -config.verify`.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Ajv, { type ValidateFunction } from 'ajv';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, PersistentVolumeClaim, Service, ServiceAccount } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { REPO, runStave } from '../support/stave-process';

const run = promisify(execFile);

export const CHART = path.join(REPO, 'helm', 'stave');

/** A rendered Kubernetes object, as plain YAML data. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  data?: Record<string, string>;
}

/** Builds the renderer into a fresh temporary folder; returns its path. */
export async function buildRenderer(): Promise<string> {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'stave-helm-render-')), 'helm-render');
  await run(path.join(REPO, 'test', 'helm', 'build-renderer.sh'), [out], { timeout: 300_000 });
  return out;
}

export interface RenderOptions {
  valueFiles?: string[];
  name?: string;
  namespace?: string;
}

/** `helm template <name> helm/stave -n <namespace> -f ...`: the manifest text and the merged values. */
export async function renderChart(renderer: string, opts: RenderOptions = {}): Promise<{ text: string; values: unknown }> {
  const valuesOut = path.join(mkdtempSync(path.join(os.tmpdir(), 'stave-helm-values-')), 'values.json');
  const args = ['-name', opts.name ?? 'stave', '-namespace', opts.namespace ?? 'tracing', '-values-out', valuesOut];
  for (const f of opts.valueFiles ?? []) args.push('-f', f);
  args.push(CHART);
  const { stdout } = await run(renderer, args, { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 });
  return { text: stdout, values: JSON.parse(readFileSync(valuesOut, 'utf8')) };
}

export function parseManifests(text: string): K8sObject[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  const out: K8sObject[] = [];
  for (const d of docs) {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
    const obj = d.toJS() as K8sObject | null;
    if (obj !== null) out.push(obj);
  }
  return out;
}

/** Checks the merged values against helm/stave/values.schema.json, as helm does before rendering. */
let compiled: ValidateFunction | undefined;
export function valuesSchemaErrors(values: unknown): string[] {
  const schema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as object;
  const validate = (compiled ??= new Ajv({ allErrors: true, strict: false }).compile(schema));
  if (validate(values)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

type Model = new (data: any) => { validate(): void };
const MODELS: Record<string, Model> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function podSpecOf(o: K8sObject): any {
  return o.kind === 'Deployment' || o.kind === 'StatefulSet' ? o.spec.template.spec : undefined;
}

function matches(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/**
 * Every problem with a rendered set of objects: the kind's API schema (kubernetes-models: types, required
 * fields, formats; like Kubernetes' OpenAPI schemas they do not reject unknown fields), the API server's
 * name rules that the schemas leave out, and references between objects (selectors, ports, volumes).
 */
export function validateObjects(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  const say = (o: K8sObject, msg: string) => problems.push(`${o.kind}/${o.metadata?.name}: ${msg}`);
  const seen = new Set<string>();
  for (const o of objects) {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!model) {
      say(o, `no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new model(o).validate();
    } catch (e) {
      say(o, (e as Error).message);
    }
    const key = `${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) say(o, 'rendered twice');
    seen.add(key);
    // Services and StatefulSets name DNS labels (63); the rest DNS subdomains (253).
    const label = o.kind === 'Service' || o.kind === 'StatefulSet';
    if (!(label ? DNS_LABEL : DNS_SUBDOMAIN).test(o.metadata.name) || o.metadata.name.length > (label ? 63 : 253)) say(o, 'invalid name');
    for (const [k, v] of Object.entries(o.metadata.labels ?? {})) if (v.length > 63) say(o, `label ${k} longer than 63`);

    const pod = podSpecOf(o);
    if (pod) {
      if (!matches(o.spec.selector.matchLabels, o.spec.template.metadata.labels)) say(o, 'selector does not match the pod labels');
      const volumes = new Set<string>([...pod.volumes.map((v: any) => v.name), ...(o.spec.volumeClaimTemplates ?? []).map((v: any) => v.metadata.name)]);
      for (const c of pod.containers) {
        for (const p of c.ports ?? [])
          if (!PORT_NAME.test(p.name) || p.name.length > 15) say(o, `container port name ${p.name} is not an IANA service name (15 characters at most)`);
        for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) say(o, `mount ${m.name} has no volume`);
        const names = new Set((c.ports ?? []).map((p: any) => p.name));
        const probePort = c.readinessProbe?.httpGet?.port;
        if (typeof probePort === 'string' && !names.has(probePort)) say(o, `readiness probe port ${probePort} is not a container port`);
      }
      if (o.kind === 'StatefulSet') {
        const governing = objects.find((s) => s.kind === 'Service' && s.metadata.name === o.spec.serviceName);
        if (!governing || governing.spec.clusterIP !== 'None') say(o, `serviceName ${o.spec.serviceName} is not a headless Service of the release`);
      }
    }
    if (o.kind === 'Service') {
      const pods = objects.filter((w) => podSpecOf(w) && matches(o.spec.selector, w.spec.template.metadata.labels));
      if (pods.length === 0) say(o, 'selects no workload');
      for (const p of o.spec.ports) {
        const served = pods.some((w) =>
          podSpecOf(w).containers.some((c: any) => (c.ports ?? []).some((cp: any) => cp.name === p.targetPort && cp.protocol === p.protocol)),
        );
        if (!served) say(o, `targetPort ${p.targetPort}/${p.protocol} is no container port of the selected pods`);
      }
    }
    if (o.kind === 'PodDisruptionBudget' || o.kind === 'HorizontalPodAutoscaler') {
      const target =
        o.kind === 'HorizontalPodAutoscaler'
          ? objects.find((w) => w.kind === o.spec.scaleTargetRef.kind && w.metadata.name === o.spec.scaleTargetRef.name)
          : objects.find((w) => podSpecOf(w) && matches(o.spec.selector.matchLabels, w.spec.template.metadata.labels));
      if (!target) say(o, 'targets no workload');
      if (o.kind === 'HorizontalPodAutoscaler' && target?.spec.replicas !== undefined) say(o, 'its Deployment also sets replicas');
    }
  }
  return problems;
}

export function workloads(objects: readonly K8sObject[]): K8sObject[] {
  return objects.filter((o) => podSpecOf(o) !== undefined);
}

export function container(o: K8sObject): any {
  return podSpecOf(o).containers[0];
}

/** stave.yaml from the release's ConfigMap. */
export function staveYaml(objects: readonly K8sObject[]): string {
  const cms = objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['stave.yaml'] !== undefined);
  if (cms.length !== 1) throw new Error(`expected one ConfigMap with stave.yaml, found ${cms.length}`);
  return cms[0]!.data!['stave.yaml']!;
}

export interface Verified {
  workload: string;
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `stave -config.verify` with each workload's own arguments on the rendered stave.yaml, and with the
 * environment its container would have (secrets by reference get a placeholder value).
 */
export async function verifyConfig(objects: readonly K8sObject[]): Promise<Verified[]> {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'stave-helm-config-')), 'stave.yaml');
  writeFileSync(file, staveYaml(objects));
  const runs = workloads(objects).map((w) => {
    const c = container(w);
    const args = (c.args as string[]).map((a) => (a.startsWith('-config.file=') ? `-config.file=${file}` : a));
    const env: Record<string, string> = {};
    for (const e of c.env ?? []) env[e.name] = e.value ?? `from-secret-${e.name}`;
    return { workload: `${w.kind}/${w.metadata.name}`, args: [...args, '-config.verify'], env };
  });
  const out: Verified[] = [];
  // Two at a time: each is a Node process start.
  for (let i = 0; i < runs.length; i += 2) {
    const batch = runs.slice(i, i + 2);
    out.push(...(await Promise.all(batch.map(async (r) => ({ workload: r.workload, args: r.args, ...(await runStave(r.args, r.env)) })))));
  }
  return out;
}
