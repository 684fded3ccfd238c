/**
 * nsqd's options, with nsqd v1.3.0's defaults. Durations are milliseconds.
 * The command line (src/server/flags.ts) and the TOML config file map onto this shape;
 * embedders pass a Partial<NsqdOptions> to `new Nsqd()`.
 */
import { hostname } from "node:os";
import { createHash } from "node:crypto";

export type TlsRequired = "false" | "true" | "tcp-https";

export interface NsqdOptions {
  logLevel: "debug" | "info" | "warn" | "error" | "fatal";
  logPrefix: string;
  nodeId: number;
  tcpAddress: string;
  httpAddress: string;
  httpsAddress: string;
  broadcastAddress: string;
  broadcastTcpPort: number;
  broadcastHttpPort: number;
  lookupdTcpAddresses: string[];
  authHttpAddresses: string[];
  authHttpRequestMethod: string;
  httpClientConnectTimeout: number;
  httpClientRequestTimeout: number;
  dataPath: string;
  memQueueSize: number;
  maxBytesPerFile: number;
  syncEvery: number;
  syncTimeout: number;
  queueScanWorkerPoolMax: number;
  queueScanSelectionCount: number;
  msgTimeout: number;
  maxMsgTimeout: number;
  maxMsgSize: number;
  maxReqTimeout: number;
  maxBodySize: number;
  maxHeartbeatInterval: number;
  maxRdyCount: number;
  maxOutputBufferSize: number;
  maxOutputBufferTimeout: number;
  minOutputBufferTimeout: number;
  outputBufferTimeout: number;
  maxChannelConsumers: number;
  statsdAddress: string;
  statsdPrefix: string;
  statsdInterval: number;
  statsdMemStats: boolean;
  statsdUdpPacketSize: number;
  statsdExcludeEphemeral: boolean;
  e2eProcessingLatencyPercentiles: number[];
  e2eProcessingLatencyWindowTime: number;
  tlsCert: string;
  tlsKey: string;
  tlsClientAuthPolicy: string;
  tlsRootCaFile: string;
  tlsRequired: TlsRequired;
  tlsMinVersion: string;
  deflate: boolean;
  maxDeflateLevel: number;
  snappy: boolean;
  topologyRegion: string;
  topologyZone: string;
  enableExperiment: string[];
  // ---- beyond nsqd (README "Beyond nsqd"); every default keeps nsqd's behaviour ----
  /** ms; 0 = --max-req-timeout is also the DPUB / `defer=` limit (nsqd) */
  maxDeferTimeout: number;
  /** deliveries before a failed message goes to the dead-letter topic; 0 = never (nsqd) */
  maxAttempts: number;
  deadLetterTopicSuffix: string;
  /** ms a SIGTERM/SIGINT waits for in-flight messages before exiting; 0 = exit at once (nsqd) */
  drainTimeout: number;
}

/** The longest DPUB / `defer=` delay: --max-defer-timeout when set, else --max-req-timeout (nsqd). */
export function maxDeferTimeout(opts: Pick<NsqdOptions, "maxDeferTimeout" | "maxReqTimeout">): number {
  return opts.maxDeferTimeout > 0 ? opts.maxDeferTimeout : opts.maxReqTimeout;
}

/** nsqd's default node id: crc32(md5(hostname)) % 1024. */
export function defaultNodeId(host: string = hostname()): number {
  const digest = createHash("md5").update(host).digest();
  return crc32(digest) % 1024;
}

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc ^= data[i]!;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export function defaultNsqdOptions(): NsqdOptions {
  const host = hostname();
  return {
    logLevel: "info",
    logPrefix: "[nsqd] ",
    nodeId: defaultNodeId(host),
    tcpAddress: "0.0.0.0:4150",
    httpAddress: "0.0.0.0:4151",
    httpsAddress: "0.0.0.0:4152",
    broadcastAddress: host,
    broadcastTcpPort: 0,
    broadcastHttpPort: 0,
    lookupdTcpAddresses: [],
    authHttpAddresses: [],
    authHttpRequestMethod: "get",
    httpClientConnectTimeout: 2000,
    httpClientRequestTimeout: 5000,
    dataPath: "",
    memQueueSize: 10000,
    maxBytesPerFile: 104857600,
    syncEvery: 2500,
    syncTimeout: 2000,
    queueScanWorkerPoolMax: 4,
    queueScanSelectionCount: 20,
    msgTimeout: 60_000,
    maxMsgTimeout: 15 * 60_000,
    maxMsgSize: 1048576,
    maxReqTimeout: 3_600_000,
    maxBodySize: 5242880,
    maxHeartbeatInterval: 60_000,
    maxRdyCount: 2500,
    maxOutputBufferSize: 65536,
    maxOutputBufferTimeout: 30_000,
    minOutputBufferTimeout: 25,
    outputBufferTimeout: 250,
    maxChannelConsumers: 0,
    statsdAddress: "",
    statsdPrefix: "nsq.%s",
    statsdInterval: 60_000,
    statsdMemStats: true,
    statsdUdpPacketSize: 508,
    statsdExcludeEphemeral: false,
    e2eProcessingLatencyPercentiles: [],
    e2eProcessingLatencyWindowTime: 10 * 60_000,
    tlsCert: "",
    tlsKey: "",
    tlsClientAuthPolicy: "",
    tlsRootCaFile: "",
    tlsRequired: "false",
    tlsMinVersion: "tls1.0",
    deflate: true,
    maxDeflateLevel: 6,
    snappy: true,
    topologyRegion: "",
    topologyZone: "",
    enableExperiment: [],
    maxDeferTimeout: 0,
    maxAttempts: 0,
    deadLetterTopicSuffix: ".dead",
    drainTimeout: 0,
  };
}
