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
