/**
 * Versions, in one place: the NSQ version whose protocols and behaviour this implements (what
 * every daemon reports; nsqadmin and clients compare it with semver), and this package's own
 * version, read from package.json so a release bump is one edit.
 */
import packageJson from "../../package.json" with { type: "json" };

/** The NSQ version every daemon reports; nsqadmin and clients compare it with semver. */
export const NSQ_VERSION = "1.3.0";
export const USER_AGENT_SUFFIX = "go-nsq/1.1.0";
/** This package's own version (package.json). */
export const PACKAGE_VERSION: string = packageJson.version;

/**
 * What the daemons print after "built w/": the Go release nsqd v1.3.0 was built with. Client test
 * suites and deployment scripts parse `nsqd --version` (and the first line of the text /stats) with
 * patterns like `built w/go(\S+)`, so the daemons keep nsqd's exact line; this implementation's own
 * version and runtime are in `nsq --version` and the `nsq_version` / `runtime` fields of /info.
 */
export const NSQD_BUILT_WITH = "go1.19.8";

/** `nsqd v1.3.0 (built w/go1.19.8)`, the daemons' version line (also nsqlookupd, nsqadmin). */
export function daemonVersionLine(program: string): string {
  return `${program} v${NSQ_VERSION} (built w/${NSQD_BUILT_WITH})`;
}

/** The runtime this build runs on, e.g. "bun 1.4.5". */
export const RUNTIME = `bun ${Bun.version}`;
