/**
 * Line-by-line review of nsqd's HTTP API against nsqd v1.3.0 (nsqd/http.go, nsqd/stats.go,
 * internal/http_api/*.go and the router it uses, julienschmidt/httprouter v1.3.0). Each
 * `test.failing` shows one observable difference that is not fixed yet: it passes while our
 * broker still differs, and starts failing (so must be turned into a plain `test`) once src/ is
 * fixed. The comment above each names the Go lines. Requests go over a raw socket so redirects
 * are not followed and every header is seen as sent.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startBroker, type TestBroker } from "./helpers/broker.ts";
import { RawClient } from "./helpers/raw-client.ts";
import { RawHttp, type RawHttpResponse } from "./helpers/raw-http.ts";

/** One request on its own connection; `body` is sent with a Content-Length. */
async function request(port: number, method: string, target: string, body?: string): Promise<RawHttpResponse> {
  const c = await RawHttp.connect(port);
  try {
    const len = body === undefined ? "" : `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    c.write(`${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${len}Connection: close\r\n\r\n${body ?? ""}`);
    return await c.readResponse();
  } finally {
    c.close();
  }
}

describe("routing, headers and /config against a shared broker", () => {
  let b: TestBroker;
  beforeAll(async () => {
    b = await startBroker();
  });
  afterAll(async () => {
    await b.stop();
  });

  // httprouter v1.3.0 router.go ServeHTTP: the trailing-slash recommendation (tsr) comes from
  // `r.trees[req.Method].getValue(path)`, i.e. only from routes of the request's own method. A
  // path that exists (with the other slash) only under another method gets no redirect; the 405
  // check uses the exact path, so it is 404 NOT_FOUND. OPTIONS has no tree at all, so it is never
  // redirected either. Ours (http-api/response.ts trailingSlashRedirect, called from
  // server/http.ts NsqdHttpServer.handle) redirects whenever any method has the other path.
  test("GET /pub/ is 404 NOT_FOUND (no GET route /pub to redirect to)", async () => {
    const r = await request(b.httpPort, "GET", "/pub/?topic=t");
    expect(r.status).toBe(404);
    expect(r.body).toBe('{"message":"NOT_FOUND"}');
  });

  test("POST /ping/ is 404 NOT_FOUND (no POST route /ping to redirect to)", async () => {
    const r = await request(b.httpPort, "POST", "/ping/", "");
    expect(r.status).toBe(404);
    expect(r.body).toBe('{"message":"NOT_FOUND"}');
  });

  test("OPTIONS /ping/ is 404 NOT_FOUND (OPTIONS is never redirected)", async () => {
    const r = await request(b.httpPort, "OPTIONS", "/ping/");
    expect(r.status).toBe(404);
    expect(r.body).toBe('{"message":"NOT_FOUND"}');
  });

  // httprouter v1.3.0 router.go ServeHTTP, `if r.RedirectFixedPath` (true by default, nsqd keeps
  // it): a path that matches a route of the same method after CleanPath and a case-insensitive
  // lookup is redirected there (301 for GET, 307 otherwise, query kept). Ours: 404 NOT_FOUND.
  test("GET /PING is redirected 301 to /ping (case-insensitive fixed path)", async () => {
    const r = await request(b.httpPort, "GET", "/PING");
    expect(r.status).toBe(301);
    expect(r.headers.get("location")).toBe("/ping");
  });

  test("POST /PUB?topic=t is redirected 307 to /pub?topic=t", async () => {
    const r = await request(b.httpPort, "POST", "/PUB?topic=t", "x");
    expect(r.status).toBe(307);
    expect(r.headers.get("location")).toBe("/pub?topic=t");
  });

  test("fixed-path redirects stay within the method; /CONFIG/Log_Level keeps the :opt spelling", async () => {
    expect((await request(b.httpPort, "GET", "/PUB?topic=t")).status).toBe(404);
    const c = await request(b.httpPort, "GET", "/CONFIG/log_level");
    expect(c.status).toBe(301);
    expect(c.headers.get("location")).toBe("/config/log_level");
    const d = await request(b.httpPort, "GET", "/a/../Stats/");
    expect(d.status).toBe(301);
    expect(d.headers.get("location")).toBe("/stats");
  });

  test("GET //stats is redirected 301 to /stats (CleanPath)", async () => {
    const r = await request(b.httpPort, "GET", "//stats");
    expect(r.status).toBe(301);
    expect(r.headers.get("location")).toBe("/stats");
  });

  // net/http server.go Redirect (used by httprouter for its 301/307): a GET redirect without a
  // Content-Type gets `Content-Type: text/html; charset=utf-8` and the body
  // `<a href="URL">Moved Permanently</a>.\n` written with Fprintln (so ".\n\n"). Ours: empty body,
  // no Content-Type.
  test("a GET redirect carries net/http's small HTML body", async () => {
    const r = await request(b.httpPort, "GET", "/stats/");
    expect(r.status).toBe(301);
    expect(r.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(r.body).toBe('<a href="/stats">Moved Permanently</a>.\n\n');
  });

  test("a POST redirect is 307 without a body or Content-Type; the query is kept", async () => {
    const r = await request(b.httpPort, "POST", "/pub/?topic=t&x=%41", "x");
    expect(r.status).toBe(307);
    expect(r.headers.get("location")).toBe("/pub?topic=t&x=%41");
    expect(r.headers.get("content-type")).toBeUndefined();
    expect(r.body).toBe("");
  });

  // httprouter v1.3.0 router.go allowed(): the methods found, plus OPTIONS, are sorted
  // (insertion sort, "Sort allowed methods") before joining with ", ". Ours (http-api/response.ts
  // allowHeader) lists registration order and appends OPTIONS last.
  test("405 Allow lists methods sorted: /pub → 'OPTIONS, POST'", async () => {
    const r = await request(b.httpPort, "GET", "/pub?topic=t");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("OPTIONS, POST");
  });

  test("405 Allow lists methods sorted: /config/x → 'GET, OPTIONS, PUT'", async () => {
    const r = await request(b.httpPort, "POST", "/config/log_level", "");
    expect(r.status).toBe(405);
    expect(r.headers.get("allow")).toBe("GET, OPTIONS, PUT");
  });

  test("OPTIONS Allow lists methods sorted: /debug/pprof/symbol → 'GET, OPTIONS, POST'", async () => {
    const r = await request(b.httpPort, "OPTIONS", "/debug/pprof/symbol");
    expect(r.status).toBe(200);
    expect(r.headers.get("allow")).toBe("GET, OPTIONS, POST");
  });

  // internal/http_api/api_response.go PlainText: writes status and text only; the
  // X-NSQ-Content-Type header is set by RespondV1 (V1 decorator) alone, and /ping and
  // /debug/setblockrate are decorated with PlainText, not V1 (nsqd/http.go newHTTPServer).
  // Ours (server/http.ts toResponse) adds X-NSQ-Content-Type to every reply.
  test("GET /ping has no X-NSQ-Content-Type header (PlainText route)", async () => {
    const r = await request(b.httpPort, "GET", "/ping");
    expect(r.status).toBe(200);
    expect(r.body).toBe("OK");
    expect(r.headers.get("x-nsq-content-type")).toBeUndefined();
  });

  test("PUT /debug/setblockrate error has no X-NSQ-Content-Type header (PlainText route)", async () => {
    const r = await request(b.httpPort, "PUT", "/debug/setblockrate?rate=x", "");
    expect(r.status).toBe(400);
    expect(r.body).toBe('invalid block rate : strconv.Atoi: parsing "x": invalid syntax');
    expect(r.headers.get("x-nsq-content-type")).toBeUndefined();
  });

  test("POST /debug/freememory has no X-NSQ-Content-Type; V1 routes and 404s keep it", async () => {
    const r = await request(b.httpPort, "POST", "/debug/freememory", "");
    expect(r.status).toBe(200);
    expect(r.headers.get("x-nsq-content-type")).toBeUndefined();
    expect((await request(b.httpPort, "GET", "/info")).headers.get("x-nsq-content-type")).toBe("nsq; version=1.0");
    expect((await request(b.httpPort, "GET", "/nope")).headers.get("x-nsq-content-type")).toBe("nsq; version=1.0");
  });

  // nsqd/http.go doConfig, case "log_level": lg.ParseLogLevel (internal/lg/lg.go) knows exactly
  // debug, info, warn, error, fatal (case-insensitive); "warning" → 400 INVALID_VALUE. Ours
  // (server/http-config.ts putConfigValue → util/logger.ts parseLogLevel) accepts "warning" as warn.
  test("PUT /config/log_level 'warning' is 400 INVALID_VALUE", async () => {
    const r = await request(b.httpPort, "PUT", "/config/log_level", "warning");
    expect(r.status).toBe(400);
    expect(r.body).toBe('{"message":"INVALID_VALUE"}');
    const ok = await request(b.httpPort, "PUT", "/config/log_level", "WaRn");
    expect(ok.status).toBe(200);
    expect(ok.body).toBe("3");
    expect((await request(b.httpPort, "PUT", "/config/log_level", "info")).body).toBe("2");
  });

  // nsqd/http.go doConfig, case "nsqlookupd_tcp_addresses": json.Unmarshal of `null` into the
  // []string sets it to nil, and getOptByCfgName returns that nil slice, which encodes as `null`
  // (here and on later GETs). Ours (server/http-config.ts parseStringArray) stores and returns [].
  test("PUT /config/nsqlookupd_tcp_addresses 'null' replies null", async () => {
    const r = await request(b.httpPort, "PUT", "/config/nsqlookupd_tcp_addresses", "null");
    expect(r.status).toBe(200);
    expect(r.body).toBe("null");
    const g = await request(b.httpPort, "GET", "/config/nsqlookupd_tcp_addresses");
    expect(g.body).toBe("null");
    // a later list replaces the nil one
    expect((await request(b.httpPort, "PUT", "/config/nsqlookupd_tcp_addresses", "[]")).body).toBe("[]");
    expect((await request(b.httpPort, "GET", "/config/nsqlookupd_tcp_addresses")).body).toBe("[]");
  });

  // nsqd/http.go doPUB: `deferred = time.Duration(di) * time.Millisecond` is computed before the
  // range check and wraps around int64: defer=18446744073710 becomes 448384ns (inside
  // 0..max-req-timeout), so real nsqd accepts it (200 OK, deferred < 1 ms). Ours (server/http.ts
  // parseDefer) range-checks the millisecond value → 400 INVALID_DEFER. A Go overflow quirk;
  // lowest priority.
  test.failing("POST /pub defer=18446744073710 is accepted (Go's Duration multiply wraps)", async () => {
    const r = await request(b.httpPort, "POST", "/pub?topic=review_defer_wrap&defer=18446744073710", "x");
    expect(r.status).toBe(200);
    expect(r.body).toBe("OK");
  });

  // nsqd/stats.go GetStats: when the `topic` filter names no existing topic it returns the empty
  // Stats right away (`n.RUnlock(); return stats`), before the producers are collected, so
  // /stats?topic=<unknown> has `"producers":null` even with publishers connected. Ours
  // (server/stats.ts collectStats) collects producers whatever the topic filter found.
  test("GET /stats?format=json&topic=<unknown> has producers null even with a publisher", async () => {
    const p = await RawClient.connect(b.tcpPort);
    try {
      p.pub("review_stats_producer", "x");
      expect(await p.readResponse()).toBe("OK");
      const all = JSON.parse((await request(b.httpPort, "GET", "/stats?format=json&include_mem=false")).body);
      expect(all.producers).toHaveLength(1);
      const r = await request(b.httpPort, "GET", "/stats?format=json&include_mem=false&topic=review_no_such_topic");
      expect(r.body).toBe('{"version":"1.3.0","health":"OK","start_time":' + all.start_time + ',"topics":null,"producers":null}');
      const text = await request(b.httpPort, "GET", "/stats?include_mem=false&topic=review_no_such_topic");
      expect(text.body).toContain("\nProducers: None\n");
      expect((await request(b.httpPort, "GET", "/stats?include_mem=false")).body).not.toContain("Producers: None");
    } finally {
      p.close();
    }
  });

  // net/http server.go readRequest → url.ParseRequestURI fails on a bad % escape in the path, and
  // the server itself answers `400 Bad Request` (text/plain, Connection: close) before any
  // handler runs. Ours (http-api/request.ts splitTarget) keeps the raw path → 404 NOT_FOUND JSON.
  test("a bad % escape in the path is net/http's 400 Bad Request", async () => {
    const r = await request(b.httpPort, "GET", "/ping%zz");
    expect(r.status).toBe(400);
    expect(r.body).toBe("400 Bad Request");
  });

  test("a well-formed escape that is not UTF-8 (%FF) is just an unknown path: 404 NOT_FOUND", async () => {
    const r = await request(b.httpPort, "GET", "/ping%FF");
    expect(r.status).toBe(404);
    expect(r.body).toBe('{"message":"NOT_FOUND"}');
    expect((await request(b.httpPort, "GET", "/%70ing")).body).toBe("OK");
  });
});

// ---- storage failure: needs a tiny tmpfs (root) ----

function mountTmpfs(size: string): string | null {
  const dir = mkdtempSync(join(tmpdir(), "nsq-review-http-"));
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
  return dir;
}

const fullDir = mountTmpfs("256k");
afterAll(() => {
  if (fullDir !== null) {
    spawnSync("umount", [fullDir]);
    rmSync(fullDir, { recursive: true, force: true });
  }
});

function freshDataDir(name: string): string {
  for (const f of readdirSync(fullDir!)) rmSync(join(fullDir!, f), { recursive: true, force: true });
  const d = join(fullDir!, name);
  mkdirSync(d);
  return d;
}

/** Publishes 1000-byte messages over HTTP until one is refused; returns the refusal. */
async function fillDisk(b: TestBroker, topic: string): Promise<RawHttpResponse> {
  const body = "x".repeat(1000);
  for (let i = 0; i < 2000; i++) {
    const r = await request(b.httpPort, "POST", `/pub?topic=${topic}`, body);
    if (r.status !== 200) return r;
  }
  throw new Error("the disk never filled up");
}

// nsqd/http.go doPUB and doMPUB: any error from topic.PutMessage / topic.PutMessages — including
// a failed backend write (nsqd/topic.go put → writeMessageToBackend, which also marks nsqd
// unhealthy) — is returned as Err{503, "EXITING"}. Ours (server/http.ts publish) answers a failed
// store with 500 INTERNAL_ERROR. (test/disk-full.test.ts currently asserts the 500.)
test.skipIf(fullDir === null)("POST /pub on a full disk is 503 EXITING", async () => {
  const b = await startBroker({ dataPath: freshDataDir("pub"), memQueueSize: 0 });
  try {
    const r = await fillDisk(b, "full");
    expect(r.status).toBe(503);
    expect(r.body).toBe('{"message":"EXITING"}');
  } finally {
    await b.stop();
  }
});

test.skipIf(fullDir === null)("POST /mpub on a full disk is 503 EXITING", async () => {
  const b = await startBroker({ dataPath: freshDataDir("mpub"), memQueueSize: 0 });
  try {
    await fillDisk(b, "full");
    const r = await request(b.httpPort, "POST", "/mpub?topic=full", `${"y".repeat(1000)}\n${"z".repeat(1000)}\n`);
    expect(r.status).toBe(503);
    expect(r.body).toBe('{"message":"EXITING"}');
  } finally {
    await b.stop();
  }
});
