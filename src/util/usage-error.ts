/**
 * A mistake in how a program was invoked (a bad flag value, a missing argument): src/cli.ts reports
 * it as one line with exit code 2. Any layer may throw it, so it lives in util/.
 */
export class UsageError extends Error {
  override name = "UsageError";
}
