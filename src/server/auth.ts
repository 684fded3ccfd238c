/**
 * AUTH against the configured auth servers (spec §1.12).
 */
import { ProtocolError } from "../protocol/errors.ts";
import type { ClientV2 } from "./client.ts";
import type { NsqdOptions } from "./options.ts";
import type { Logger } from "../util/logger.ts";

export class AuthManager {
  constructor(
    private readonly options: NsqdOptions,
    private readonly logger: Logger,
  ) {}

  /**
   * The AUTH command: queries the auth server with the client's secret. Resolves with the JSON
   * text of the reply frame; rejects with a ProtocolError (E_AUTH_FAILED, E_UNAUTHORIZED…).
   */
  async authenticate(client: ClientV2, secret: string): Promise<string> {
    void client;
    void secret;
    void this.options;
    void this.logger;
    throw new ProtocolError("E_AUTH_FAILED", "AUTH failed");
  }

  /**
   * SUB/PUB/MPUB/DPUB permission check (channel "" for publishes). Returns when allowed, throws
   * a ProtocolError when not, or returns a Promise when the cached authorization has expired
   * and the server must be asked again (the connection waits for it, then retries the check).
   */
  check(client: ClientV2, cmd: string, topic: string, channel: string): void | Promise<void> {
    void client;
    void topic;
    void channel;
    throw new ProtocolError("E_AUTH_FIRST", `AUTH required before ${cmd}`);
  }
}
