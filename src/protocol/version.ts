/** The NSQ version every daemon reports; nsqadmin and clients compare it with semver. */
export const NSQ_VERSION = "1.3.0";
export const USER_AGENT_SUFFIX = "go-nsq/1.1.0";
