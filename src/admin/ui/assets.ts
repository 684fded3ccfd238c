/**
 * The UI's static files, embedded: the bundled client script and the stylesheet are inlined at
 * build time by the macros of bundle-macro.ts; the icon is written here. Served at
 * <base-path>/static/<name>.
 */
import { bundleClient, readStyle } from "./bundle-macro.ts" with { type: "macro" };

const APP_JS: string = bundleClient();
const APP_CSS: string = readStyle();

/** A small mark: three stacked queues. */
const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#2563eb"/><rect x="7" y="8" width="18" height="4" rx="2" fill="#fff"/><rect x="7" y="14" width="13" height="4" rx="2" fill="#fff" opacity=".85"/><rect x="7" y="20" width="8" height="4" rx="2" fill="#fff" opacity=".7"/></svg>`;

const ASSETS: Record<string, { body: string; type: string }> = {
  "app.js": { body: APP_JS, type: "text/javascript; charset=utf-8" },
  "app.css": { body: APP_CSS, type: "text/css; charset=utf-8" },
  "favicon.svg": { body: FAVICON, type: "image/svg+xml" },
};

const gzipped = new Map<string, Uint8Array>();

/** An embedded file; `gzip` (when the browser accepts it) is compressed once, then reused. */
export function staticAsset(name: string, gzip = false): { body: string | Uint8Array; type: string; gzip: boolean } | undefined {
  if (!Object.hasOwn(ASSETS, name)) return undefined;
  const asset = ASSETS[name]!;
  if (!gzip) return { ...asset, gzip: false };
  let body = gzipped.get(name);
  if (!body) gzipped.set(name, (body = Bun.gzipSync(asset.body)));
  return { body, type: asset.type, gzip: true };
}
