/**
 * Upgrades a client connection after IDENTIFY negotiated TLS and/or compression (spec §1.8):
 * plaintext JSON reply (already sent) → TLS handshake → `OK` over TLS → snappy or deflate →
 * `OK` through the compressor.
 *
 * Layers are stacked on both directions. Inbound: raw socket → TLS → decompressor → protocol
 * parser (`ctx.onData`). Outbound: `client.transport.write(batch)` → compressor → TLS → socket.
 * The write path stays single: one `write` per flushed batch; `false` means backpressure and
 * the layer that is backed up later calls `client.onDrain()`.
 *
 * While the upgrade runs, anything else the broker writes (a heartbeat) is held back and sent
 * after the last `OK`, so the client sees exactly JSON, OK, OK as real nsqd guarantees.
 */
import type net from "node:net";
import tls from "node:tls";
import zlib from "node:zlib";
import type { ClientTransport, ClientV2 } from "./client.ts";
import type { NsqdOptions } from "./options.ts";
import { FRAME_OK } from "../protocol/frames.ts";
import { SnappyFrameDecoder, SnappyFrameEncoder } from "../protocol/snappy.ts";
import { loadTlsConfig, statsTlsVersion, type ServerTlsConfig } from "./tls-options.ts";

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

/** nsqd gives the TLS handshake 5 s. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 5000;

/** What /stats shows about a client's TLS session (empty strings when not TLS). */
export interface ClientTlsDetails {
  /** `TLS1.0` … `TLS1.3` */
  version: string;
  /** IANA-style suite name, e.g. `TLS_AES_128_GCM_SHA256` */
  cipherSuite: string;
  /** ALPN protocol, "" when none */
  negotiatedProtocol: string;
  negotiatedProtocolIsMutual: boolean;
  /** subject CN of the client's certificate, "" when it sent none (sent to auth servers) */
  commonName: string;
}

const NO_TLS: ClientTlsDetails = Object.freeze({
  version: "",
  cipherSuite: "",
  negotiatedProtocol: "",
  negotiatedProtocolIsMutual: false,
  commonName: "",
});

const tlsDetails = new WeakMap<ClientV2, ClientTlsDetails>();

/** TLS details of a client for /stats and auth queries. */
export function clientTlsDetails(client: ClientV2): ClientTlsDetails {
  return tlsDetails.get(client) ?? NO_TLS;
}

/**
 * Performs the upgrade. Resolves once every `OK` has been queued; rejects with an Error whose
 * message becomes `E_IDENTIFY_FAILED IDENTIFY failed <message>`.
 */
export async function upgradeTransport(ctx: UpgradeContext, upgrade: TransportUpgrade): Promise<void> {
  const { client, socket } = ctx;
  const held: Uint8Array[] = [];
  let lower: ClientTransport = client.transport;
  client.transport = {
    write(data) {
      held.push(Buffer.from(data));
      return true;
    },
    end: () => lower.end(),
    destroy: () => lower.destroy(),
  };
  let session: tls.TLSSocket | null = null;
  const release = (): void => {
    client.transport = session === null ? lower : withSessionInfo(lower, session);
    for (const chunk of held) lower.write(chunk);
    held.length = 0;
  };

  // From here on every inbound byte goes through `deliver`, which each layer re-points.
  let deliver: (chunk: Buffer) => void = (chunk) => ctx.onData(chunk);
  const inbound = (chunk: Buffer): void => deliver(chunk);
  socket.removeAllListeners("data");
  let leftover = ctx.leftover;
  /** the stream whose 'drain' means the bytes below the compressor have left */
  let bottom: net.Socket | tls.TLSSocket = socket;

  try {
    if (upgrade.tls) {
      const config = loadTlsConfig(ctx.options);
      if (config === null) throw new Error("TLS is not configured");
      if (leftover !== null) socket.unshift(leftover);
      leftover = null;
      const secure = await handshake(socket, config);
      if (client.closed) {
        secure.destroy();
        return;
      }
      secure.on("data", inbound);
      secure.on("drain", () => client.onDrain());
      secure.on("error", () => client.close());
      secure.on("close", () => client.close());
      tlsDetails.set(client, describeSession(secure));
      client.tls = true;
      lower = tlsTransport(secure, socket);
      bottom = secure;
      session = secure;
      lower.write(FRAME_OK);
    } else {
      socket.on("data", inbound);
    }

    if (upgrade.snappy) {
      lower = snappyTransport(lower);
      const decoder = new SnappyFrameDecoder((chunk) => ctx.onData(chunk));
      deliver = (chunk) => {
        try {
          decoder.push(chunk);
        } catch {
          client.close(); // corrupt stream: nsqd drops the connection on a read error
        }
      };
      client.snappy = true;
      lower.write(FRAME_OK);
    } else if (upgrade.deflate) {
      lower = deflateTransport(lower, bottom, upgrade.deflateLevel, client);
      const inflate = zlib.createInflateRaw({ flush: zlib.constants.Z_SYNC_FLUSH });
      inflate.on("data", (chunk: Buffer) => ctx.onData(chunk));
      inflate.on("error", () => client.close());
      deliver = (chunk) => void inflate.write(chunk);
      client.deflate = true;
      client.deflateLevel = upgrade.deflateLevel;
      lower.write(FRAME_OK);
    }
  } catch (err) {
    // the protocol answers E_IDENTIFY_FAILED over whatever layer was established, then closes
    release();
    throw err;
  }
  release();
  if (leftover !== null) inbound(leftover);
}

/** Server-side TLS handshake over the raw socket, with nsqd's deadline and client-cert policy. */
function handshake(socket: net.Socket, config: ServerTlsConfig): Promise<tls.TLSSocket> {
  const secure = new tls.TLSSocket(socket, {
    isServer: true,
    key: config.key,
    cert: config.cert,
    ca: config.ca,
    requestCert: config.requestCert,
    rejectUnauthorized: config.rejectUnauthorized,
    minVersion: config.minVersion,
  });
  return new Promise((resolve, reject) => {
    const fail = (err: Error): void => {
      clearTimeout(timer);
      secure.removeAllListeners("secure");
      secure.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error("TLS handshake timed out")), TLS_HANDSHAKE_TIMEOUT_MS);
    secure.once("error", (err: Error) => fail(new Error(`TLS handshake failed - ${err.message}`)));
    secure.once("close", () => fail(new Error("connection closed during TLS handshake")));
    secure.once("secure", () => {
      if (config.clientAuthPolicy !== "none" && !hasPeerCertificate(secure)) {
        fail(new Error("TLS handshake failed - client didn't provide a certificate"));
        return;
      }
      if (config.rejectUnauthorized && !secure.authorized) {
        fail(new Error(`TLS handshake failed - ${String(secure.authorizationError ?? "certificate not verified")}`));
        return;
      }
      clearTimeout(timer);
      secure.removeAllListeners("error");
      secure.removeAllListeners("close");
      resolve(secure);
    });
  });
}

function hasPeerCertificate(secure: tls.TLSSocket): boolean {
  const cert = secure.getPeerCertificate();
  return cert !== null && typeof cert === "object" && Object.keys(cert).length > 0;
}

function describeSession(secure: tls.TLSSocket): ClientTlsDetails {
  const cipher = secure.getCipher() as { name?: string; standardName?: string } | undefined;
  const peer = secure.getPeerCertificate();
  const cn = peer !== null && typeof peer === "object" ? peer.subject?.CN : undefined;
  const alpn = secure.alpnProtocol;
  return {
    version: statsTlsVersion(secure.getProtocol()),
    cipherSuite: cipher?.standardName ?? cipher?.name ?? "",
    negotiatedProtocol: typeof alpn === "string" ? alpn : "",
    // Go reports this as always true for TLS connections
    negotiatedProtocolIsMutual: true,
    commonName: typeof cn === "string" ? cn : Array.isArray(cn) ? String(cn[0] ?? "") : "",
  };
}

/**
 * The client's top transport also answers node:tls's session accessors (getCipher, getProtocol,
 * alpnProtocol), so code that only sees `client.transport` (e.g. /stats) can describe the TLS
 * session under any compression layer. `clientTlsDetails` is the typed way to get the same.
 */
function withSessionInfo(top: ClientTransport, secure: tls.TLSSocket): ClientTransport {
  return {
    write: (data) => top.write(data),
    end: () => top.end(),
    destroy: () => top.destroy(),
    getCipher: () => secure.getCipher(),
    getProtocol: () => secure.getProtocol(),
    get alpnProtocol() {
      return secure.alpnProtocol;
    },
  } as ClientTransport;
}

function tlsTransport(secure: tls.TLSSocket, raw: net.Socket): ClientTransport {
  return {
    write: (data) => secure.write(data),
    end: () => void secure.end(),
    destroy: () => {
      secure.destroy();
      raw.destroy();
    },
  };
}

/** Snappy framing is synchronous: each batch becomes chunks written straight through. */
function snappyTransport(lower: ClientTransport): ClientTransport {
  const encoder = new SnappyFrameEncoder();
  return {
    write: (data) => lower.write(encoder.encode(data)),
    end: () => lower.end(),
    destroy: () => lower.destroy(),
  };
}

/**
 * Raw DEFLATE with a sync flush after every batch, so the peer can decode each batch at once.
 * zlib works asynchronously: compressed output is forwarded as it appears; backpressure is
 * reported when either zlib's input buffer or the layer below is full.
 */
function deflateTransport(
  lower: ClientTransport,
  bottom: net.Socket | tls.TLSSocket,
  level: number,
  client: ClientV2,
): ClientTransport {
  const deflate = zlib.createDeflateRaw({ level, flush: zlib.constants.Z_SYNC_FLUSH });
  let lowerBlocked = false;
  deflate.on("data", (chunk: Buffer) => {
    if (!lower.write(chunk)) lowerBlocked = true;
  });
  deflate.on("drain", () => client.onDrain());
  deflate.on("error", () => client.close());
  // the stream below also reports its drain to client.onDrain; this listener runs first
  bottom.prependListener("drain", () => {
    lowerBlocked = false;
  });
  return {
    write(data) {
      const ok = deflate.write(data);
      return ok && !lowerBlocked;
    },
    end() {
      deflate.once("end", () => lower.end());
      deflate.end();
    },
    destroy() {
      deflate.destroy();
      lower.destroy();
    },
  };
}
