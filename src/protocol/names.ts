/** Topic and channel names: `^[.a-zA-Z0-9_-]+(#ephemeral)?$`, 1..64 bytes including the suffix. */
const NAME_RE = /^[.a-zA-Z0-9_-]+(#ephemeral)?$/;
const EPHEMERAL_SUFFIX = "#ephemeral";

export function isValidName(name: string): boolean {
  return name.length >= 1 && name.length <= 64 && NAME_RE.test(name);
}
export const isValidTopicName = isValidName;
export const isValidChannelName = isValidName;

export function isEphemeral(name: string): boolean {
  return name.endsWith(EPHEMERAL_SUFFIX);
}
