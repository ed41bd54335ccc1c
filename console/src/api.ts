/**
 * The console's only way to the server: the public HTTP API, on the same origin and relative to the page (so
 * it works at `/` locally and under an API Gateway stage such as `/v1/`). The API key (and, in AWS, a Cognito
 * ID token) stay in this browser: sessionStorage, or localStorage when the user asks to be remembered.
 */

const KEY = 'faceprint.apiKey';
const TOKEN = 'faceprint.idToken';

/** An error the API answered (`{ error: { code, message } }`) or one the console states itself. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function stored(name: string): string {
  return sessionStorage.getItem(name) ?? localStorage.getItem(name) ?? '';
}

export const credentials = {
  apiKey: () => stored(KEY),
  idToken: () => stored(TOKEN),
  remembered: () => localStorage.getItem(KEY) !== null || localStorage.getItem(TOKEN) !== null,
  save(apiKey: string, idToken: string, remember: boolean): void {
    for (const store of [sessionStorage, localStorage]) {
      store.removeItem(KEY);
      store.removeItem(TOKEN);
    }
    const target = remember ? localStorage : sessionStorage;
    if (apiKey) target.setItem(KEY, apiKey);
    if (idToken) target.setItem(TOKEN, idToken);
  },
};

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const h: Record<string, string> = { ...extra };
  const key = credentials.apiKey();
  const token = credentials.idToken();
  if (key) h['x-api-key'] = key;
  if (token) h.authorization = token;
  return h;
}

/** Listeners told when the API refuses the key, so the console can ask for it again. */
const unauthorised = new Set<() => void>();
export function onUnauthorised(listener: () => void): () => void {
  unauthorised.add(listener);
  return () => unauthorised.delete(listener);
}

async function send(path: string, init: RequestInit): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: headers(init.headers as Record<string, string>) });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The Faceprint server cannot be reached; check that it is running.');
  }
  if (response.ok) return response;
  let code = `HTTP_${response.status}`;
  let message = `The server answered ${response.status} ${response.statusText}.`.replace(' .', '.');
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string }; message?: string };
    if (body.error?.code) code = body.error.code;
    if (body.error?.message) message = body.error.message;
    // API Gateway's own refusals are `{ message }`.
    else if (body.message) message = `${body.message}.`;
  } catch {
    // not JSON: keep the status sentence
  }
  if (response.status === 401 || response.status === 403) {
    if (response.status === 401) for (const l of unauthorised) l();
  }
  throw new ApiError(response.status, code, message);
}

/** GET (or another method with a JSON body) returning JSON. */
export async function getJson<T>(path: string, init: RequestInit = {}): Promise<T> {
  const response = await send(path, init);
  return (response.status === 204 ? undefined : await response.json()) as T;
}

/** Sends JSON, returns JSON. */
export function postJson<T>(path: string, body: unknown, method = 'POST'): Promise<T> {
  return getJson<T>(path, {
    method,
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
  });
}

/**
 * Sends an image file as multipart/form-data (`image`, plus `fields`): the API then records the file's name in
 * the template's or the decision's source, so Activity and the subject's photos say which file it was.
 */
export function postImage<T>(path: string, file: File, fields: Record<string, string> = {}): Promise<T> {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  form.set('image', file, file.name);
  return getJson<T>(path, { method: 'POST', body: form });
}

export async function remove(path: string): Promise<void> {
  await send(path, { method: 'DELETE' });
}

/** An authenticated image (thumbnail, crop) as an object URL; the caller revokes it. */
export async function imageUrl(path: string): Promise<string> {
  // API Gateway returns a binary body only when the Accept header names a binary media type.
  const response = await send(path, { headers: { accept: 'image/jpeg' } });
  return URL.createObjectURL(await response.blob());
}

/** Whether a route exists on this server (feature detection): false on 404, and on API Gateway's 403. */
export async function routeExists(path: string): Promise<boolean> {
  try {
    await send(path, {});
    return true;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 403)) return false;
    throw error;
  }
}

/** `?a=1&b=2` from the defined entries. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;
