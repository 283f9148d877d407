// Terminal output for the `stave query` and `stave blocks` commands: aligned tables and a progress bar
// on stderr that is drawn only when stderr is a terminal (so pipes and logs stay clean).

/** Where a command writes: stdout for results, stderr for messages and progress. */
export interface CommandIO {
  out: (text: string) => void;
  err: (text: string) => void;
  /** stderr is a terminal: progress bars are drawn. */
  errIsTTY: boolean;
  /** Columns of the terminal (progress bar width); 80 when unknown. */
  columns?: number;
}

/** Columns padded to their widest cell; a header row in capitals. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, alignRight: ReadonlySet<number> = new Set()): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 && !alignRight.has(i) ? c : alignRight.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n') + '\n';
}

/** A progress bar `label [=====     ] 12/40`, redrawn in place at most every 100 ms; silent off a TTY. */
export class Progress {
  private done = 0;
  private drawnAt = 0;
  private drawn = false;

  constructor(
    private readonly io: CommandIO,
    private readonly label: string,
    private total: number,
  ) {}

  setTotal(total: number): void {
    this.total = total;
    this.draw(true);
  }

  tick(n = 1): void {
    this.done += n;
    this.draw(this.done >= this.total);
  }

  /** Clears the bar (call before printing results). */
  finish(): void {
    if (this.drawn) this.io.err('\r\x1b[2K');
    this.drawn = false;
  }

  private draw(force: boolean): void {
    if (!this.io.errIsTTY) return;
    const now = Date.now();
    if (!force && now - this.drawnAt < 100) return;
    this.drawnAt = now;
    const counts = ` ${this.done}/${this.total}`;
    const width = Math.max(10, Math.min(50, (this.io.columns ?? 80) - this.label.length - counts.length - 4));
    const filled = this.total > 0 ? Math.round((Math.min(this.done, this.total) / this.total) * width) : 0;
    this.io.err(`\r${this.label} [${'='.repeat(filled)}${' '.repeat(width - filled)}]${counts}`);
    this.drawn = true;
  }
}

/** Command flags: `--name value`, `--name=value`, `-name=value`; the rest are positional. */
export function parseCommandArgs(argv: readonly string[], valued: ReadonlySet<string>): { flags: Map<string, string>; positional: string[] } {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const body = a.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (eq >= 0) flags.set(name, body.slice(eq + 1));
    else if (valued.has(name)) {
      if (i + 1 >= argv.length) throw new UsageError(`flag --${name} needs a value`);
      flags.set(name, argv[++i]!);
    } else flags.set(name, 'true');
  }
  return { flags, positional };
}

export class UsageError extends Error {}

/** `--output json|table` (default table). */
export function outputFormat(flags: Map<string, string>): 'json' | 'table' {
  const o = flags.get('output') ?? flags.get('o') ?? 'table';
  if (o !== 'json' && o !== 'table') throw new UsageError(`--output must be json or table, not "${o}"`);
  return o;
}
