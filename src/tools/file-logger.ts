/**
 * Archives one topic to files (spec §6.3 "write/ack loop"): every message is written to the
 * current file and kept un-acknowledged in a batch; the batch is FINed only after a sync made it
 * durable. A sync happens when the batch reaches max-in-flight, the consumer is starved, the
 * sync-interval ticker fires, a rotation happens, on SIGHUP and on shutdown.
 */
import { join } from "node:path";
import { Consumer } from "../client/consumer.ts";
import type { ClientConfig } from "../client/config.ts";
import type { Message } from "../client/message.ts";
import type { Logger } from "../util/logger.ts";
import { ArchiveFile, FileExistsError, existsSync, moveNoClobber } from "./archive-file.ts";
import { strftime } from "./strftime.ts";

export interface FileLoggerSettings {
  channel: string;
  nsqdAddresses: string[];
  lookupdAddresses: string[];
  consumerConfig: ClientConfig;
  outputDir: string;
  workDir: string;
  datetimeFormat: string;
  /** --filename-format with <HOST>/<PID> replaced, `.gz` added when gzipping; still has <TOPIC>, <DATETIME>, maybe <REV> */
  filenameFormat: string;
  gzipLevel: number | null;
  rotateSize: number;
  rotateInterval: number;
  syncInterval: number;
  skipEmptyFiles: boolean;
  logger: Logger;
}

/** Totals shown by the progress line. */
export interface ArchiveCounters {
  messages: number;
  files: number;
}

const NEWLINE = Buffer.from("\n");
/** After a fatal error, how long the consumer may take to close cleanly before it is cut off. */
const ABORT_GRACE_MS = 2000;

/** Runs a file operation, making sure its error names the file (fs write/fsync errors do not). */
function withPath(path: string, doing: string, op: () => void): void {
  try {
    op();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes(path)) throw err;
    throw new Error(`${doing} ${path}: ${message}`);
  }
}

export class FileLogger {
  private readonly consumer: Consumer;
  private readonly format: string;
  private file: ArchiveFile | null = null;
  /** relative name (rev applied) of the open file */
  private fileName = "";
  /** last computed name before the rev was applied */
  private lastName = "";
  private rev = 0;
  private batch: Message[] = [];
  private ticker: ReturnType<typeof setInterval> | null = null;
  private stopping = false;
  private failed = false;

  constructor(
    readonly topic: string,
    private readonly settings: FileLoggerSettings,
    private readonly counters: ArchiveCounters,
    private readonly onFatal: (err: Error) => void,
  ) {
    this.format = settings.filenameFormat.replaceAll("<TOPIC>", topic);
    this.consumer = new Consumer({
      topic,
      channel: settings.channel,
      config: settings.consumerConfig,
      logger: settings.logger,
      handler: (msg) => this.onMessage(msg),
    });
  }

  async start(): Promise<void> {
    if (this.settings.nsqdAddresses.length > 0) await this.consumer.connectToNsqds(this.settings.nsqdAddresses);
    else await this.consumer.connectToLookupds(this.settings.lookupdAddresses);
    this.ticker = setInterval(() => this.onTick(), this.settings.syncInterval);
  }

  /**
   * Runs a file operation; the first error is fatal and reported at once. The un-synced batch is
   * handed back to nsqd by abort() after CLS (requeued earlier, nsqd would just deliver it again),
   * or right away when CLS was already sent.
   */
  private guard(action: () => void): void {
    if (this.failed) return;
    try {
      action();
    } catch (err) {
      this.failed = true;
      if (this.stopping) this.requeueBatch();
      this.onFatal(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** A message that cannot be written any more: keep it for abort()'s REQ, or REQ it now when stopping. */
  private handBack(msg: Message): void {
    if (msg.hasResponded || this.batch.includes(msg)) return;
    if (this.stopping) msg.requeueWithoutBackoff(0);
    else this.batch.push(msg);
  }

  /** REQ (no delay, no backoff) every message not yet durable, so another consumer can take it. */
  private requeueBatch(): void {
    const batch = this.batch;
    this.batch = [];
    for (const m of batch) m.requeueWithoutBackoff(0);
  }

  private onMessage(msg: Message): void {
    msg.disableAutoResponse();
    if (this.failed) {
      this.handBack(msg);
      return;
    }
    this.guard(() => {
      let sync = false;
      if (this.needsRotation()) {
        this.updateFile();
        sync = true;
      }
      this.file!.write(msg.body);
      this.file!.write(NEWLINE);
      this.batch.push(msg);
      if (this.batch.length >= this.settings.consumerConfig.maxInFlight) sync = true;
      if (sync || this.stopping || this.consumer.isStarved()) this.syncAndFinish();
    });
    // the error may have hit before this message joined the batch (e.g. opening the file failed)
    if (this.failed) this.handBack(msg);
  }

  private onTick(): void {
    this.guard(() => {
      if (this.needsRotation()) {
        if (this.settings.skipEmptyFiles) this.closeFile();
        else this.updateFile();
      }
      this.syncAndFinish();
    });
  }

  /** SIGHUP: sync and close the current file; the next message opens a new one. */
  hup(): void {
    this.guard(() => {
      this.syncAndFinish();
      this.closeFile();
    });
  }

  /** Graceful stop: CLS, FIN what is durable, wait for the consumer, then close the file. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    if (this.failed) return this.abort();
    const done = this.consumer.stop();
    this.guard(() => this.syncAndFinish());
    await done;
    this.guard(() => {
      this.syncAndFinish();
      this.closeFile();
    });
  }

  /**
   * After a fatal file error: nothing more can be made durable, so skip the graceful wait for
   * in-flight messages (they are requeued) and close the connections now.
   */
  private async abort(): Promise<void> {
    const done = this.consumer.stop(); // CLS first: nsqd delivers nothing more to us
    this.requeueBatch(); // then every message held is answered, so the stop completes at once
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, ABORT_GRACE_MS)));
    await Promise.race([done, grace]);
    clearTimeout(timer);
    await this.consumer.close();
    const f = this.file;
    this.file = null;
    try {
      f?.close();
    } catch {
      // the file already failed; its error is the one reported
    }
  }

  private syncAndFinish(): void {
    if (this.batch.length === 0) return;
    this.settings.logger.debug(`[${this.topic}/${this.settings.channel}] syncing ${this.batch.length} records to disk`);
    const f = this.file;
    if (f) withPath(f.path, "syncing", () => f.sync());
    const batch = this.batch;
    this.batch = [];
    for (const m of batch) m.finish();
    this.counters.messages += batch.length;
  }

  private currentName(): string {
    return this.format.replaceAll("<DATETIME>", strftime(this.settings.datetimeFormat, new Date()));
  }

  private withRev(name: string, rev: number): string {
    return name.replaceAll("<REV>", `-${String(rev).padStart(6, "0")}`);
  }

  private needsRotation(): boolean {
    const f = this.file;
    if (!f) return true;
    if (this.currentName() !== this.lastName) return true;
    if (this.settings.rotateInterval > 0 && Date.now() - f.openedAt > this.settings.rotateInterval) return true;
    if (this.settings.rotateSize > 0 && f.size > this.settings.rotateSize) return true;
    return false;
  }

  private updateFile(): void {
    this.closeFile();
    const name = this.currentName();
    this.rev = name === this.lastName ? this.rev + 1 : 0;
    this.lastName = name;
    const s = this.settings;
    const exclusive = s.gzipLevel !== null || s.rotateInterval > 0;
    const separateWorkDir = s.workDir !== s.outputDir;
    for (;;) {
      const rel = this.withRev(name, this.rev);
      let file: ArchiveFile;
      try {
        file = ArchiveFile.open(join(s.workDir, rel), { gzipLevel: s.gzipLevel, exclusive });
      } catch (err) {
        if (err instanceof FileExistsError) {
          this.rev++;
          continue;
        }
        throw err;
      }
      if (s.rotateSize > 0 && file.size > s.rotateSize) {
        file.close();
        this.rev++;
        continue;
      }
      if (separateWorkDir && existsSync(join(s.outputDir, rel))) {
        if (file.size === 0) file.discard();
        else file.close();
        this.rev++;
        continue;
      }
      s.logger.info(`[${this.topic}/${s.channel}] opening output file ${join(s.workDir, rel)}`);
      this.file = file;
      this.fileName = rel;
      this.counters.files++;
      return;
    }
  }

  /** Closes the current file; with a work dir, moves it to the output dir (bumping <REV> on a clash). */
  private closeFile(): void {
    const f = this.file;
    if (!f) return;
    this.file = null;
    withPath(f.path, "closing", () => f.close());
    const s = this.settings;
    if (s.workDir === s.outputDir) return;
    let rel = this.fileName;
    while (!moveNoClobber(f.path, join(s.outputDir, rel))) {
      this.rev++;
      rel = this.withRev(this.lastName, this.rev);
    }
  }
}
