// Structured logs, one line per event, to stderr: JSON by default, logfmt when `server.log_format: logfmt`.
// Every line has ts, level, msg, and the fields of its logger (component, tenant, ...).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'json' | 'logfmt';
export type LogFields = Record<string, unknown>;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface LogSink {
  write(line: string): void;
}

export class Logger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly format: LogFormat = 'json',
    private readonly fields: LogFields = {},
    private readonly sink: LogSink = process.stderr,
  ) {}

  child(fields: LogFields): Logger {
    return new Logger(this.level, this.format, { ...this.fields, ...fields }, this.sink);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const entry: LogFields = { ts: new Date().toISOString(), level };
    // A field may not overwrite ts, level or msg (a `level: 1` field once printed as the line's level):
    // it keeps its value under an underscore-suffixed key.
    const add = (from: LogFields | undefined) => {
      if (from) for (const [k, v] of Object.entries(from)) entry[RESERVED.has(k) ? `${k}_` : k] = v instanceof Error ? v.message : v;
    };
    add(this.fields);
    entry.msg = msg;
    add(fields);
    this.sink.write((this.format === 'json' ? JSON.stringify(entry) : logfmt(entry)) + '\n');
  }
}

const RESERVED = new Set(['ts', 'level', 'msg']);

function logfmt(entry: LogFields): string {
  return Object.entries(entry)
    .map(([k, v]) => {
      const s = typeof v === 'string' ? v : JSON.stringify(v);
      return `${k}=${/[\s"=]/.test(s) || s === '' ? JSON.stringify(s) : s}`;
    })
    .join(' ');
}

/** A logger that drops everything (tests that do not read logs). */
export const nopLogger = new Logger('error', 'json', {}, { write: () => undefined });
