// Every long-lived part of Stave is a Service with one lifecycle:
//   New → Starting → Running → Stopping → Terminated
//                 ↘ Failed (from Starting or Running; Stopping failures too)
// Correctness work (config checks, WAL replay, ring join) belongs in `starting`; a service is Running, and
// counts as ready, only once `starting` resolved. `stop()` is safe to call more than once and in any state.

export enum State {
  New = 'New',
  Starting = 'Starting',
  Running = 'Running',
  Stopping = 'Stopping',
  Terminated = 'Terminated',
  Failed = 'Failed',
}

export interface Service {
  readonly name: string;
  readonly state: State;
  readonly failureCase: Error | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves when the service is Terminated or Failed. */
  terminated(): Promise<void>;
  /** Called with the failure when a Running service fails on its own. */
  onFailure(listener: (err: Error) => void): void;
}

export interface ServiceHooks {
  /** Runs in Starting; the service is Running once it resolves. */
  starting?: (signal: AbortSignal) => Promise<void>;
  /** Runs in Stopping; release everything `starting` acquired. */
  stopping?: () => Promise<void>;
}

/**
 * A service defined by hooks. Subclasses may instead override `starting`/`stopping`. A running service
 * that hits an unrecoverable error calls `fail(err)`: it stops itself and its failure listeners run (the
 * module manager then stops the process with a non-zero exit).
 */
export class BasicService implements Service {
  private current: State = State.New;
  private failure: Error | undefined;
  private readonly abort = new AbortController();
  private startPromise: Promise<void> | undefined;
  private stopPromise: Promise<void> | undefined;
  private readonly failureListeners: Array<(err: Error) => void> = [];
  private resolveTerminated!: () => void;
  private readonly terminatedPromise = new Promise<void>((resolve) => (this.resolveTerminated = resolve));

  constructor(
    readonly name: string,
    private readonly hooks: ServiceHooks = {},
  ) {}

  get state(): State {
    return this.current;
  }

  get failureCase(): Error | undefined {
    return this.failure;
  }

  protected async starting(signal: AbortSignal): Promise<void> {
    await this.hooks.starting?.(signal);
  }

  protected async stopping(): Promise<void> {
    await this.hooks.stopping?.();
  }

  start(): Promise<void> {
    this.startPromise ??= this.runStart();
    return this.startPromise;
  }

  private async runStart(): Promise<void> {
    if (this.current !== State.New) throw new Error(`service ${this.name}: cannot start in state ${this.current}`);
    this.current = State.Starting;
    try {
      await this.starting(this.abort.signal);
    } catch (err) {
      this.failure = asError(err);
      this.current = State.Failed;
      await this.stopping().catch(() => undefined);
      this.resolveTerminated();
      throw new Error(`service ${this.name} failed to start: ${this.failure.message}`, { cause: err });
    }
    if ((this.current as State) !== State.Starting) return; // stopped while starting
    this.current = State.Running;
  }

  stop(): Promise<void> {
    this.stopPromise ??= this.runStop();
    return this.stopPromise;
  }

  private async runStop(): Promise<void> {
    if (this.current === State.New) {
      this.current = State.Terminated;
      this.resolveTerminated();
      return;
    }
    this.abort.abort();
    if (this.current === State.Starting) await this.startPromise?.catch(() => undefined);
    if (this.current === State.Failed || this.current === State.Terminated) return;
    this.current = State.Stopping;
    try {
      await this.stopping();
      this.current = State.Terminated;
    } catch (err) {
      this.failure = asError(err);
      this.current = State.Failed;
    } finally {
      this.resolveTerminated();
    }
  }

  terminated(): Promise<void> {
    return this.terminatedPromise;
  }

  onFailure(listener: (err: Error) => void): void {
    this.failureListeners.push(listener);
  }

  /** A running service reports an unrecoverable error: it stops and the listeners hear why. */
  protected fail(err: unknown): void {
    if (this.current !== State.Running) return;
    this.failure = asError(err);
    void this.stop().finally(() => {
      this.current = State.Failed;
      for (const l of this.failureListeners) l(this.failure!);
    });
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
