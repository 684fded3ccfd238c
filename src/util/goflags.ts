/**
 * Go-style command-line flags for a FlagSpec[] (the real NSQ programs use Go's `flag` package).
 *
 * Accepted forms: `-flag value`, `-flag=value`, `--flag value`, `--flag=value`; bool flags (and
 * flags with `implicitValue`, Go's IsBoolFlag) as `-flag` or `-flag=true|false` and never consume
 * the next argument. A value always comes from the next argument, even when it starts with `-`
 * (as in Go). `--` ends flag parsing. Positionals may appear between flags (GNU style).
 *
 * Why not yargs-parser here: its rules differ from Go's in ways that matter for compatibility
 * (a single dash means short-option groups, `--bool false` consumes `false`, a value starting with
 * `-` is taken as the next flag, numbers are coerced loosely). yargs still drives the command layer
 * (src/cli.ts: help listing, shell completion); this module only does the Go flag semantics.
 */
import type { FlagSpec, ParsedArgs } from "./flag-spec.ts";
import { UsageError } from "./usage-error.ts";
import { parseDuration, formatDuration } from "./duration.ts";

export type FlagValue = string | number | boolean | string[];

/** Where an explicitly set flag's value came from. */
export type FlagSource = "command-line" | "config";

/** Flags set explicitly (not by defaults), per parse result. */
const given = new WeakMap<ParsedArgs, Map<string, FlagSource>>();

/** Names of the flags given explicitly (command line or config file) for a parse result. */
export function givenFlags(args: ParsedArgs): ReadonlySet<string> {
  return new Set(given.get(args)?.keys() ?? []);
}

/** Where flag `name` got its value, or undefined when it holds its default. */
export function flagSource(args: ParsedArgs, name: string): FlagSource | undefined {
  return given.get(args)?.get(name);
}

/** Records that `name` was set explicitly (the config-file layer uses source "config"). */
export function markGiven(args: ParsedArgs, name: string, source: FlagSource = "command-line"): void {
  let sources = given.get(args);
  if (!sources) given.set(args, (sources = new Map()));
  sources.set(name, source);
}

/** A flag that never takes the following argument as its value. */
function isBoolLike(spec: FlagSpec): boolean {
  return spec.kind === "bool" || spec.implicitValue !== undefined;
}

/** Default value of a flag as it appears in ParsedArgs (arrays are copied so callers may mutate). */
export function defaultValue(spec: FlagSpec): FlagValue | undefined {
  if (spec.kind === "strings") return Array.isArray(spec.default) ? [...spec.default] : [];
  if (spec.kind === "bool") return spec.default === undefined ? false : spec.default;
  return Array.isArray(spec.default) ? [...spec.default] : spec.default;
}

const GO_INT_RE = /^[+-]?(?:0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[bB][01]+(?:_[01]+)*|0[oO]?[0-7]+(?:_[0-7]+)*|[1-9][0-9]*(?:_[0-9]+)*|0)$/;

/** Go's strconv.ParseInt(s, 0, 64): decimal, 0x, 0b, 0o and leading-0 octal, `_` between digits. */
export function parseGoInt(text: string): number {
  if (!GO_INT_RE.test(text)) throw new Error("parse error");
  let body = text.replace(/_/g, "");
  let sign = 1;
  if (body[0] === "-" || body[0] === "+") {
    if (body[0] === "-") sign = -1;
    body = body.slice(1);
  }
  let value: number;
  if (/^0[xX]/.test(body)) value = parseInt(body.slice(2), 16);
  else if (/^0[bB]/.test(body)) value = parseInt(body.slice(2), 2);
  else if (/^0[oO]/.test(body)) value = parseInt(body.slice(2), 8);
  else if (body.length > 1 && body[0] === "0") value = parseInt(body.slice(1), 8);
  else value = parseInt(body, 10);
  if (!Number.isSafeInteger(value)) throw new Error("value out of range");
  return sign * value;
}

const GO_FLOAT_RE = /^[+-]?(?:(?:\d+(?:_\d+)*)?\.?\d*(?:_\d+)*(?:[eE][+-]?\d+)?|inf|infinity|nan)$/i;

/** Go's strconv.ParseFloat(s, 64) for the forms people actually type. */
export function parseGoFloat(text: string): number {
  if (text === "" || !GO_FLOAT_RE.test(text) || !/\d|inf|nan/i.test(text)) throw new Error("parse error");
  const lower = text.toLowerCase().replace(/_/g, "");
  if (lower.endsWith("nan")) return NaN;
  if (lower.includes("inf")) return lower.startsWith("-") ? -Infinity : Infinity;
  const value = Number(lower);
  if (Number.isNaN(value)) throw new Error("parse error");
  return value;
}

/** Go's strconv.ParseBool. */
export function parseGoBool(text: string): boolean {
  switch (text) {
    case "1": case "t": case "T": case "true": case "TRUE": case "True":
      return true;
    case "0": case "f": case "F": case "false": case "FALSE": case "False":
      return false;
    default:
      throw new Error("parse error");
  }
}

/**
 * Converts one textual flag value per the flag's kind. Throws a UsageError worded like Go's flag
 * package, e.g. `invalid value "abc" for flag -mem-queue-size: parse error`.
 */
export function convertFlagText(spec: FlagSpec, text: string): string | number | boolean {
  try {
    switch (spec.kind) {
      case "int":
        return parseGoInt(text);
      case "float":
        return parseGoFloat(text);
      case "duration":
        try {
          return parseDuration(text);
        } catch {
          throw new Error("parse error");
        }
      case "bool":
        try {
          return parseGoBool(text);
        } catch {
          throw new UsageError(`invalid boolean value "${text}" for -${spec.name}: parse error`);
        }
      case "string":
      case "strings":
        return text;
    }
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new UsageError(`invalid value "${text}" for flag -${spec.name}: ${reason}`);
  }
}

/** Splits a repeatable flag's value on commas when the flag asks for it (empty parts dropped). */
export function splitRepeatable(spec: FlagSpec, text: string): string[] {
  if (!spec.commaSeparated) return [text];
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "");
}

/** Index of flags by name and alias. */
function indexFlags(flags: readonly FlagSpec[]): Map<string, FlagSpec> {
  const byName = new Map<string, FlagSpec>();
  for (const spec of flags) {
    byName.set(spec.name, spec);
    if (spec.alias) byName.set(spec.alias, spec);
  }
  return byName;
}

/**
 * Parses argv (the arguments after the program / subcommand name) against `flags`.
 * Every declared flag gets its default; flags given on the command line override it.
 * Unknown flags and bad values throw UsageError.
 */
export function parseGoFlags(argv: readonly string[], flags: readonly FlagSpec[]): ParsedArgs {
  const byName = indexFlags(flags);
  const result: ParsedArgs = { _: [] };
  for (const spec of flags) {
    const value = defaultValue(spec);
    if (value !== undefined) result[spec.name] = value;
  }
  const setOnCommandLine = new Set<string>();

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") {
      result._.push(...argv.slice(i + 1));
      break;
    }
    if (token.length < 2 || token[0] !== "-") {
      result._.push(token);
      continue;
    }
    const body = token.startsWith("--") ? token.slice(2) : token.slice(1);
    if (body === "" || body[0] === "-" || body[0] === "=") {
      throw new UsageError(`bad flag syntax: ${token}`);
    }
    const eq = body.indexOf("=");
    const name = eq === -1 ? body : body.slice(0, eq);
    const spec = byName.get(name);
    // named with the dashes the user typed (Go always prints one), so `--x` is reported as `--x`
    if (!spec) throw new UsageError(`flag provided but not defined: ${token.startsWith("--") ? "--" : "-"}${name}`);

    let text: string;
    if (eq !== -1) {
      text = body.slice(eq + 1);
    } else if (isBoolLike(spec)) {
      text = spec.kind === "bool" ? "true" : spec.implicitValue!;
    } else if (i + 1 < argv.length) {
      text = argv[++i]!;
    } else {
      throw new UsageError(`flag needs an argument: -${name}`);
    }

    if (spec.kind === "strings") {
      // the first command-line occurrence replaces the default list; later ones append
      const current = setOnCommandLine.has(spec.name) ? (result[spec.name] as string[]) : [];
      current.push(...splitRepeatable(spec, text));
      result[spec.name] = current;
    } else {
      result[spec.name] = convertFlagText(spec, text);
    }
    setOnCommandLine.add(spec.name);
    markGiven(result, spec.name);
  }
  return result;
}

/** Renders a flag's default the way Go's usage output does (durations as Go strings). */
function describeDefault(spec: FlagSpec): string | undefined {
  const value = spec.default;
  if (value === undefined || value === "" || value === false) return undefined;
  if (Array.isArray(value)) return value.length ? value.join(",") : undefined;
  if (spec.kind === "duration" && typeof value === "number") return formatDuration(value);
  if (spec.kind === "string" || spec.kind === "strings") return JSON.stringify(value);
  return String(value);
}

const KIND_PLACEHOLDER: Record<FlagSpec["kind"], string> = {
  string: "string",
  strings: "value",
  int: "int",
  float: "float",
  duration: "duration",
  bool: "",
};

/** Go-like usage text: one `-flag type` line, then the description with its default. */
export function formatFlagUsage(flags: readonly FlagSpec[]): string {
  const lines: string[] = [];
  for (const spec of [...flags].sort((a, b) => a.name.localeCompare(b.name))) {
    const placeholder = spec.implicitValue !== undefined ? "" : KIND_PLACEHOLDER[spec.kind];
    const alias = spec.alias ? `, -${spec.alias}` : "";
    lines.push(`  -${spec.name}${alias}${placeholder ? " " + placeholder : ""}`);
    const def = describeDefault(spec);
    const repeat = spec.kind === "strings" && !/multiple times/.test(spec.describe) ? " (may be given multiple times)" : "";
    lines.push(`    \t${spec.describe}${repeat}${def !== undefined ? ` (default ${def})` : ""}`);
  }
  return lines.join("\n");
}
