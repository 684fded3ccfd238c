/**
 * The HTML every UI page path answers with: the stylesheet, the script, and the settings the
 * client needs (base path, whether this user may act, the lookupds) as JSON in the page. The
 * client (client/main.ts) renders the page for the path and keeps it live.
 */
import type { UiConfig } from "../api-types.ts";

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export function renderShell(config: UiConfig): string {
  const base = config.basePath === "/" ? "" : config.basePath;
  // "<" escaped so no value can close the script element
  const json = JSON.stringify(config).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>nsqadmin</title>
<link rel="icon" href="${escapeHtml(base)}/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="${escapeHtml(base)}/static/app.css">
<script>try{var t=localStorage.getItem("nsqadmin-theme");if(t)document.documentElement.dataset.theme=t}catch(e){}</script>
</head>
<body>
<div id="app"><noscript>nsqadmin needs JavaScript.</noscript></div>
<script id="nsqadmin-config" type="application/json">${json}</script>
<script src="${escapeHtml(base)}/static/app.js"></script>
</body>
</html>
`;
}
