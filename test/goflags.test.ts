import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FlagSpec } from "../src/commands/types.ts";
import { UsageError } from "../src/commands/types.ts";
import { flagSource, parseGoFlags, parseGoInt, formatFlagUsage } from "../src/util/goflags.ts";
import { applyConfig, loadConfigFile, resolveCommandLine } from "../src/util/config-file.ts";
import { NSQD_COMMAND_FLAGS, NSQD_FLAGS, nsqdFlagByCfgKey, nsqdOptionsFromArgs } from "../src/server/flags.ts";
import { defaultNsqdOptions } from "../src/server/options.ts";

const FLAGS: FlagSpec[] = [
  { name: "mem-queue-size", kind: "int", default: 10000, describe: "" },
  { name: "log-prefix", kind: "string", default: "[nsqd] ", describe: "" },
  { name: "ratio", kind: "float", default: 0.5, describe: "" },
  { name: "deflate", kind: "bool", default: true, describe: "" },
  { name: "verbose", kind: "bool", describe: "" },
  { name: "msg-timeout", kind: "duration", default: 60_000, describe: "" },
  { name: "lookupd-tcp-address", kind: "strings", cfgKey: "nsqlookupd_tcp_addresses", describe: "" },
  { name: "percentile", kind: "strings", commaSeparated: true, describe: "" },
  { name: "tls-required", kind: "string", implicitValue: "true", default: "false", describe: "" },
  { name: "count", kind: "int", alias: "n", describe: "" },
  { name: "config", kind: "string", default: "", describe: "" },
];

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("expected a UsageError");
}

describe("syntax forms", () => {
  test.each([
    [["-mem-queue-size", "5"]],
    [["-mem-queue-size=5"]],
    [["--mem-queue-size", "5"]],
    [["--mem-queue-size=5"]],
  ])("%p sets an int flag", (argv) => {
    const args = parseGoFlags(argv, FLAGS);
    expect(args["mem-queue-size"]).toBe(5);
    expect(flagSource(args, "mem-queue-size")).toBe("command-line");
  });

  test("defaults fill flags that are not given", () => {
    const args = parseGoFlags([], FLAGS);
    expect(args["mem-queue-size"]).toBe(10000);
    expect(args["log-prefix"]).toBe("[nsqd] ");
    expect(args["deflate"]).toBe(true);
    expect(args["verbose"]).toBe(false);
    expect(args["lookupd-tcp-address"]).toEqual([]);
    expect(args["count"]).toBeUndefined();
    expect(flagSource(args, "mem-queue-size")).toBeUndefined();
  });

  test("a value is taken from the next argument even when it starts with a dash", () => {
    expect(parseGoFlags(["-log-prefix", "-x-"], FLAGS)["log-prefix"]).toBe("-x-");
    expect(parseGoFlags(["--log-prefix="], FLAGS)["log-prefix"]).toBe("");
  });

  test("bool flags: bare, =true/false, never consume the next argument", () => {
    expect(parseGoFlags(["-verbose"], FLAGS)["verbose"]).toBe(true);
    expect(parseGoFlags(["--deflate=false"], FLAGS)["deflate"]).toBe(false);
    expect(parseGoFlags(["-deflate=0"], FLAGS)["deflate"]).toBe(false);
    expect(parseGoFlags(["-verbose=T"], FLAGS)["verbose"]).toBe(true);
    const args = parseGoFlags(["--deflate", "false"], FLAGS);
    expect(args["deflate"]).toBe(true);
    expect(args._).toEqual(["false"]);
  });

  test("a flag with an implicit value works bare and with =value", () => {
    expect(parseGoFlags(["--tls-required"], FLAGS)["tls-required"]).toBe("true");
    expect(parseGoFlags(["-tls-required=tcp-https"], FLAGS)["tls-required"]).toBe("tcp-https");
    const args = parseGoFlags(["-tls-required", "topic"], FLAGS);
    expect(args["tls-required"]).toBe("true");
    expect(args._).toEqual(["topic"]);
  });

  test("positionals between flags, `--` ends flags, `-` is positional", () => {
    const args = parseGoFlags(["a", "-n", "3", "b", "-", "--", "-mem-queue-size=1"], FLAGS);
    expect(args._).toEqual(["a", "b", "-", "-mem-queue-size=1"]);
    expect(args["count"]).toBe(3);
    expect(args["mem-queue-size"]).toBe(10000);
  });

  test("the last occurrence of a scalar flag wins", () => {
    expect(parseGoFlags(["-mem-queue-size=1", "--mem-queue-size", "2"], FLAGS)["mem-queue-size"]).toBe(2);
  });

  test("Go integer syntax", () => {
    expect(parseGoInt("0x10")).toBe(16);
    expect(parseGoInt("010")).toBe(8);
    expect(parseGoInt("-1_000")).toBe(-1000);
    expect(() => parseGoInt("1.5")).toThrow("parse error");
    expect(() => parseGoInt("99999999999999999999")).toThrow("value out of range");
  });

  test("float flags", () => {
    expect(parseGoFlags(["-ratio=.25"], FLAGS)["ratio"]).toBe(0.25);
    expect(parseGoFlags(["-ratio", "1e-2"], FLAGS)["ratio"]).toBe(0.01);
  });
});

describe("durations", () => {
  test("Go syntax to milliseconds", () => {
    expect(parseGoFlags(["-msg-timeout=250ms"], FLAGS)["msg-timeout"]).toBe(250);
    expect(parseGoFlags(["--msg-timeout", "1m30s"], FLAGS)["msg-timeout"]).toBe(90_000);
    expect(parseGoFlags(["-msg-timeout", "1h"], FLAGS)["msg-timeout"]).toBe(3_600_000);
    expect(parseGoFlags(["-msg-timeout=0"], FLAGS)["msg-timeout"]).toBe(0);
  });

  test("a bare integer is rejected like Go", () => {
    expect(usageMessage(() => parseGoFlags(["-msg-timeout=5"], FLAGS))).toBe(
      'invalid value "5" for flag -msg-timeout: parse error',
    );
  });
});

describe("repeatable flags", () => {
  test("collect every occurrence in order", () => {
    const args = parseGoFlags(
      ["--lookupd-tcp-address=a:1", "-lookupd-tcp-address", "b:2", "--lookupd-tcp-address", "c:3"],
      FLAGS,
    );
    expect(args["lookupd-tcp-address"]).toEqual(["a:1", "b:2", "c:3"]);
  });

  test("commaSeparated splits values", () => {
    const args = parseGoFlags(["-percentile=1.0,0.99", "--percentile", "0.95"], FLAGS);
    expect(args["percentile"]).toEqual(["1.0", "0.99", "0.95"]);
  });
});

describe("errors", () => {
  test("unknown flag", () => {
    expect(usageMessage(() => parseGoFlags(["--nope=1"], FLAGS))).toBe("flag provided but not defined: --nope");
    expect(usageMessage(() => parseGoFlags(["-mem"], FLAGS))).toBe("flag provided but not defined: -mem");
  });

  test("bad values name the flag", () => {
    expect(usageMessage(() => parseGoFlags(["-mem-queue-size", "abc"], FLAGS))).toBe(
      'invalid value "abc" for flag -mem-queue-size: parse error',
    );
    expect(usageMessage(() => parseGoFlags(["-deflate=maybe"], FLAGS))).toBe(
      'invalid boolean value "maybe" for -deflate: parse error',
    );
    expect(usageMessage(() => parseGoFlags(["-ratio=x"], FLAGS))).toBe('invalid value "x" for flag -ratio: parse error');
  });

  test("missing argument and bad syntax", () => {
    expect(usageMessage(() => parseGoFlags(["--mem-queue-size"], FLAGS))).toBe("flag needs an argument: -mem-queue-size");
    expect(usageMessage(() => parseGoFlags(["---x"], FLAGS))).toBe("bad flag syntax: ---x");
    expect(usageMessage(() => parseGoFlags(["-=1"], FLAGS))).toBe("bad flag syntax: -=1");
  });
});

describe("config file", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nsq-goflags-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function writeConfig(name: string, text: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  test("precedence: command line > config file > default", async () => {
    const path = await writeConfig(
      "a.toml",
      [
        "mem_queue_size = 7",
        'log_prefix = "[cfg] "',
        'msg_timeout = "90s"',
        'nsqlookupd_tcp_addresses = ["x:1", "y:2"]',
        "deflate = false",
        "unknown_key = 1",
      ].join("\n"),
    );
    const args = resolveCommandLine(["--config", path, "-mem-queue-size=3"], FLAGS);
    expect(args["mem-queue-size"]).toBe(3); // command line wins
    expect(args["log-prefix"]).toBe("[cfg] "); // from the file
    expect(args["msg-timeout"]).toBe(90_000);
    expect(args["lookupd-tcp-address"]).toEqual(["x:1", "y:2"]); // cfgKey mapping
    expect(args["deflate"]).toBe(false);
    expect(args["ratio"]).toBe(0.5); // default
    expect(flagSource(args, "log-prefix")).toBe("config");
    expect(flagSource(args, "mem-queue-size")).toBe("command-line");
  });

  test("integer durations in TOML are milliseconds; comma lists split", async () => {
    const path = await writeConfig("b.toml", "msg_timeout = 1500\npercentile = [1.0, 0.99]\ntls_required = true\n");
    const args = resolveCommandLine([`-config=${path}`], FLAGS);
    expect(args["msg-timeout"]).toBe(1500);
    expect(args["percentile"]).toEqual(["1", "0.99"]);
    expect(args["tls-required"]).toBe("true");
  });

  test("a repeatable flag on the command line replaces the file's list", async () => {
    const path = await writeConfig("c.toml", 'nsqlookupd_tcp_addresses = ["x:1"]\n');
    const args = resolveCommandLine(["--config", path, "--lookupd-tcp-address=z:9"], FLAGS);
    expect(args["lookupd-tcp-address"]).toEqual(["z:9"]);
  });

  test("bad values in the file name the key and are not usage errors", async () => {
    const path = await writeConfig("d.toml", 'mem_queue_size = "lots"\n');
    let caught: unknown;
    try {
      resolveCommandLine(["--config", path], FLAGS);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(Error);
    expect(caught).not.toBeInstanceOf(UsageError);
    expect((caught as Error).message).toContain('config key "mem_queue_size"');
    const durationPath = await writeConfig("e.toml", 'msg_timeout = "soon"\n');
    expect(() => resolveCommandLine(["--config", durationPath], FLAGS)).toThrow('config key "msg_timeout"');
  });

  test("missing or invalid files give one-line errors", async () => {
    expect(() => loadConfigFile(join(dir, "missing.toml"))).toThrow(
      `failed to load config file ${join(dir, "missing.toml")} - no such file or directory`,
    );
    const path = await writeConfig("bad.toml", "this is = = not toml\n[");
    let message = "";
    try {
      loadConfigFile(path);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toStartWith(`failed to load config file ${path} - invalid TOML`);
    expect(message).not.toContain("\n");
  });

  test("applyConfig leaves command-line flags alone", () => {
    const args = parseGoFlags(["-ratio=0.1"], FLAGS);
    applyConfig(args, FLAGS, { ratio: 0.9, mem_queue_size: 1 });
    expect(args["ratio"]).toBe(0.1);
    expect(args["mem-queue-size"]).toBe(1);
  });
});

describe("nsqd flags", () => {
  test("every option is reachable by a flag and defaults match defaultNsqdOptions()", () => {
    const defaults = defaultNsqdOptions();
    const options = new Set(NSQD_FLAGS.map((f) => f.option));
    for (const key of Object.keys(defaults)) expect(options.has(key as keyof typeof defaults)).toBe(true);
    const opts = nsqdOptionsFromArgs(parseGoFlags([], NSQD_COMMAND_FLAGS));
    expect(opts).toEqual(defaults);
  });

  test("cfg keys follow nsqd", () => {
    expect(nsqdFlagByCfgKey("id")?.name).toBe("node-id");
    expect(nsqdFlagByCfgKey("nsqlookupd_tcp_addresses")?.option).toBe("lookupdTcpAddresses");
    expect(nsqdFlagByCfgKey("auth_http_addresses")?.option).toBe("authHttpAddresses");
    expect(nsqdFlagByCfgKey("e2e_processing_latency_percentiles")?.option).toBe("e2eProcessingLatencyPercentiles");
    expect(nsqdFlagByCfgKey("mem_queue_size")?.option).toBe("memQueueSize");
  });

  test("flags become options", () => {
    const opts = nsqdOptionsFromArgs(
      parseGoFlags(
        [
          "-mem-queue-size=5",
          "--msg-timeout=2s",
          "-lookupd-tcp-address=127.0.0.1:4160",
          "--e2e-processing-latency-percentile=1.0,0.99",
          "-log-level=DEBUG",
          "-node-id=12",
          "-snappy=false",
        ],
        NSQD_COMMAND_FLAGS,
      ),
    );
    expect(opts.memQueueSize).toBe(5);
    expect(opts.msgTimeout).toBe(2000);
    expect(opts.lookupdTcpAddresses).toEqual(["127.0.0.1:4160"]);
    expect(opts.e2eProcessingLatencyPercentiles).toEqual([1, 0.99]);
    expect(opts.logLevel).toBe("debug");
    expect(opts.nodeId).toBe(12);
    expect(opts.snappy).toBe(false);
  });

  test("--worker-id is an alias of --node-id unless --node-id is given", () => {
    expect(nsqdOptionsFromArgs(parseGoFlags(["-worker-id=7"], NSQD_COMMAND_FLAGS)).nodeId).toBe(7);
    expect(nsqdOptionsFromArgs(parseGoFlags(["-worker-id=7", "-node-id=9"], NSQD_COMMAND_FLAGS)).nodeId).toBe(9);
  });

  test("startup validation", () => {
    const build = (...argv: string[]) => () => nsqdOptionsFromArgs(parseGoFlags(argv, NSQD_COMMAND_FLAGS));
    expect(build("-node-id=1024")).toThrow("--node-id must be [0,1024)");
    expect(build("-node-id=-1")).toThrow("--node-id must be [0,1024)");
    expect(build("-max-deflate-level=0")).toThrow("--max-deflate-level must be [1,9]");
    expect(build("-max-deflate-level=10")).toThrow("--max-deflate-level must be [1,9]");
    expect(build("-e2e-processing-latency-percentile=1.5")).toThrow("invalid E2E processing latency percentile: 1.5");
    expect(build("-e2e-processing-latency-percentile=0")).toThrow("invalid E2E processing latency percentile: 0");
    expect(build("--tls-required")).toThrow("cannot require TLS client connections without TLS key and cert");
    expect(build("--tls-client-auth-policy=require")).toThrow("cannot require TLS");
    expect(build("-log-level=loud")).toThrow(UsageError);
    expect(build("-tls-required=maybe")).toThrow(UsageError);
    expect(build("-tls-min-version=tls9")).toThrow(UsageError);
  });

  test("tls-required values and the client auth policy implication", () => {
    const tls = ["-tls-cert=/c.pem", "-tls-key=/k.pem"];
    const opts = (...argv: string[]) => nsqdOptionsFromArgs(parseGoFlags([...tls, ...argv], NSQD_COMMAND_FLAGS));
    expect(opts().tlsRequired).toBe("false");
    expect(opts("--tls-required").tlsRequired).toBe("true");
    expect(opts("-tls-required=tcp-https").tlsRequired).toBe("tcp-https");
    expect(opts("-tls-required=false").tlsRequired).toBe("false");
    expect(opts("-tls-client-auth-policy=require-verify").tlsRequired).toBe("true");
    expect(opts("-tls-min-version=TLS1.2").tlsMinVersion).toBe("tls1.2");
  });

  test("usage text lists flags with Go-style defaults", () => {
    const text = formatFlagUsage(NSQD_FLAGS);
    expect(text).toContain("  -msg-timeout duration");
    expect(text).toContain("(default 1m0s)");
    expect(text).toContain("  -tls-required\n");
  });
});
