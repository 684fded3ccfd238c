/** The public client API, used by the tools and by embedders. */
export { Consumer, type ConsumerOptions, type ConsumerStats, type MessageHandler } from "./consumer.ts";
export { Producer, type Body } from "./producer.ts";
export { Message, type MessageResponder } from "./message.ts";
export { NsqConnection, type AuthResponse, type IdentifyResponse, type ConnectionEvents } from "./connection.ts";
export {
  applyClientOption,
  applyClientOptionFlags,
  defaultClientConfig,
  resolveClientConfig,
  type BackoffStrategy,
  type ClientConfig,
} from "./config.ts";
export { ConfigError, ConnectionError, HttpError, NotNsqServerError, NsqError, ProtocolError, TimeoutError, errorText } from "./errors.ts";
export {
  lookupTopic,
  lookupdTopics,
  lookupdNodes,
  postAction,
  producerHttpAddress,
  producerTcpAddress,
  type LookupProducer,
  type LookupResult,
  type HttpOptions,
} from "./lookupd.ts";
export { parseHostPort, joinHostPort, type HostPort } from "./address.ts";
export { FrameParser, FRAME_ERROR, FRAME_MESSAGE, FRAME_RESPONSE } from "./frame-parser.ts";
