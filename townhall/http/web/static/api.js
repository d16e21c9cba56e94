// Fetch helpers for the JSON API. Errors throw ApiError carrying the server's error
// body: `code` (what pages act on), `detail` (a sentence to show) and `fields`
// ({input name: sentence}, for a 422 and other refusals about one input).

export class ApiError extends Error {
  constructor(status, message, { code = null, fields = {}, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

/** {input name: sentence}, as the server sent it. */
function fieldsOf(fields) {
  if (!fields || typeof fields !== "object" || Array.isArray(fields)) return {};
  return Object.fromEntries(Object.entries(fields).map(([name, text]) => [name, String(text)]));
}

async function errorOf(response, retryAfter) {
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    /* not JSON */
  }
  let detail = `${response.status} ${response.statusText || "error"}`;
  if (body && typeof body.detail === "string") detail = body.detail;
  else if (body && Array.isArray(body.detail)) detail = body.detail.map((d) => d.msg || String(d)).join("; ");
  return new ApiError(response.status, detail, {
    code: typeof body?.code === "string" ? body.code : null,
    fields: fieldsOf(body?.fields),
    retryAfter,
  });
}

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body instanceof Blob) {
    init.body = body; // a file, sent as it is: its type is the Content-Type
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.", { code: "unreachable" });
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw await errorOf(response, Number.isFinite(retry) ? retry : null);
  }
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/** The signed-in user, or null when anonymous. */
export async function me() {
  try {
    return await get("/api/me");
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

// Where errors are shown (next to the input or control, the banner otherwise).
export { showBanner as showError, showProblem, clearProblems, showNear } from "./form-errors.js";

/**
 * The API builds absolute URLs from the server's configured base URL. When the page was
 * loaded through another address (a LAN IP, a proxy), use the page's own origin for them.
 */
export function localUrl(url, space) {
  if (!url) return url;
  const target = new URL(url, location.href);
  if (space && space.page_url) {
    const base = new URL(space.page_url, location.href).origin;
    if (target.origin === base && base !== location.origin) {
      return location.origin + target.pathname + target.search;
    }
  }
  return target.href;
}

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

/** `next` query parameter, only if it is a path on this site. */
export function nextPath(fallback = "/") {
  // Only a page of this site: resolved the way the browser will resolve it, so "/\\host",
  // "/\thost" or "//host" (which browsers read as another site) fall back.
  const next = new URLSearchParams(location.search).get("next");
  if (!next || !next.startsWith("/")) return fallback;
  let url;
  try {
    url = new URL(next, location.origin);
  } catch {
    return fallback;
  }
  return url.origin === location.origin ? url.pathname + url.search + url.hash : fallback;
}
