/**
 * Upgrades a client connection after IDENTIFY negotiated TLS and/or compression (spec §1.8):
 * plaintext JSON reply (already sent) → TLS handshake → `OK` over TLS → snappy or deflate →
 * `OK` through the compressor.
 */
import type net from "node:net";
import type { ClientV2 } from "./client.ts";
import type { NsqdOptions } from "./options.ts";

export interface TransportUpgrade {
  tls: boolean;
  snappy: boolean;
  deflate: boolean;
  deflateLevel: number;
}

export interface UpgradeContext {
  client: ClientV2;
  /** the raw TCP socket of the connection */
  socket: net.Socket;
  /** feeds decrypted / decompressed bytes to the protocol parser */
  onData(chunk: Buffer): void;
  /** bytes that arrived after the IDENTIFY body, already read from the socket (normally none) */
  leftover: Buffer | null;
  options: NsqdOptions;
}

/**
 * Performs the upgrade. Resolves once every `OK` has been queued; rejects with an Error whose
 * message becomes `E_IDENTIFY_FAILED IDENTIFY failed <message>`.
 */
export async function upgradeTransport(ctx: UpgradeContext, upgrade: TransportUpgrade): Promise<void> {
  void ctx;
  void upgrade;
  throw new Error("transport upgrades are not implemented yet");
}
