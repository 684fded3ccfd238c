/**
 * Shell completion scripts for `nsq completion <shell>`: static scripts generated from the same
 * FlagSpec tables the parser uses, so they complete subcommands, each subcommand's flags and the
 * multi-call program names (nsqd, nsq_tail, …) without calling back into the executable.
 */
import type { FlagSpec } from "./flag-spec.ts";

export const COMPLETION_SHELLS = ["bash", "zsh", "fish"] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

export interface CompletionCommand {
  name: string;
  describe: string;
  flags: FlagSpec[];
  /** multi-call names that run this command (nsqd → serve) */
  programNames?: string[];
}

export function isCompletionShell(name: string): name is CompletionShell {
  return (COMPLETION_SHELLS as readonly string[]).includes(name);
}

/** The shell to generate for when none is named: $SHELL's basename when supported, else bash. */
export function defaultShell(shellEnv: string | undefined): CompletionShell {
  const base = (shellEnv ?? "").split("/").pop() ?? "";
  return isCompletionShell(base) ? base : "bash";
}

export function completionScript(shell: CompletionShell, program: string, commands: readonly CompletionCommand[]): string {
  switch (shell) {
    case "bash":
      return bashScript(program, commands);
    case "zsh":
      return zshScript(program, commands);
    case "fish":
      return fishScript(program, commands);
  }
}

function flagWords(flags: readonly FlagSpec[]): string {
  return flags.map((f) => `--${f.name}`).join(" ");
}

/** Only plain words go into the scripts unquoted; anything else is a programming error. */
function word(text: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(text)) throw new Error(`not a plain word for a completion script: ${text}`);
  return text;
}

function bashScript(program: string, commands: readonly CompletionCommand[]): string {
  const names = [...commands.map((c) => word(c.name)), "help", "completion"].join(" ");
  const cases = commands.map((c) => `    ${word(c.name)}) flags="${flagWords(c.flags)}" ;;`).join("\n");
  const progs = commands.flatMap((c) => (c.programNames ?? []).map((p) => `    ${word(p)}) cmd=${word(c.name)} ;;`)).join("\n");
  const progNames = commands.flatMap((c) => c.programNames ?? []).join(" ");
  return `# ${program} completion for bash. Load it with:
#   source <(${program} completion bash)        (or append its output to ~/.bashrc)
_${program}_complete() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd="" flags=""
  case "\${COMP_WORDS[0]##*/}" in
${progs}
    *)
      if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "${names}" -- "$cur"))
        return 0
      fi
      cmd=\${COMP_WORDS[1]}
      ;;
  esac
  case "$cmd" in
${cases}
    help) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "${names}" -- "$cur")); return 0 ;;
    completion) [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "${COMPLETION_SHELLS.join(" ")}" -- "$cur")); return 0 ;;
    *) return 0 ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags --help --version" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
  return 0
}
complete -o default -F _${program}_complete ${program}${progNames ? ` ${progNames}` : ""}
`;
}

/** A word single-quoted for a POSIX-like shell (zsh). */
function shQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Text inside an _arguments description or _describe item: `[`, `]`, `:` and `\` escaped. */
function zshEscape(text: string): string {
  return text.replace(/\s+/g, " ").replace(/\\/g, "\\\\").replace(/([[\]:])/g, "\\$1");
}

function zshFlagSpecs(flags: readonly FlagSpec[]): string {
  const specs = flags.map((f) => {
    const describe = zshEscape(f.describe);
    // bool flags take no value; the others complete a value (files for paths, nothing otherwise)
    if (f.kind === "bool") return shQuote(`--${f.name}[${describe}]`);
    const repeat = f.kind === "strings" ? "*" : "";
    const action = /path|file|dir|cert|key|ca/.test(f.name) ? "_files" : " ";
    return shQuote(`${repeat}--${f.name}=[${describe}]:${f.name}:${action}`);
  });
  specs.push(shQuote("--help[print the flags and exit]"), shQuote("--version[print the version and exit]"), shQuote("*:argument:_files"));
  return specs.map((s) => `        ${s}`).join(" \\\n");
}

function zshScript(program: string, commands: readonly CompletionCommand[]): string {
  const describes = [
    ...commands.map((c) => shQuote(`${c.name}:${zshEscape(c.describe)}`)),
    shQuote("help:show help for a command"),
    shQuote("completion:print a shell completion script (bash, zsh, fish)"),
  ].join(" ");
  const cases = commands
    .map((c) => `    ${word(c.name)})\n      _arguments -s \\\n${zshFlagSpecs(c.flags)}\n      ;;`)
    .join("\n");
  const progs = commands.flatMap((c) => (c.programNames ?? []).map((p) => `    ${word(p)}) cmd=${word(c.name)} ;;`)).join("\n");
  const progNames = commands.flatMap((c) => c.programNames ?? []).join(" ");
  return `#compdef ${program}${progNames ? ` ${progNames}` : ""}
# ${program} completion for zsh. Load it with (after compinit):
#   source <(${program} completion zsh)
# or save it as _${program} in a directory of $fpath.
_${program}() {
  local cmd
  local -a commands
  commands=(${describes})
  case "\${words[1]##*/}" in
${progs}
    *)
      if (( CURRENT == 2 )); then
        _describe -t commands '${program} command' commands
        return
      fi
      cmd=\${words[2]}
      shift words
      (( CURRENT-- ))
      ;;
  esac
  case "$cmd" in
${cases}
    help) (( CURRENT == 2 )) && _describe -t commands '${program} command' commands ;;
    completion) (( CURRENT == 2 )) && compadd ${COMPLETION_SHELLS.join(" ")} ;;
  esac
}
if [[ "\${funcstack[1]}" == "_${program}" ]]; then
  _${program} "$@"
else
  compdef _${program} ${program}${progNames ? ` ${progNames}` : ""}
fi
`;
}

/** A fish single-quoted string. */
function fishQuote(text: string): string {
  return `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

function fishScript(program: string, commands: readonly CompletionCommand[]): string {
  const lines: string[] = [
    `# ${program} completion for fish. Load it with:`,
    `#   ${program} completion fish | source`,
    `# or save it as ~/.config/fish/completions/${program}.fish`,
    `complete -c ${program} -f`,
  ];
  const all = [...commands.map((c) => c.name), "help", "completion"].map(word).join(" ");
  const top = `__fish_use_subcommand`;
  for (const c of commands) lines.push(`complete -c ${program} -n ${top} -a ${word(c.name)} -d ${fishQuote(c.describe)}`);
  lines.push(`complete -c ${program} -n ${top} -a help -d ${fishQuote("show help for a command")}`);
  lines.push(`complete -c ${program} -n ${top} -a completion -d ${fishQuote("print a shell completion script (bash, zsh, fish)")}`);
  lines.push(`complete -c ${program} -n ${fishQuote(`__fish_seen_subcommand_from help`)} -a ${fishQuote(all)}`);
  lines.push(`complete -c ${program} -n ${fishQuote(`__fish_seen_subcommand_from completion`)} -a ${fishQuote(COMPLETION_SHELLS.join(" "))}`);
  const flagLines = (target: string, condition: string | null, flags: readonly FlagSpec[]): void => {
    const cond = condition === null ? "" : ` -n ${fishQuote(condition)}`;
    for (const f of [...flags, { name: "help", kind: "bool", describe: "print the flags and exit" } as FlagSpec]) {
      const takesValue = f.kind === "bool" ? "" : /path|file|dir|cert|key|ca/.test(f.name) ? " -r -F" : " -r";
      lines.push(`complete -c ${target}${cond} -l ${word(f.name)}${takesValue} -d ${fishQuote(f.describe.replace(/\s+/g, " "))}`);
    }
  };
  for (const c of commands) {
    flagLines(program, `__fish_seen_subcommand_from ${word(c.name)}`, c.flags);
    for (const p of c.programNames ?? []) {
      lines.push(`complete -c ${word(p)} -f`);
      flagLines(p, null, c.flags);
    }
  }
  return lines.join("\n") + "\n";
}
