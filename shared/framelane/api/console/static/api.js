// The API client: the key lives in sessionStorage and leaves only as the Authorization header.
const KEY = "framelane.apiKey";
const ROOT = document.querySelector('meta[name="framelane-root"]').content;

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

export class ApiError extends Error {
  constructor(status, payload) {
    const error = (payload && payload.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.details = error.details || [];
  }
}

function authHeaders() {
  return { Authorization: `Bearer ${session.key}` };
}

// JSON by default; `raw: true` returns the Response (for text exports and downloads).
export async function api(path, { method = "GET", body, query, raw = false } = {}) {
  const url = new URL(ROOT + path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = authHeaders();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method, headers, cache: "no-store", body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) {
    let payload = null;
    try { payload = await response.json(); } catch { /* not JSON */ }
    if (response.status === 401) window.dispatchEvent(new CustomEvent("framelane:unauthorized"));
    throw new ApiError(response.status, payload);
  }
  return raw ? response : response.json();
}

// A presigned PUT straight to the bucket, with upload progress (fetch cannot report it).
export function putFile(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("PUT", upload.upload_url);
    for (const [name, value] of Object.entries(upload.headers || {})) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(Math.round((100 * event.loaded) / event.total));
    });
    request.addEventListener("load", () => (request.status < 300 ? resolve()
      : reject(new Error(`the upload failed (HTTP ${request.status})`))));
    request.addEventListener("error", () => reject(new Error("the upload failed (network or CORS)")));
    request.send(file);
  });
}

// Fetches an authenticated export and hands it to the browser as a file.
export async function downloadExport(path, query, filename) {
  const response = await api(path, { query, raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
