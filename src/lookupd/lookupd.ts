/**
 * nsqlookupd as a library: the registration DB shared by the V1 TCP listener and the HTTP API.
 *
 *   const lookupd = new Nsqlookupd({ tcpAddress: "127.0.0.1:0", httpAddress: "127.0.0.1:0" });
 *   await lookupd.start();   // lookupd.tcpPort / lookupd.httpPort are the bound ports
 *   await lookupd.close();
 */
import { daemonVersionLine } from "../protocol/version.ts";
import { createLogger, type Logger } from "../util/logger.ts";
import { LookupHttpServer } from "./http.ts";
import { defaultLookupdOptions, type LookupdOptions } from "./options.ts";
import { RegistrationDB } from "./registration-db.ts";
import { LookupTcpServer } from "./tcp-server.ts";
import { FdGuard } from "../util/fd-guard.ts";

export class Nsqlookupd {
  readonly options: LookupdOptions;
  readonly db = new RegistrationDB();
  private readonly logger: Logger;
  private readonly tcp: LookupTcpServer;
  private readonly http: LookupHttpServer;
  private started = false;
  /** logs running out of file descriptors and pauses both listeners meanwhile (null: not Linux) */
  private fdGuard: FdGuard | null = null;

  constructor(opts: Partial<LookupdOptions> = {}, logger?: Logger) {
    const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
    this.options = { ...defaultLookupdOptions(), ...defined };
    this.logger = logger ?? createLogger(this.options.logPrefix, this.options.logLevel);
    this.tcp = new LookupTcpServer({
      db: this.db,
      logger: this.logger,
      broadcastAddress: this.options.broadcastAddress,
      tcpPort: () => this.tcpPort,
      httpPort: () => this.httpPort,
    });
    this.http = new LookupHttpServer({
      db: this.db,
      logger: this.logger,
      inactiveProducerTimeout: this.options.inactiveProducerTimeout,
      tombstoneLifetime: this.options.tombstoneLifetime,
    });
  }

  /** The bound TCP port (0 before start). */
  get tcpPort(): number {
    return this.tcp.port;
  }

  /** The bound HTTP port (0 before start). */
  get httpPort(): number {
    return this.http.port;
  }

  /** Binds both listeners; rejects (with both closed) if either address cannot be bound. */
  async start(): Promise<void> {
    if (this.started) return;
    this.logger.info(daemonVersionLine("nsqlookupd"));
    try {
      await this.tcp.listen(this.options.tcpAddress);
      await this.http.listen(this.options.httpAddress);
    } catch (err) {
      await this.tcp.close();
      await this.http.close();
      throw err;
    }
    this.started = true;
    this.fdGuard = FdGuard.start(this.logger, {
      pause: () => [this.tcp.pause(), this.http.pause()].some(Boolean),
      resume: () => {
        this.tcp.resume();
        this.http.resume();
      },
      clients: () => this.tcp.connections,
    });
  }

  /** Closes the listeners and every client connection. */
  async close(): Promise<void> {
    this.started = false;
    this.fdGuard?.stop();
    this.fdGuard = null;
    await this.tcp.close();
    await this.http.close();
  }
}
