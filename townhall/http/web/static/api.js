// Fetch helpers for the JSON API. Errors throw ApiError carrying the server's `detail`.

export class ApiError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.retryAfter = retryAfter; // seconds, from a 429's Retry-After
  }
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (body && typeof body.detail === "string") return body.detail;
    if (body && Array.isArray(body.detail)) return body.detail.map((d) => d.msg || String(d)).join("; ");
  } catch (_) {
    /* not JSON */
  }
  return `${response.status} ${response.statusText || "error"}`;
}

export async function api(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "Cannot reach the server. Check your connection and try again.");
  }
  if (!response.ok) {
    const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    throw new ApiError(response.status, await detailOf(response), Number.isFinite(retry) ? retry : null);
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

/** Show a message in the page's error banner (null clears it). */
export function showError(err) {
  const box = document.getElementById("error");
  if (!box) return;
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.textContent = typeof err === "string" ? err : err.message || String(err);
  box.hidden = false;
}

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
  const next = new URLSearchParams(location.search).get("next");
  return next && next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}
