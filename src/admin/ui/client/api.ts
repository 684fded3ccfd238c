/** Calls to nsqadmin's JSON API, with a deadline and errors that say what failed. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

let base = "";

export function setBasePath(basePath: string): void {
  base = basePath === "/" ? "" : basePath;
}

export function url(path: string): string {
  return base + path;
}

export async function call<T>(method: string, path: string, body?: unknown, poll = false, timeoutMs = 15000): Promise<T> {
  let res: Response;
  const headers: Record<string, string> = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // the server logs these periodic reads at debug level only
  if (poll) headers["X-Nsqadmin-Poll"] = "1";
  try {
    res = await fetch(url(path), {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const e = err as Error;
    throw new ApiError(0, e.name === "TimeoutError" ? "nsqadmin did not answer in time" : `nsqadmin unreachable: ${e.message}`);
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: reported below with the status
  }
  if (!res.ok) {
    const message = parsed && typeof parsed === "object" && "message" in parsed ? String((parsed as { message: unknown }).message) : text;
    throw new ApiError(res.status, `${res.status}: ${message}`);
  }
  return parsed as T;
}

/** A periodic read of the live views. */
export const get = <T>(path: string): Promise<T> => call<T>("GET", path, undefined, true);
