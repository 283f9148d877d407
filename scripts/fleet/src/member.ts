// One member of the fleet: a `stave -target=<component>` child process whose output goes to its own log
// file, and whose bound ports are read from its structured log lines as they arrive.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { MemberSpec } from './topology';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class Member {
  readonly spec: MemberSpec;
  /** Ports as bound (learned from the log), by what: `http`, `grpc`, `memberlist`, or a receiver's name. */
  readonly ports = new Map<string, number>();
  readonly exited: Promise<Exit>;
  private readonly child: ChildProcess;
  private readonly log: WriteStream;
  private partial = '';

  constructor(spec: MemberSpec, command: string[], args: string[]) {
    this.spec = spec;
    mkdirSync(spec.dataDir, { recursive: true });
    mkdirSync(path.dirname(spec.log), { recursive: true });
    this.log = createWriteStream(spec.log, { flags: 'w' });
    this.log.write(`# ${[...command, ...args].join(' ')}\n`);
    // Its own process group: a terminal's Ctrl-C reaches the launcher only, which then stops each member
    // with SIGTERM in its order (ingesters last).
    this.child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: spec.dataDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child.stdout!.pipe(this.log, { end: false });
    this.child.stderr!.on('data', (d: Buffer) => {
      this.log.write(d);
      this.scan(d.toString());
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.log.end();
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Sends `signal` if still running (never throws: the process may be gone already). */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves with how it ended and how long that took. */
  async stop(graceMs: number): Promise<Exit & { ms: number; killed: boolean }> {
    const t0 = Date.now();
    let killed = false;
    this.signal('SIGTERM');
    const timer = setTimeout(() => {
      killed = true;
      this.signal('SIGKILL');
    }, graceMs);
    const r = await this.exited;
    clearTimeout(timer);
    return { ...r, ms: Date.now() - t0, killed };
  }

  private scan(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (rec.msg === 'http server listening' && rec.server === 'http') this.ports.set('http', Number(rec.port));
      else if (rec.msg === 'grpc server listening') this.ports.set('grpc', Number(rec.port));
      else if (rec.msg === 'memberlist listening') this.ports.set('memberlist', Number(String(rec.bind).split(':').pop()));
      else if (rec.msg === 'receiver listening') this.ports.set(String(rec.receiver), Number(rec.port));
    }
  }
}
