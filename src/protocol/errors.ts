/**
 * Protocol errors (spec §1.11). Every failed command answers with an error frame whose data is
 * `<CODE> <description>`; only E_FIN_FAILED, E_REQ_FAILED and E_TOUCH_FAILED keep the connection.
 */
const NON_FATAL = new Set(["E_FIN_FAILED", "E_REQ_FAILED", "E_TOUCH_FAILED"]);

export class ProtocolError extends Error {
  override name = "ProtocolError";
  readonly fatal: boolean;
  constructor(
    readonly code: string,
    readonly description: string,
  ) {
    super(description ? `${code} ${description}` : code);
    this.fatal = !NON_FATAL.has(code);
  }
  /** the error frame's data */
  wireText(): string {
    return this.message;
  }
}
