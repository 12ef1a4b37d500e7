// api.js — calls to tagbase serve's /api/v1: the session cookie goes by itself (HttpOnly,
// SameSite=Strict); a method that changes something carries the X-CSRF-Token that login gave.
// A 401 ends the console's session (expired, logged out elsewhere) and sends the user to login.
import { reactive } from 'vue';

export const session = reactive({
  user: null, // {name, role, permissions, scope, must_change_password}
  csrf: sessionStorage.getItem('tb_csrf') || '',
  expiresAt: Number(sessionStorage.getItem('tb_expires') || 0),
  expired: false,
});

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
    this.field = body && body.error && body.error.field;
  }
}

let onExpired = () => {};
export function setOnExpired(fn) {
  onExpired = fn;
}

// What this server offers beyond the core routes, asked once per session (see probeFeatures).
export const features = reactive({ events: false, probed: false });

// The event analysis routes come with the events engine: the Behaviour screen is shown only when
// the server answers them (any answer but "no such route").
export async function probeFeatures() {
  if (features.probed || !session.user) return;
  features.probed = true;
  try {
    await post('/events/count', { events: ['tagbase_console_probe'] });
    features.events = true;
  } catch (e) {
    features.events = !(e.status === 404 && e.code === 'not_found' && /no such route/.test(e.message)) && e.status !== 405 && e.status !== 401;
  }
}

export function can(perm) {
  return !!session.user && session.user.permissions.includes(perm);
}

export async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  const csrf = session.csrf; // the session this call belongs to
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch('/api/v1' + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  if (raw && res.ok) return res;
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  // a 401 ends the session it was asked under; an answer arriving after a logout changes nothing
  if (res.status === 401 && path !== '/login' && csrf && session.csrf === csrf) {
    clearSession(true);
    onExpired();
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

export const get = (p) => api('GET', p);
export const post = (p, b = {}) => api('POST', p, b);

export function startSession(j) {
  session.user = j.user;
  session.csrf = j.csrf_token;
  session.expiresAt = Date.now() + (j.expires_in || 28800) * 1000;
  session.expired = false;
  sessionStorage.setItem('tb_csrf', session.csrf);
  sessionStorage.setItem('tb_expires', String(session.expiresAt));
}

export function clearSession(expired = false) {
  features.probed = false;
  features.events = false;
  session.user = null;
  session.csrf = '';
  session.expiresAt = 0;
  session.expired = expired;
  sessionStorage.removeItem('tb_csrf');
  sessionStorage.removeItem('tb_expires');
}

// Asks the server who is logged in (a reload keeps the cookie): true when a session is alive.
export async function restore() {
  if (session.user) return true;
  if (!session.csrf) return false;
  try {
    const j = await get('/me');
    session.user = j.user;
    return true;
  } catch {
    return false;
  }
}

export const enc = encodeURIComponent;
