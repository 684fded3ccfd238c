/**
 * Error classes of the client library. Callers branch on the class (and `code` for broker
 * errors) instead of matching message text.
 */

/** Error codes nsqd sends that do not close the connection (spec §1.11). */
const NON_FATAL_CODES = new Set(["E_FIN_FAILED", "E_REQ_FAILED", "E_TOUCH_FAILED"]);

/** An error frame sent by nsqd: `<E_CODE> <description>`. */
export class NsqError extends Error {
  override name = "NsqError";
  constructor(
    readonly code: string,
    readonly description: string,
    /** the nsqd address the error came from, for context in logs */
    readonly address: string,
  ) {
    super(description ? `${address}: ${code} ${description}` : `${address}: ${code}`);
  }
  /** Only FIN/REQ/TOUCH failures leave the connection open. */
  get fatal(): boolean {
    return !NON_FATAL_CODES.has(this.code);
  }
  /** Parses the data of an error frame. */
  static fromFrame(data: Uint8Array, address: string): NsqError {
    const text = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("utf8");
    const space = text.indexOf(" ");
    return space < 0 ? new NsqError(text, "", address) : new NsqError(text.slice(0, space), text.slice(space + 1), address);
  }
}

/** The byte stream from nsqd broke the protocol (bad frame size, unknown frame type, ...). */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** The peer's first bytes are not an NSQ frame: the address is not an nsqd TCP port. */
export class NotNsqServerError extends ProtocolError {
  override name = "NotNsqServerError";
}

/** The TCP connection could not be made, or closed while a command waited for its reply. */
export class ConnectionError extends Error {
  override name = "ConnectionError";
  constructor(
    message: string,
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(`${address}: ${message}`, options);
  }
}

/** A timeout on dial, read or a reply. */
export class TimeoutError extends ConnectionError {
  override name = "TimeoutError";
}

/** A bad client option (`--consumer-opt`, `--producer-opt`, or config given by an embedder). */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** An HTTP query to nsqlookupd / nsqd failed. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    message: string,
    readonly url: string,
    /** HTTP status, 0 when no response arrived */
    readonly status: number,
  ) {
    super(`${url}: ${message}`);
    this.reason = message;
  }
  /** the message without the URL, e.g. `HTTP 404 TOPIC_NOT_FOUND` */
  readonly reason: string;
}

/** Turns anything thrown into a one-line text for logs and CLI messages. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
