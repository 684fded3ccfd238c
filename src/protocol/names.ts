/** Topic and channel names: `^[.a-zA-Z0-9_-]+(#ephemeral)?$`, 1..64 bytes including the suffix. */
const NAME_RE = /^[.a-zA-Z0-9_-]+(#ephemeral)?$/;
const EPHEMERAL_SUFFIX = "#ephemeral";
/** The rule in words, for error messages of the tools. */
export const NAME_RULE = "1-64 chars of [.a-zA-Z0-9_-], optional #ephemeral suffix";

export function isValidName(name: string): boolean {
  return name.length >= 1 && name.length <= 64 && NAME_RE.test(name);
}
export const isValidTopicName = isValidName;
export const isValidChannelName = isValidName;

export function isEphemeral(name: string): boolean {
  return name.endsWith(EPHEMERAL_SUFFIX);
}
