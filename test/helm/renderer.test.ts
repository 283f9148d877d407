// The chart renderer (test/helm/render) behaves as `helm template` does where the Stave chart relies on it:
// value merging, Helm's functions, partials and NOTES.txt, document splitting and install order.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildRenderer, parseManifests } from './chart';

const run = promisify(execFile);

const CHART_FILES: Record<string, string> = {
  'Chart.yaml': 'apiVersion: v2\nname: fixture\nversion: 1.2.3\nappVersion: "4.5"\n',
  'values.yaml': 'name: base\nnested:\n  keep: 1\n  drop: 2\n  list: [a, b]\nbig: 524288000\nlegacy: yes\ngreeting: "hello {{ .Release.Name }}"\nopt: null\n',
  'templates/_helpers.tpl': '{{- define "fixture.label" -}}{{ .Chart.Name }}-{{ .Release.Name }}{{- end }}\nkind: NotRendered\n',
  'templates/NOTES.txt': 'Installed {{ .Release.Name }} ({{ .Values.name }}).\n',
  'templates/a-deployment.yaml': [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: {{ include "fixture.label" . }}',
    '  namespace: {{ .Release.Namespace }}',
    'data:',
    '  printed: "{{ .Values.big }}"',
    '  asInt: {{ .Values.big | int }}',
    '  nested:',
    '    {{- toYaml .Values.nested | nindent 4 }}',
    '  greeting: {{ tpl .Values.greeting . | quote }}',
    '  hasHpa: {{ .Capabilities.APIVersions.Has "autoscaling/v2" }}',
    '  template: {{ .Template.Name }}',
    '  chart: {{ .Chart.Name }}-{{ .Chart.Version }}-{{ .Chart.AppVersion }}',
    '  missing: "{{ .Values.nothing }}"',
    '  fromYaml: {{ (fromYaml "a: 1").a }}',
    '  legacy: {{ .Values.legacy }}',
  ].join('\n'),
  'templates/b-services.yaml':
    '---\n# only a comment\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s1\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c1\n',
};

let renderer: string;
let chart: string;
let tmp: string;
beforeAll(async () => {
  renderer = await buildRenderer();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'stave-render-fixture-'));
  chart = path.join(tmp, 'fixture');
  for (const [f, text] of Object.entries(CHART_FILES)) {
    mkdirSync(path.dirname(path.join(chart, f)), { recursive: true });
    writeFileSync(path.join(chart, f), text);
  }
}, 300_000);

function valuesFile(name: string, text: string): string {
  const f = path.join(tmp, name);
  writeFileSync(f, text);
  return f;
}

async function render(...args: string[]): Promise<string> {
  return (await run(renderer, [...args, chart])).stdout;
}

describe('helm-render', () => {
  it('renders like helm template: sources, install order, empty documents dropped, partials not rendered', async () => {
    const out = await render('-name', 'rel', '-namespace', 'ns');
    expect(out.match(/^# Source: .*$/gm)).toEqual([
      '# Source: fixture/templates/b-services.yaml',
      '# Source: fixture/templates/b-services.yaml',
      '# Source: fixture/templates/a-deployment.yaml',
    ]);
    expect(parseManifests(out).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ConfigMap/c1', 'Service/s1', 'Deployment/fixture-rel']);
    expect(out).not.toContain('NotRendered');
    expect(out).not.toContain('Installed');
    // toYaml prints as Helm's sigs.k8s.io/yaml (yaml.v2): a list under a key is not indented.
    expect(out).toContain('  nested:\n    drop: 2\n    keep: 1\n    list:\n    - a\n    - b\n');
  });

  it('gives templates Helm data and functions, numbers as Helm prints them', async () => {
    const [deploy] = parseManifests(await render('-name', 'rel', '-namespace', 'ns')).filter((o) => o.kind === 'Deployment');
    expect(deploy!.metadata.namespace).toBe('ns');
    expect(deploy!.data).toEqual({
      // Helm reads values through JSON: every number is a float64, printed as Go prints one.
      printed: '5.24288e+08',
      asInt: 524288000,
      nested: { drop: 2, keep: 1, list: ['a', 'b'] },
      greeting: 'hello rel',
      hasHpa: true,
      template: 'fixture/templates/a-deployment.yaml',
      chart: 'fixture-1.2.3-4.5',
      missing: '',
      fromYaml: 1,
      // YAML 1.1, as Helm's yaml.v2 reads it.
      legacy: true,
    });
  });

  it('merges -f files in order over values.yaml, then -set; null deletes a default', async () => {
    const one = valuesFile('one.yaml', 'nested:\n  keep: 10\n  drop: null\n  list: [c]\n');
    const two = valuesFile('two.yaml', 'nested:\n  keep: 20\n');
    const out = parseManifests(await render('-f', one, '-f', two, '-set', 'nested.extra=true'));
    expect(out.find((o) => o.kind === 'Deployment')!.data!.nested).toEqual({ keep: 20, list: ['c'], extra: true });
  });

  it('prints NOTES.txt alone with -notes', async () => {
    expect(await render('-notes', '-name', 'rel')).toBe('Installed rel (base).\n');
  });

  it('fails on required and fail, and has no env function', async () => {
    const bad = (tpl: string) => {
      writeFileSync(path.join(chart, 'templates', 'z.yaml'), tpl);
      return render();
    };
    await expect(bad('{{ required "name the thing" .Values.opt }}')).rejects.toThrow('name the thing');
    await expect(bad('{{ fail "no way" }}')).rejects.toThrow('no way');
    await expect(bad('{{ env "HOME" }}')).rejects.toThrow('function "env" not defined');
    rmSync(path.join(chart, 'templates', 'z.yaml'));
  });
});
