// Calls to Cairn's admin API. Sends `Authorization: Bearer <token>` when the
// user entered a token (kept in sessionStorage, for this tab only). Every
// call resolves: errors come back as a value, never as an exception.

const TOKEN_KEY = "cairn.token";

export type ApiResult<T> =
  | { ok: true; data: T }
  | { ok: false; status: number; code: string; message: string };

export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

export function setToken(value: string): void {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// Called on 401/403 so the page can show the token box.
let onUnauthorized: (status: number) => void = () => {};
export function whenUnauthorized(fn: (status: number) => void): void {
  onUnauthorized = fn;
}

export async function get<T>(path: string): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let res: Response;
  try {
    res = await fetch(path, { headers });
  } catch (e) {
    return { ok: false, status: 0, code: "unreachable", message: `Cairn is not reachable (${String(e)})` };
  }
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.ok) return { ok: true, data: body as T };
  const err = (body as { error?: { code?: string; message?: string } } | null)?.error;
  if (res.status === 401 || res.status === 403) onUnauthorized(res.status);
  return {
    ok: false,
    status: res.status,
    code: err?.code ?? `http_${res.status}`,
    message: err?.message ?? res.statusText,
  };
}

// Builds "path?k=v&..." leaving out empty values.
export function withQuery(path: string, params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}
