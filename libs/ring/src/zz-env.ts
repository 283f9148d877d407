import { TestEnvironment } from 'jest-environment-node';
export default class NodeRequireEnvironment extends TestEnvironment {
  override async setup(): Promise<void> {
    await super.setup();
    (this.global as any).__nodeImport = (s: string) => import(s);
  }
}
