/**
 * nsqd's persistent metadata (spec §2.10) and our deferred-deadline sidecar.
 *
 * `<data-path>/nsqd.dat` is JSON in Go's field order, e.g.
 *   {"topics":[{"name":"orders","paused":false,"channels":[{"name":"archive","paused":true}]}],"version":"1.3.0"}
 * with `topics`/`channels` null when empty and only non-ephemeral topics/channels listed. It is written to
 * `nsqd.dat.<random>.tmp`, fsynced, renamed over the real file (mode 0600) and the directory is fsynced.
 *
 * Deferred sidecar `<data-path>/<queue name>.diskqueue.deferred.bin` — lets deferred messages flushed to a
 * channel's disk queue at shutdown keep their remaining delay across a restart, while the queue files stay
 * exactly what real nsqd writes (real nsqd ignores the sidecar and just delivers them at once, as it would anyway):
 *
 *   offset      size  field
 *   0           8     magic "NSQDEFR1" (ASCII; the trailing 1 is the format version)
 *   8           4     N, uint32 big-endian: number of entries
 *   12          24×N  entries: [16 bytes message ID, ASCII hex as on the wire][int64 big-endian due time, unix ms]
 *   12 + 24×N   4     CRC-32 (IEEE, as zlib) of every preceding byte, uint32 big-endian
 *
 * A message read back from the disk queue whose ID is in the map is re-deferred until its due time (delivered at
 * once if that has passed). Written like nsqd.dat (tmp + fsync + rename, 0600); no entries → no file. A sidecar
 * that is truncated, has the wrong magic or a bad checksum is ignored (the messages are delivered immediately,
 * which is real nsqd's behaviour) — readDeferredSidecar reports that as an error string, it never throws for it.
 */
import { readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { isEphemeral } from "../protocol/names.ts";
import { NSQ_VERSION } from "../protocol/version.ts";
import { fsyncDirectory, replaceFileDurably, replaceFileDurablyAsync } from "./durable-file.ts";

export interface ChannelMetadata {
  name: string;
  paused: boolean;
  /**
   * Beyond nsqd: the channel's dead-letter limit (src/server/dead-letter.ts), written as
   * `max_attempts` only when set. nsqd's JSON decoding ignores the key (it drops it when it rewrites the file).
   */
  maxAttempts?: number;
}

export interface TopicMetadata {
  name: string;
  paused: boolean;
  channels: ChannelMetadata[];
}

export interface NsqdMetadata {
  topics: TopicMetadata[];
}

export const METADATA_FILE_NAME = "nsqd.dat";

export function metadataPath(dataPath: string): string {
  return join(dataPath, METADATA_FILE_NAME);
}

/**
 * Reads `nsqd.dat`. Returns null when there is none (fresh start). Throws an Error with the file name when it
 * cannot be read or parsed (real nsqd refuses to start then: "failed to parse metadata in <file> - <reason>").
 * Like Go's encoding/json: unknown keys are ignored, keys match case-insensitively, missing fields default.
 * Names are returned as stored; the caller validates them (invalid ones are skipped with a warning by nsqd).
 */
export function readMetadata(dataPath: string): NsqdMetadata | null {
  const file = metadataPath(dataPath);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return null;
    throw new Error(`failed to read metadata from ${file} - ${errorText(err)}`, { cause: err });
  }
  try {
    return decodeMetadata(JSON.parse(text));
  } catch (err) {
    throw new Error(`failed to parse metadata in ${file} - ${errorText(err)}`, { cause: err });
  }
}

/** Writes `nsqd.dat` atomically; ephemeral topics and channels are left out. */
export function writeMetadata(dataPath: string, meta: NsqdMetadata): void {
  writeFileAtomically(dataPath, METADATA_FILE_NAME, Buffer.from(encodeMetadata(meta), "utf8"));
}

/**
 * writeMetadata without blocking the event loop on the fsyncs (run-time rewrites; the broker
 * runs at most one at a time). Rejects with the file name on failure.
 */
export async function writeMetadataAsync(dataPath: string, meta: NsqdMetadata): Promise<void> {
  const target = metadataPath(dataPath);
  try {
    await replaceFileDurablyAsync(target, Buffer.from(encodeMetadata(meta), "utf8"), dataPath);
  } catch (err) {
    throw new Error(`failed to write ${target} - ${errorText(err)}`, { cause: err });
  }
}

/** A channel entry as written: nsqd's two keys, then ours when set. */
type ChannelJson = { name: string; paused: boolean; max_attempts?: number };

/** The exact JSON text nsqd writes for this metadata. */
export function encodeMetadata(meta: NsqdMetadata): string {
  const topics: { name: string; paused: boolean; channels: ChannelJson[] | null }[] = [];
  for (const topic of meta.topics) {
    if (isEphemeral(topic.name)) continue;
    const channels: ChannelJson[] = [];
    for (const channel of topic.channels) {
      if (isEphemeral(channel.name)) continue;
      const entry: ChannelJson = { name: channel.name, paused: channel.paused };
      if (channel.maxAttempts !== undefined) entry.max_attempts = channel.maxAttempts;
      channels.push(entry);
    }
    topics.push({ name: topic.name, paused: topic.paused, channels: channels.length > 0 ? channels : null });
  }
  return JSON.stringify({ topics: topics.length > 0 ? topics : null, version: NSQ_VERSION });
}

function decodeMetadata(value: unknown): NsqdMetadata {
  const root = asObject(value, "metadata");
  const topicsValue = field(root, "topics");
  const topics: TopicMetadata[] = [];
  for (const [i, topicValue] of asArray(topicsValue, "topics").entries()) {
    const topic = asObject(topicValue, `topics[${i}]`);
    const channels: ChannelMetadata[] = [];
    for (const [j, channelValue] of asArray(field(topic, "channels"), `topics[${i}].channels`).entries()) {
      const channel = asObject(channelValue, `topics[${i}].channels[${j}]`);
      const entry: ChannelMetadata = {
        name: asString(field(channel, "name"), `topics[${i}].channels[${j}].name`),
        paused: asBoolean(field(channel, "paused"), `topics[${i}].channels[${j}].paused`),
      };
      const maxAttempts = field(channel, "max_attempts");
      if (typeof maxAttempts === "number" && Number.isInteger(maxAttempts) && maxAttempts >= 0) entry.maxAttempts = maxAttempts;
      channels.push(entry);
    }
    topics.push({
      name: asString(field(topic, "name"), `topics[${i}].name`),
      paused: asBoolean(field(topic, "paused"), `topics[${i}].paused`),
      channels,
    });
  }
  return { topics };
}

type JsonObject = Record<string, unknown>;

/** Go's encoding/json prefers an exact key match, then a case-insensitive one. */
function field(obj: JsonObject, key: string): unknown {
  if (key in obj) return obj[key];
  for (const k of Object.keys(obj)) if (k.toLowerCase() === key) return obj[k];
  return undefined;
}

function asObject(value: unknown, what: string): JsonObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error(`${what}: expected an object`);
  return value as JsonObject;
}

function asArray(value: unknown, what: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new Error(`${what}: expected an array or null`);
  return value;
}

function asString(value: unknown, what: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new Error(`${what}: expected a string`);
  return value;
}

function asBoolean(value: unknown, what: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") throw new Error(`${what}: expected a boolean`);
  return value;
}

// ---------------------------------------------------------------------------------------------------------------
// Deferred sidecar

export interface DeferredEntry {
  /** The 16-byte message ID (bytes or a 16-character latin1/ASCII string). */
  id: Uint8Array | string;
  /** Absolute due time, unix milliseconds. */
  due: number;
}

export interface DeferredSidecar {
  /** Message ID (16-char latin1 string) → due time in unix ms; empty when there is no usable sidecar. */
  deadlines: Map<string, number>;
  /** Why an existing sidecar was ignored (log it as a warning); undefined when all is well. */
  error?: string;
}

const SIDECAR_MAGIC = Buffer.from("NSQDEFR1", "latin1");
const SIDECAR_HEADER = 12;
const SIDECAR_ENTRY = 24;
const MESSAGE_ID_LENGTH = 16;

export function deferredSidecarPath(dataPath: string, queueName: string): string {
  return join(dataPath, deferredSidecarName(queueName));
}

function deferredSidecarName(queueName: string): string {
  return `${queueName}.diskqueue.deferred.bin`;
}

/** Persists the deferred deadlines of one queue; an empty set removes the sidecar. */
export function writeDeferredSidecar(dataPath: string, queueName: string, entries: Iterable<DeferredEntry>): void {
  const list = Array.isArray(entries) ? (entries as DeferredEntry[]) : [...entries];
  if (list.length === 0) {
    deleteDeferredSidecar(dataPath, queueName);
    return;
  }
  const bytes = Buffer.alloc(SIDECAR_HEADER + SIDECAR_ENTRY * list.length + 4);
  SIDECAR_MAGIC.copy(bytes, 0);
  bytes.writeUInt32BE(list.length, 8);
  let offset = SIDECAR_HEADER;
  for (const entry of list) {
    const id = typeof entry.id === "string" ? Buffer.from(entry.id, "latin1") : entry.id;
    if (id.length !== MESSAGE_ID_LENGTH) {
      throw new Error(`deferred sidecar for ${queueName}: message ID must be ${MESSAGE_ID_LENGTH} bytes, got ${id.length}`);
    }
    if (!Number.isFinite(entry.due)) throw new Error(`deferred sidecar for ${queueName}: invalid due time ${entry.due}`);
    bytes.set(id, offset);
    bytes.writeBigInt64BE(BigInt(Math.trunc(entry.due)), offset + MESSAGE_ID_LENGTH);
    offset += SIDECAR_ENTRY;
  }
  bytes.writeUInt32BE(crc32(bytes.subarray(0, offset)) >>> 0, offset);
  writeFileAtomically(dataPath, deferredSidecarName(queueName), bytes);
}

/** Reads a queue's deferred deadlines. Never throws: an unusable sidecar yields no deadlines plus `error`. */
export function readDeferredSidecar(dataPath: string, queueName: string): DeferredSidecar {
  const file = deferredSidecarPath(dataPath, queueName);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return { deadlines: new Map() };
    return { deadlines: new Map(), error: `failed to read deferred sidecar ${file} - ${errorText(err)}` };
  }
  if (bytes.length < SIDECAR_HEADER + 4 || !bytes.subarray(0, 8).equals(SIDECAR_MAGIC)) {
    return { deadlines: new Map(), error: `deferred sidecar ${file} has no valid header` };
  }
  const count = bytes.readUInt32BE(8);
  const end = SIDECAR_HEADER + SIDECAR_ENTRY * count;
  if (bytes.length !== end + 4) {
    return { deadlines: new Map(), error: `deferred sidecar ${file} is ${bytes.length} bytes, expected ${end + 4} for ${count} entries` };
  }
  if ((crc32(bytes.subarray(0, end)) >>> 0) !== bytes.readUInt32BE(end)) {
    return { deadlines: new Map(), error: `deferred sidecar ${file} fails its checksum` };
  }
  const deadlines = new Map<string, number>();
  for (let offset = SIDECAR_HEADER; offset < end; offset += SIDECAR_ENTRY) {
    const id = bytes.toString("latin1", offset, offset + MESSAGE_ID_LENGTH);
    deadlines.set(id, Number(bytes.readBigInt64BE(offset + MESSAGE_ID_LENGTH)));
  }
  return { deadlines };
}

export function deleteDeferredSidecar(dataPath: string, queueName: string): void {
  try {
    unlinkSync(deferredSidecarPath(dataPath, queueName));
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw new Error(`failed to remove deferred sidecar for ${queueName} - ${errorText(err)}`, { cause: err });
  }
}

// ---------------------------------------------------------------------------------------------------------------

/** `<name>.<random>.tmp` + write + fsync + rename (0600), then fsync the directory so the rename is durable. */
function writeFileAtomically(dir: string, name: string, bytes: Uint8Array): void {
  const target = join(dir, name);
  try {
    replaceFileDurably(target, bytes);
  } catch (err) {
    throw new Error(`failed to write ${target} - ${errorText(err)}`, { cause: err });
  }
  fsyncDirectory(dir);
}

function errnoCode(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "string") return err.code;
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
