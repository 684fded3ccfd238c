/**
 * nsqadmin as a library: the web UI and JSON API over a cluster found through nsqlookupd or a
 * fixed nsqd list.
 *
 *   const admin = new NsqAdmin({ ...defaultAdminOptions(), httpAddress: "127.0.0.1:0", lookupdHttpAddresses: [...] });
 *   await admin.start();   // admin.httpPort is the bound port
 *   await admin.close();
 */
import { readFileSync } from "node:fs";
import { daemonVersionLine } from "../protocol/version.ts";
import { createLogger, type Logger } from "../util/logger.ts";
import type { HttpTimeouts } from "../http-api/api-request.ts";
import { ClusterInfo } from "./cluster-info.ts";
import { AdminHttpServer } from "./http.ts";
import { Notifier } from "./notify.ts";
import { validateAdminOptions, type AdminOptions } from "./options.ts";

export class NsqAdmin {
  private opts: AdminOptions;
  private readonly logger: Logger;
  private readonly http: AdminHttpServer;
  private readonly notifier: Notifier;
  private readonly timeouts: HttpTimeouts;

  constructor(opts: AdminOptions, logger?: Logger) {
    validateAdminOptions(opts);
    this.opts = opts;
    this.logger = logger ?? createLogger(opts.logPrefix, opts.logLevel);
    this.timeouts = {
      connectTimeoutMs: opts.httpClientConnectTimeout,
      requestTimeoutMs: opts.httpClientRequestTimeout,
      ...httpClientTls(opts),
    };
    this.notifier = new Notifier(() => this.opts.notificationHttpEndpoint, () => this.opts.httpClientRequestTimeout, this.logger);
    this.http = new AdminHttpServer({
      opts: () => this.opts,
      setOpts: (next) => {
        this.opts = next;
        this.logger.level = next.logLevel;
      },
      ci: new ClusterInfo(() => this.timeouts, this.logger),
      notifier: this.notifier,
      logger: this.logger,
    });
  }

  get options(): AdminOptions {
    return this.opts;
  }

  /** The bound HTTP port (0 before start). */
  get httpPort(): number {
    return this.http.port;
  }

  async start(): Promise<void> {
    this.logger.info(daemonVersionLine("nsqadmin"));
    this.http.listen(this.opts.httpAddress);
    this.logger.info(`HTTP: listening on ${this.opts.httpAddress.replace(/:0$/, `:${this.httpPort}`)}`);
  }

  async close(): Promise<void> {
    await this.http.close();
    await this.notifier.drain();
  }
}

/** The TLS settings of the HTTP client (certificates read now, so a bad path fails the start). */
function httpClientTls(opts: AdminOptions): Pick<HttpTimeouts, "tls"> {
  const read = (path: string, what: string): string => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new Error(`failed to read ${what} ${path} - ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  if (!opts.httpClientTlsInsecureSkipVerify && opts.httpClientTlsRootCaFile === "" && opts.httpClientTlsCert === "") return {};
  return {
    tls: {
      rejectUnauthorized: !opts.httpClientTlsInsecureSkipVerify,
      ...(opts.httpClientTlsRootCaFile !== "" ? { ca: read(opts.httpClientTlsRootCaFile, "TLS root CA file") } : {}),
      ...(opts.httpClientTlsCert !== "" ? { cert: read(opts.httpClientTlsCert, "TLS cert"), key: read(opts.httpClientTlsKey, "TLS key") } : {}),
    },
  };
}
