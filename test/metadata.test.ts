import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  deferredSidecarPath,
  deleteDeferredSidecar,
  encodeMetadata,
  readDeferredSidecar,
  readMetadata,
  writeDeferredSidecar,
  writeMetadata,
} from "../src/server/metadata.ts";

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "nsq-meta-"));
  dirs.push(d);
  return d;
}

describe("nsqd.dat", () => {
  test("written in Go's field order with exactly nsqd's bytes, mode 0600, no tmp left", () => {
    const dir = tempDir();
    writeMetadata(dir, {
      topics: [
        { name: "orders", paused: false, channels: [{ name: "archive", paused: true }] },
        { name: "empty", paused: true, channels: [] },
      ],
    });
    const file = join(dir, "nsqd.dat");
    expect(readFileSync(file, "utf8")).toBe(
      '{"topics":[{"name":"orders","paused":false,"channels":[{"name":"archive","paused":true}]},' +
        '{"name":"empty","paused":true,"channels":null}],"version":"1.3.0"}',
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["nsqd.dat"]);
  });

  test("topics is null when there are none; ephemeral topics and channels are never written", () => {
    expect(encodeMetadata({ topics: [] })).toBe('{"topics":null,"version":"1.3.0"}');
    expect(
      encodeMetadata({
        topics: [
          { name: "t#ephemeral", paused: false, channels: [{ name: "c", paused: false }] },
          { name: "t", paused: false, channels: [{ name: "c#ephemeral", paused: false }] },
        ],
      }),
    ).toBe('{"topics":[{"name":"t","paused":false,"channels":null}],"version":"1.3.0"}');
  });

  test("round trip, and a missing file means a fresh start (null)", () => {
    const dir = tempDir();
    expect(readMetadata(dir)).toBeNull();
    const meta = { topics: [{ name: "a", paused: true, channels: [{ name: "b", paused: false }] }] };
    writeMetadata(dir, meta);
    expect(readMetadata(dir)).toEqual(meta);
    writeMetadata(dir, { topics: [] }); // rename over the existing file
    expect(readMetadata(dir)).toEqual({ topics: [] });
  });

  test("reads files written by real nsqd: nulls, missing fields, unknown keys, case-insensitive keys", () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, "nsqd.dat"),
      '{"topics":[{"name":"x","paused":false,"channels":null},{"Name":"y","Channels":[{"name":"z"}],"extra":1}],"version":"1.2.1"}',
    );
    expect(readMetadata(dir)).toEqual({
      topics: [
        { name: "x", paused: false, channels: [] },
        { name: "y", paused: false, channels: [{ name: "z", paused: false }] },
      ],
    });
    writeFileSync(join(dir, "nsqd.dat"), '{"topics":null,"version":"1.3.0"}');
    expect(readMetadata(dir)).toEqual({ topics: [] });
  });

  test("unparsable or mistyped metadata throws a clear error naming the file", () => {
    const dir = tempDir();
    const file = join(dir, "nsqd.dat");
    writeFileSync(file, "{not json");
    expect(() => readMetadata(dir)).toThrow(`failed to parse metadata in ${file} - `);
    writeFileSync(file, '{"topics":[{"name":5}]}');
    expect(() => readMetadata(dir)).toThrow("topics[0].name: expected a string");
    writeFileSync(file, '{"topics":{"a":1}}');
    expect(() => readMetadata(dir)).toThrow("topics: expected an array or null");
  });

  test("write failure reports the path and leaves no tmp file", () => {
    const dir = tempDir();
    const missing = join(dir, "nope");
    expect(() => writeMetadata(missing, { topics: [] })).toThrow(`failed to write ${join(missing, "nsqd.dat")}`);
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe("deferred sidecar", () => {
  test("binary layout: magic, count, [id][due ms] entries, CRC-32", () => {
    const dir = tempDir();
    const due = 1_700_000_123_456;
    writeDeferredSidecar(dir, "orders:archive", [
      { id: "0123456789abcdef", due },
      { id: Buffer.from("fedcba9876543210", "latin1"), due: due + 5 },
    ]);
    const file = deferredSidecarPath(dir, "orders:archive");
    expect(file).toBe(join(dir, "orders:archive.diskqueue.deferred.bin"));
    const bytes = readFileSync(file);
    expect(bytes.length).toBe(12 + 2 * 24 + 4);
    expect(bytes.toString("latin1", 0, 8)).toBe("NSQDEFR1");
    expect(bytes.readUInt32BE(8)).toBe(2);
    expect(bytes.toString("latin1", 12, 28)).toBe("0123456789abcdef");
    expect(Number(bytes.readBigInt64BE(28))).toBe(due);
    expect(bytes.toString("latin1", 36, 52)).toBe("fedcba9876543210");
    expect(Number(bytes.readBigInt64BE(52))).toBe(due + 5);
    expect(bytes.readUInt32BE(60)).toBe(Bun.hash.crc32(bytes.subarray(0, 60)));
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const back = readDeferredSidecar(dir, "orders:archive");
    expect(back.error).toBeUndefined();
    expect([...back.deadlines]).toEqual([
      ["0123456789abcdef", due],
      ["fedcba9876543210", due + 5],
    ]);
  });

  test("no entries removes the sidecar; a missing sidecar reads as empty", () => {
    const dir = tempDir();
    writeDeferredSidecar(dir, "q", [{ id: "0000000000000001", due: 1 }]);
    writeDeferredSidecar(dir, "q", []);
    expect(existsSync(deferredSidecarPath(dir, "q"))).toBe(false);
    expect(readDeferredSidecar(dir, "q")).toEqual({ deadlines: new Map() });
    deleteDeferredSidecar(dir, "q"); // idempotent
  });

  test("damaged sidecars are ignored with an explanation, never thrown", () => {
    const dir = tempDir();
    writeDeferredSidecar(dir, "q", [{ id: "0000000000000001", due: 10 }]);
    const file = deferredSidecarPath(dir, "q");
    const good = readFileSync(file);
    const flipped = Buffer.from(good);
    flipped[20] ^= 1;
    writeFileSync(file, flipped);
    expect(readDeferredSidecar(dir, "q").error).toContain("checksum");
    writeFileSync(file, good.subarray(0, good.length - 3));
    expect(readDeferredSidecar(dir, "q").error).toContain("expected 40");
    writeFileSync(file, "hello");
    const r = readDeferredSidecar(dir, "q");
    expect(r.error).toContain("no valid header");
    expect(r.deadlines.size).toBe(0);
  });

  test("IDs must be 16 bytes", () => {
    expect(() => writeDeferredSidecar(tempDir(), "q", [{ id: "short", due: 1 }])).toThrow("must be 16 bytes, got 5");
  });
});
