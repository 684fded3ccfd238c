/**
 * Reading a disk queue's metadata file: a damaged file is corruption of the queue, a read that
 * failed because the process ran out of file descriptors is not (issue 18: under EMFILE a new
 * topic's queue was reported as "DISKQUEUE corruption").
 */
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readQueueMetadata } from "../src/server/disk-queue-meta.ts";

function collect(path: string): { meta: unknown; corruption: string[]; errors: string[] } {
  const corruption: string[] = [];
  const errors: string[] = [];
  const meta = readQueueMetadata(path, (m) => corruption.push(m), (m) => errors.push(m));
  return { meta, corruption, errors };
}

describe("readQueueMetadata", () => {
  const dir = mkdtempSync(join(tmpdir(), "nsq-meta-"));

  test("a valid file parses; a missing one is null and nothing is reported", () => {
    const path = join(dir, "t.diskqueue.meta.dat");
    writeFileSync(path, "3\n0,10\n1,20\n");
    expect(collect(path)).toEqual({ meta: { depth: 3, readNum: 0, readPos: 10, writeNum: 1, writePos: 20 }, corruption: [], errors: [] });
    expect(collect(join(dir, "missing.dat"))).toEqual({ meta: null, corruption: [], errors: [] });
  });

  test("an unparsable or unreadable file is corruption", () => {
    const path = join(dir, "bad.diskqueue.meta.dat");
    writeFileSync(path, "garbage");
    const r = collect(path);
    expect(r.meta).toBeNull();
    expect(r.corruption[0]).toContain("unparsable metadata");
    expect(collect(dir).corruption[0]).toContain("failed to read metadata"); // EISDIR
  });

  test("out of file descriptors: an error, not corruption", async () => {
    const path = join(dir, "t.diskqueue.meta.dat");
    // a child that uses up its descriptors, then reads the file
    const script = `
      import { openSync } from "node:fs";
      import { readQueueMetadata } from ${JSON.stringify(join(import.meta.dir, "..", "src", "server", "disk-queue-meta.ts"))};
      const held = [];
      try { for (;;) held.push(openSync("/dev/null", "r")); } catch {}
      const out = { corruption: [], errors: [] };
      readQueueMetadata(${JSON.stringify(path)}, (m) => out.corruption.push(m), (m) => out.errors.push(m));
      process.stdout.write(JSON.stringify(out));`;
    const child = Bun.spawn(["sh", "-c", `ulimit -n 64 && exec "$0" -e "$1"`, process.execPath, script], { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
    const r = JSON.parse(out || `{"error":${JSON.stringify(err)}}`) as { corruption: string[]; errors: string[] };
    expect(r.corruption).toEqual([]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toContain("EMFILE");
    rmSync(dir, { recursive: true, force: true });
  });
});
