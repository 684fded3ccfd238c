/**
 * nsqd → client framing (spec §1.3): [int32 size][int32 type][data], size = 4 + len(data).
 */
export const FRAME_TYPE_RESPONSE = 0;
export const FRAME_TYPE_ERROR = 1;
export const FRAME_TYPE_MESSAGE = 2;

/** Bytes of the V2 magic "  V2" and lookupd's "  V1". */
export const MAGIC_V2 = Buffer.from("  V2");
export const MAGIC_V1 = Buffer.from("  V1");

export function encodeFrame(type: number, data: Uint8Array | string): Buffer {
  const body = typeof data === "string" ? Buffer.from(data) : data;
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeInt32BE(4 + body.length, 0);
  out.writeInt32BE(type, 4);
  out.set(body, 8);
  return out;
}

/** Frames sent often enough to be built once. */
export const FRAME_OK = encodeFrame(FRAME_TYPE_RESPONSE, "OK");
export const FRAME_HEARTBEAT = encodeFrame(FRAME_TYPE_RESPONSE, "_heartbeat_");
export const FRAME_CLOSE_WAIT = encodeFrame(FRAME_TYPE_RESPONSE, "CLOSE_WAIT");
