#!/usr/bin/env bun
/**
 * The `nsq` executable: one binary, many programs.
 *
 *   nsq <command> [flags]        run a subcommand (serve, lookupd, tools…)
 *   nsqd [flags]                 multi-call: invoked under a program name (symlink), runs that command
 *   nsq --version | nsq <command> --version
 *   nsq help [command] | nsq <command> --help
 *   nsq completion [shell]       shell completion script (bash, zsh, fish)
 *
 * Exit codes: 0 ok, 1 runtime failure, 2 usage error. Errors are one line on stderr.
 * Flags of a command use Go's syntax (src/util/goflags.ts); yargs provides the command listing and
 * shell completion, fed from the same FlagSpec tables.
 */
import { basename } from "node:path";
import yargs, { type Argv, type Options } from "yargs";
import { Chalk, type ChalkInstance } from "chalk";
import { COMMANDS } from "./commands/index.ts";
import type { FlagSpec, NsqCommand } from "./commands/types.ts";
import { UsageError } from "./commands/types.ts";
import { formatFlagUsage } from "./util/goflags.ts";
import { resolveCommandLine } from "./util/config-file.ts";
import { checkAddressFlags } from "./commands/address-flags.ts";
import { daemonVersionLine, NSQ_VERSION, PACKAGE_VERSION, RUNTIME } from "./protocol/version.ts";

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org). */
function colourFor(stream: { isTTY?: boolean }): ChalkInstance {
  const noColor = process.env["NO_COLOR"] !== undefined && process.env["NO_COLOR"] !== "";
  return new Chalk({ level: stream.isTTY && !noColor ? 1 : 0 });
}

/** Strips directory and extension: "/usr/bin/nsqd.exe" → "nsqd". */
function programBaseName(path: string | undefined): string {
  if (!path) return "";
  return basename(path).replace(/\.(exe|ts|js|mjs)$/i, "");
}

/**
 * The command to run when the executable is invoked under one of its program names (multi-call).
 * argv0 carries the invoked name for compiled executables (symlinks included); argv[1] is the
 * script path when run by bun (bun resolves symlinks there, so scripts need `nsq <command>`).
 */
export function commandForProgramName(
  argv0: string | undefined,
  script: string | undefined,
  commands: readonly NsqCommand[] = COMMANDS,
): NsqCommand | undefined {
  for (const name of [programBaseName(argv0), programBaseName(script)]) {
    if (!name) continue;
    const found = commands.find((c) => c.programNames?.includes(name));
    if (found) return found;
  }
  return undefined;
}

/** The name a command presents itself with: its first program name, else `nsq <command>`. */
function displayName(command: NsqCommand): string {
  return command.programNames?.[0] ?? `nsq ${command.name}`;
}

/** `--version` text: daemons name the runtime the way Go's daemons name the Go version. */
export function versionLine(command?: NsqCommand): string {
  // the implementation's own version beside the NSQ version it implements (both from version.ts)
  if (!command) return `nsq ${PACKAGE_VERSION} (implements NSQ v${NSQ_VERSION}; ${RUNTIME})`;
  const name = command.programNames?.[0] ?? "nsq";
  return command.daemon ? daemonVersionLine(name) : `${name} v${NSQ_VERSION}`;
}

/** The flags a command parses: its own plus --version, --help and (when accepted) --config. */
function commandFlags(command: NsqCommand): FlagSpec[] {
  const flags = [...command.flags];
  const has = (name: string) => flags.some((f) => f.name === name || f.alias === name);
  if (!has("version")) flags.push({ name: "version", kind: "bool", describe: "print version string" });
  if (!has("help")) flags.push({ name: "help", kind: "bool", alias: has("h") ? undefined : "h", describe: "show this help" });
  if (command.acceptsConfigFile && !has("config")) {
    flags.push({ name: "config", kind: "string", default: "", describe: "path to config file" });
  }
  return flags;
}

/** Go-like usage text for one command. */
export function commandUsage(command: NsqCommand, invokedAs?: string): string {
  const bold = colourFor(process.stdout).bold;
  const usage = invokedAs ?? `nsq ${command.name}`;
  const positional = command.positional ? ` ${command.positional}` : "";
  return (
    `${bold("Usage:")} ${usage} [flags]${positional}\n\n${command.describe}\n\n${bold("Flags:")}\n` +
    `${formatFlagUsage(commandFlags(command))}\n`
  );
}

/** yargs' view of a FlagSpec, used for the command listing and shell completion only. */
function yargsOption(spec: FlagSpec): Options {
  const type = spec.kind === "bool" ? "boolean" : spec.kind === "int" || spec.kind === "float" ? "number" : "string";
  return { describe: spec.describe, type, array: spec.kind === "strings", alias: spec.alias };
}

function buildYargs(argv: string[], commands: readonly NsqCommand[]): Argv {
  let parser = yargs(argv)
    .scriptName("nsq")
    .usage("$0 <command> [flags]\n\nNSQ, the realtime distributed messaging platform.")
    .version(false)
    .help(false)
    .exitProcess(false)
    .strict(false)
    .wrap(100);
  for (const command of commands) {
    const spec = command.positional ? `${command.name} ${command.positional}` : command.name;
    parser = parser.command(spec, command.describe, (sub) => {
      for (const flag of commandFlags(command)) sub.option(flag.name, yargsOption(flag));
      return sub;
    });
  }
  return parser
    .command("help [command]", "show help for a command")
    .epilog("Run 'nsq help <command>' for a command's flags. Flags accept Go syntax (-flag=value) too.");
}

/** Top-level help text (yargs' command listing). */
async function topLevelHelp(commands: readonly NsqCommand[]): Promise<string> {
  return (await buildYargs([], commands).getHelp()) + "\n";
}

/** Parses a command's flags (and config file) and runs it. */
async function runCommand(command: NsqCommand, argv: string[], io: CliIo, invokedAs?: string): Promise<number> {
  const args = resolveCommandLine(argv, commandFlags(command));
  if (args["help"] === true) {
    io.out(commandUsage(command, invokedAs));
    return 0;
  }
  if (args["version"] === true) {
    io.out(versionLine(command) + "\n");
    return 0;
  }
  checkAddressFlags(args, command.flags);
  const code = await command.run(args, { invokedAs });
  return typeof code === "number" ? code : 0;
}

function findCommand(name: string, commands: readonly NsqCommand[]): NsqCommand {
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command "${name}"`);
  return command;
}

/** Turns any thrown value into one line: message only, no stack. */
function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim() || (err instanceof Error ? err.name : "error");
}

export interface MainOptions {
  /** argv[0] as the OS gave it (multi-call detection) */
  argv0?: string;
  /** the script path bun runs (multi-call detection in script mode) */
  script?: string;
  io?: CliIo;
  commands?: readonly NsqCommand[];
}

/** Runs the CLI for `argv` (arguments after the program) and resolves with the exit code. */
export async function main(argv: string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  const commands = options.commands ?? COMMANDS;
  const multiCall = commandForProgramName(options.argv0, options.script, commands);
  // how errors are prefixed, and where a usage error points the user
  let label = multiCall ? displayName(multiCall) : "nsq";
  let helpHint = multiCall ? `${label} -help` : "nsq help";
  try {
    if (multiCall) return await runCommand(multiCall, argv, io, label);

    const [first, ...rest] = argv;
    if (first === undefined) {
      io.err(await topLevelHelp(commands));
      return 2;
    }
    if (first === "--version" || first === "-version" || first === "-v") {
      io.out(versionLine() + "\n");
      return 0;
    }
    if (first === "--help" || first === "-help" || first === "-h") {
      io.out(await topLevelHelp(commands));
      return 0;
    }
    if (first === "help") {
      if (rest.length === 0) {
        io.out(await topLevelHelp(commands));
        return 0;
      }
      io.out(commandUsage(findCommand(rest[0]!, commands)));
      return 0;
    }
    if (first.startsWith("-")) throw new UsageError(`flag provided but not defined: ${first}`);
    const command = findCommand(first, commands);
    label = `nsq ${command.name}`;
    helpHint = `nsq help ${command.name}`;
    return await runCommand(command, rest, io);
  } catch (err) {
    const red = colourFor(process.stderr).red;
    const usage = err instanceof UsageError;
    const message = oneLine(err);
    const hint = usage && !message.includes("(see '") ? ` (see '${helpHint}')` : "";
    io.err(`${red(label + ":")} ${message}${hint}\n`);
    return usage ? 2 : 1;
  }
}

/** How long queued output may take to drain when something keeps the event loop alive. */
const EXIT_GRACE_MS = 3000;

if (import.meta.main) {
  const fatal = (err: unknown): void => {
    process.stderr.write(`nsq: ${oneLine(err)}\n`);
    process.exit(1);
  };
  process.on("uncaughtException", fatal);
  process.on("unhandledRejection", fatal);
  const code = await main(process.argv.slice(2), { argv0: process.argv0, script: process.argv[1] });
  // Let the process end on its own: process.exit() would cut off output still queued for a pipe.
  // A command that leaves a handle open still exits, after a grace period for the output.
  process.exitCode = code;
  setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
}
