/** The parts of nsqjs (an untyped npm package) that the interoperability tests use. */
declare module "nsqjs" {
  import { EventEmitter } from "node:events";

  export interface Message {
    id: string;
    body: Buffer;
    attempts: number;
    timestamp: unknown;
    finish(): void;
    requeue(delay?: number, backoff?: boolean): void;
    touch(): void;
  }

  export class Reader extends EventEmitter {
    constructor(topic: string, channel: string, options: Record<string, unknown>);
    connect(): void;
    close(): void;
  }

  export class Writer extends EventEmitter {
    constructor(host: string, port: number, options?: Record<string, unknown>);
    connect(): void;
    close(): void;
    publish(topic: string, msgs: string | Buffer | (string | Buffer)[], callback?: (err?: Error) => void): void;
    deferPublish(topic: string, msgs: string | Buffer | (string | Buffer)[], timeMs: number, callback?: (err?: Error) => void): void;
  }

  const nsq: { Reader: typeof Reader; Writer: typeof Writer };
  export default nsq;
}
