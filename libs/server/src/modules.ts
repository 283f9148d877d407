// The module graph: each module names its dependencies and how to build its service. A target is a
// module; starting it starts its transitive dependencies first (dependency order), and stopping goes in
// reverse. Initialisation (building services, registering routes) runs for every module before any
// service starts, so servers know all their routes before they listen.

import { State, type Service } from '@stave/core';

export interface ModuleDef<Ctx> {
  readonly name: string;
  readonly deps: readonly string[];
  /** Builds the module's service; a module that only groups others (like `all`) has none. */
  readonly init?: (ctx: Ctx) => Service | undefined | Promise<Service | undefined>;
  /** Shown as a valid `-target`. */
  readonly userVisible?: boolean;
}

export class UnknownTargetError extends Error {
  constructor(
    readonly target: string,
    readonly valid: readonly string[],
  ) {
    super(`unknown target "${target}"; valid targets: ${valid.join(', ')}`);
    this.name = 'UnknownTargetError';
  }
}

export class ModuleManager<Ctx> {
  private readonly defs = new Map<string, ModuleDef<Ctx>>();

  register(def: ModuleDef<Ctx>): this {
    if (this.defs.has(def.name)) throw new Error(`module ${def.name} registered twice`);
    this.defs.set(def.name, def);
    return this;
  }

  /** The targets a user may name, sorted. */
  userTargets(): string[] {
    return [...this.defs.values()]
      .filter((d) => d.userVisible)
      .map((d) => d.name)
      .sort();
  }

  /** The modules `targets` need, each after its dependencies. */
  resolve(targets: readonly string[]): string[] {
    const order: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (name: string, path: string[]): void => {
      const def = this.defs.get(name);
      if (!def) {
        if (path.length === 0) throw new UnknownTargetError(name, this.userTargets());
        throw new Error(`module ${path[path.length - 1]} depends on unknown module ${name}`);
      }
      const s = state.get(name);
      if (s === 'done') return;
      if (s === 'visiting') throw new Error(`module dependency cycle: ${[...path, name].join(' → ')}`);
      state.set(name, 'visiting');
      for (const d of def.deps) visit(d, [...path, name]);
      state.set(name, 'done');
      order.push(name);
    };
    for (const t of targets) {
      if (!this.defs.get(t)?.userVisible) throw new UnknownTargetError(t, this.userTargets());
      visit(t, []);
    }
    return order;
  }

  /** Builds every module `targets` need, in dependency order, without starting anything. */
  async init(targets: readonly string[], ctx: Ctx): Promise<RunningModules> {
    const services: Array<[string, Service]> = [];
    for (const name of this.resolve(targets)) {
      const svc = await this.defs.get(name)!.init?.(ctx);
      if (svc) services.push([name, svc]);
    }
    return new RunningModules(services);
  }
}

/** The services of a resolved target, started in order and stopped in reverse. */
export class RunningModules {
  private stopping = false;

  constructor(private readonly services: ReadonlyArray<readonly [string, Service]>) {}

  /** Starts each service after the ones before it are Running; on a failure stops those already started. */
  async start(): Promise<void> {
    for (const [, svc] of this.services) {
      if (this.stopping) return;
      try {
        await svc.start();
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const [, svc] of [...this.services].reverse()) await svc.stop();
  }

  /** Names of services that are not Running (empty when all are ready). */
  notRunning(): Array<{ name: string; state: State }> {
    return this.services.filter(([, s]) => s.state !== State.Running).map(([name, s]) => ({ name, state: s.state }));
  }

  states(): Array<{ name: string; state: State; failure?: string }> {
    return this.services.map(([name, s]) => ({ name, state: s.state, ...(s.failureCase ? { failure: s.failureCase.message } : {}) }));
  }

  /** Calls `listener` when any service fails while running. */
  onFailure(listener: (name: string, err: Error) => void): void {
    for (const [name, svc] of this.services) svc.onFailure((err) => listener(name, err));
  }
}
