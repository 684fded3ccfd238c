/**
 * NSQ's log line format on stderr: `<prefix>YYYY/MM/DD HH:MM:SS.uuuuuu LEVEL: message`.
 */
export type LogLevelName = "debug" | "info" | "warn" | "error" | "fatal";

const LEVEL_NUMBER: Record<LogLevelName, number> = { debug: 1, info: 2, warn: 3, error: 4, fatal: 5 };
const LEVEL_LABEL: Record<LogLevelName, string> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARNING",
  error: "ERROR",
  fatal: "FATAL",
};

export function parseLogLevel(text: string): LogLevelName {
  const lower = text.toLowerCase();
  // the names nsqd accepts: debug, info, warn, error, fatal (not "warning")
  if (lower in LEVEL_NUMBER) return lower as LogLevelName;
  throw new Error(`invalid log level "${text}"`);
}

export function logLevelNumber(level: LogLevelName): number {
  return LEVEL_NUMBER[level];
}

export interface Logger {
  level: LogLevelName;
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** logged whatever the level; the caller exits (Go's lg.LogFatal) */
  fatal(msg: string): void;
}

type Sink = (line: string) => void;

const stderrSink: Sink = (line) => {
  process.stderr.write(line);
};

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

function timestamp(d: Date): string {
  return (
    `${d.getFullYear()}/${pad(d.getMonth() + 1, 2)}/${pad(d.getDate(), 2)} ` +
    `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds() * 1000, 6)}`
  );
}

export function createLogger(prefix: string, level: LogLevelName = "info", sink: Sink = stderrSink): Logger {
  const logger: Logger = {
    level,
    debug: (msg) => write("debug", msg),
    info: (msg) => write("info", msg),
    warn: (msg) => write("warn", msg),
    error: (msg) => write("error", msg),
    fatal: (msg) => write("fatal", msg),
  };
  function write(at: LogLevelName, msg: string): void {
    if (LEVEL_NUMBER[at] < LEVEL_NUMBER[logger.level]) return;
    sink(`${prefix}${timestamp(new Date())} ${LEVEL_LABEL[at]}: ${msg}\n`);
  }
  return logger;
}

/** A logger that drops everything; the default for embedded servers in tests. */
export const silentLogger: Logger = createLogger("", "fatal", () => {});
