/**
 * Every subcommand of the `nsq` executable, in one list (src/cli.ts registers them with yargs,
 * multi-call program names come from here, `install-links` creates links for them).
 * Imported statically so `bun build --compile` bundles them all.
 */
import type { NsqCommand } from "./types.ts";
import { command as lookupd } from "./lookupd.ts";
import { command as installLinks } from "./install-links.ts";

export const COMMANDS: NsqCommand[] = [lookupd, installLinks];
