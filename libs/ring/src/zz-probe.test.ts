/**
 * @jest-environment ./libs/ring/src/zz-env.ts
 */
test('loads via outer import', async () => {
  const k8s = await (globalThis as any).__nodeImport(require.resolve('@kubernetes/client-node'));
  expect(typeof k8s.KubeConfig).toBe('function');
  const kc = new k8s.KubeConfig();
  expect(kc).toBeDefined();
});
