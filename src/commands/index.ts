/**
 * Every subcommand of the `nsq` executable, in one list (src/cli.ts registers them with yargs,
 * multi-call program names come from here, `install-links` creates links for them).
 * Imported statically so `bun build --compile` bundles them all.
 */
import type { NsqCommand } from "./types.ts";
import { command as serve } from "./serve.ts";
import { command as lookupd } from "./lookupd.ts";
import { command as pub } from "./pub.ts";
import { command as tail } from "./tail.ts";
import { command as toFile } from "./to-file.ts";
import { command as toHttp } from "./to-http.ts";
import { command as toNsq } from "./to-nsq.ts";
import { command as pause } from "./pause.ts";
import { command as stat } from "./stat.ts";
import { command as bench } from "./bench.ts";
import { command as installLinks } from "./install-links.ts";
import { command as peek } from "./peek.ts";
import { command as completion } from "./completion.ts";
import { command as admin } from "./admin.ts";

export const COMMANDS: NsqCommand[] = [serve, lookupd, pub, tail, toFile, toHttp, toNsq, pause, stat, bench, installLinks, peek, admin, completion];
