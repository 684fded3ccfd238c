/**
 * `--config FILE` support: a TOML file whose keys are cfg keys (flag name with `-`→`_`, or
 * FlagSpec.cfgKey). Precedence per flag: given on the command line > config file > default.
 * Unknown keys are ignored (as nsqd does). Durations may be Go strings ("2s") or integers (ms).
 */
import { readFileSync } from "node:fs";
import { parse as parseTomlForPosition, TomlError } from "smol-toml";
import type { FlagSpec, ParsedArgs } from "./flag-spec.ts";
import { UsageError } from "./usage-error.ts";
import { convertFlagText, givenFlags, markGiven, parseGoFlags, splitRepeatable, type FlagValue } from "./goflags.ts";
import { parseDuration } from "./duration.ts";

export type ConfigTable = Record<string, unknown>;

/** The TOML key a flag is read from. */
export function cfgKeyOf(spec: FlagSpec): string {
  return spec.cfgKey ?? spec.name.replace(/-/g, "_");
}

/** Reads and parses a TOML config file; throws one-line Errors naming the file. */
export function loadConfigFile(path: string): ConfigTable {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = err instanceof Error && "code" in err ? String((err as NodeJS.ErrnoException).code) : String(err);
    throw new Error(`failed to load config file ${path} - ${describeReadError(reason)}`);
  }
  let parsed: unknown;
  try {
    parsed = Bun.TOML.parse(text);
  } catch (err) {
    const reason = (err instanceof Error ? err.message : String(err)).replace(/^TOML Parse error: /, "");
    const at = tomlErrorPosition(text);
    const where = at ? ` at line ${at.line}, column ${at.column}` : "";
    throw new Error(`failed to load config file ${path} - invalid TOML${where}: ${oneLine(reason)}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`failed to load config file ${path} - not a TOML table`);
  }
  return parsed as ConfigTable;
}

/**
 * Bun's TOML parser does not say where a document is wrong; smol-toml does. It is used only to
 * locate the error (Bun's parser stays the one that reads configs, so values are unchanged).
 */
function tomlErrorPosition(text: string): { line: number; column: number } | null {
  try {
    parseTomlForPosition(text);
  } catch (err) {
    if (err instanceof TomlError) return { line: err.line, column: err.column };
  }
  return null;
}

function describeReadError(code: string): string {
  switch (code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
      return "permission denied";
    case "EISDIR":
      return "is a directory";
    default:
      return code;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/** Converts one TOML value for a flag; throws an Error naming the key on a type mismatch. */
export function convertConfigValue(spec: FlagSpec, key: string, raw: unknown): FlagValue {
  const bad = (why: string): Error => new Error(`invalid value ${formatRaw(raw)} for config key "${key}": ${why}`);
  const scalarText = (value: unknown): string => {
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
    throw bad(`expected a ${spec.kind} value`);
  };
  const convertText = (text: string): string | number | boolean => {
    try {
      return convertFlagText(spec, text);
    } catch (err) {
      // re-word the command-line message for the config file (and it is not a usage error)
      throw bad(err instanceof Error ? err.message.replace(/^.*: /, "") : String(err));
    }
  };

  switch (spec.kind) {
    case "strings": {
      const items = Array.isArray(raw) ? raw : [raw];
      return items.flatMap((item) => splitRepeatable(spec, scalarText(item)));
    }
    case "duration":
      if (typeof raw === "number" || typeof raw === "bigint") return Number(raw); // integer = milliseconds
      if (typeof raw !== "string") throw bad("expected a duration string or milliseconds");
      try {
        return parseDuration(raw);
      } catch {
        throw bad("parse error");
      }
    case "bool":
      if (typeof raw === "boolean") return raw;
      return convertText(scalarText(raw));
    case "int":
      if (typeof raw === "number" || typeof raw === "bigint") {
        const n = Number(raw);
        if (!Number.isSafeInteger(n)) throw bad("expected an integer");
        return n;
      }
      return convertText(scalarText(raw));
    case "float":
      if (typeof raw === "number" || typeof raw === "bigint") return Number(raw);
      return convertText(scalarText(raw));
    case "string":
      return scalarText(raw);
  }
}

function formatRaw(raw: unknown): string {
  try {
    return typeof raw === "bigint" ? String(raw) : JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}

/**
 * Fills `args` from a parsed config table for every flag not given on the command line.
 * Mutates and returns `args`; flags taken from the file count as given.
 */
export function applyConfig(args: ParsedArgs, flags: readonly FlagSpec[], config: ConfigTable): ParsedArgs {
  const fromCommandLine = new Set(givenFlags(args));
  for (const spec of flags) {
    if (fromCommandLine.has(spec.name)) continue;
    const key = cfgKeyOf(spec);
    if (!Object.hasOwn(config, key)) continue;
    args[spec.name] = convertConfigValue(spec, key, config[key]);
    markGiven(args, spec.name, "config");
  }
  return args;
}

/**
 * The whole command-line resolution for a command: Go-style flags, then (when the command accepts
 * one and `--config` is set) the TOML file for the flags not on the command line, then defaults.
 * `flags` must include a string flag named "config" for the file to be read.
 */
export function resolveCommandLine(argv: readonly string[], flags: readonly FlagSpec[]): ParsedArgs {
  const args = parseGoFlags(argv, flags);
  const configPath = args["config"];
  if (flags.some((f) => f.name === "config") && typeof configPath === "string" && configPath !== "") {
    applyConfig(args, flags, loadConfigFile(configPath));
  }
  return args;
}

export { UsageError };
