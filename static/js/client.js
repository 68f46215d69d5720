/**
 * Duoxie (多些) client library: REST, the WebSocket protocol of docs/protocol.md, reconnect
 * with back-off, and chat recovery (every message once, in order, after a reconnect).
 *
 * One ES module, no dependencies, no build step. Every page of the web client uses it (a page
 * never touches WebSocket or fetch for the API itself); a WeChat mini-program plugs its own
 * socket, HTTP and storage adapters in. Usage, adapters and guarantees: docs/client.md.
 *
 *   import { getClient } from '/static/js/client.js';
 *   const client = getClient();
 *   client.on('chat.message', (m) => render(m));
 *   await client.resume() || showLogin();
 *   const { conversations } = await client.request('chat.list', { limit: 50 });
 *
 * Nothing here writes to the console, and no token, code, password or phone number ever goes
 * into an error message or an event.
 *
 * @module client
 */

// The global object, also on engines without globalThis (older mini-program runtimes).
const G = typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : typeof window !== 'undefined' ? window : {};

/** The WebSocket subprotocol of this protocol version. */
export const PROTOCOL = 'duoxie.v1';

/** Where the token is kept in the storage adapter. */
export const TOKEN_KEY = 'duoxie.token';

/** Defaults of every tunable option (milliseconds unless said otherwise). See docs/client.md. */
export const DEFAULTS = Object.freeze({
  /** A command sent and not answered within this is rejected with `timeout`. */
  requestTimeoutMs: 15000,
  /** A REST call (JSON) not answered within this is rejected with `timeout`; uploads: none. */
  httpTimeoutMs: 30000,
  /** At most this many page commands wait for a connection; one more is refused `offline`. */
  queueLimit: 100,
  /** A command waiting for a connection longer than this is rejected with `offline`. */
  queueWaitMs: 30000,
  /** A socket that is not ready (`session.ready`) within this is dropped and retried. */
  connectTimeoutMs: 20000,
  /** Reconnect back-off: the n-th retry waits a random time in [c/2, c], c = min(max, base·2ⁿ). */
  reconnectBaseMs: 1000,
  reconnectMaxMs: 30000,
  /** A connection that stayed up this long counts as healthy: the back-off starts over. */
  stableMs: 10000,
  /** After close 4008 (flooding), the first retry waits at least this. */
  floodBackoffMs: 5000,
  /** A message that arrives past a gap waits this long for the missing ones before a sync. */
  gapSyncDelayMs: 200,
  /** `limit` of each chat.sync page (per conversation; the server caps it at 500). */
  syncLimit: 200,
  /** send() keeps retrying (same client_id) for this long before it gives up. */
  sendTimeoutMs: 60000,
  /** Outgoing frames are paced under the server's limit (20/s, burst 40). */
  ratePerSec: 16,
  rateBurst: 32,
  /** The server's soft frame limit: a bigger command is refused here, never sent. */
  maxFrameBytes: 65536,
});

/** The close codes of docs/protocol.md, by name. */
export const CLOSE = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  ABNORMAL: 1006,
  INVALID_UTF8: 1007,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  AUTH_TIMEOUT: 4000,
  TOKEN_REVOKED: 4001,
  HEARTBEAT_TIMEOUT: 4002,
  ACCOUNT_CLOSED: 4003,
  RESTRICTED: 4004,
  SUSPENDED: 4005,
  FLOODING: 4008,
  TOO_SLOW: 4009,
  TOO_MANY_SOCKETS: 4010,
});

/** HTTP status of each error code (docs/protocol.md, "Error codes"); 0 for client-side codes. */
export const ERROR_STATUS = Object.freeze({
  bad_request: 400, invalid_field: 400, invalid_phone: 400, text_too_long: 400,
  frame_too_large: 400, binary_not_supported: 400, unknown_type: 400, unauthorized: 401,
  auth_required: 401, already_authenticated: 400, invalid_code: 401, code_expired: 401,
  too_many_attempts: 429, code_cooldown: 429, invalid_credentials: 401, forbidden: 403,
  not_found: 404, blocked: 403, age_required: 403, guardian_required: 403,
  content_rejected: 422, muted: 403, suspended: 403, conflict: 409, recall_expired: 409,
  policy_not_accepted: 403, file_too_large: 413,
  quota_exceeded: 413, headers_too_large: 431, image_too_large: 413, unsupported_media: 415,
  media_type_mismatch: 415, invalid_media: 400, invalid_receipt: 400, consent_required: 403,
  rate_limited: 429, unavailable: 503, internal: 500,
});

/**
 * Codes the library itself produces (never sent by the server):
 * `network` (the HTTP request did not reach the server), `offline` (no connection and the
 * command may not wait, the wait ran out, the queue is full, or the client is closed),
 * `timeout` (no answer in time), `disconnected` (the connection dropped after the command
 * was sent: it may or may not have run), `http_error` (an HTTP error without a protocol body).
 */
export const CLIENT_ERROR_CODES = Object.freeze(['network', 'offline', 'timeout', 'disconnected', 'http_error']);

/**
 * Commands that only read: sent again on the next connection when the connection drops
 * before their reply (others reject with `disconnected`; `request(..., {resend})` overrides).
 */
export const READ_ONLY_COMMANDS = Object.freeze([
  'chat.list', 'chat.history', 'chat.held', 'user.blocks', 'presence.query', 'consent.list',
  'consent.check', 'consent.verify_receipt', 'appeal.list', 'mod.queue', 'mod.audit',
]);
const READ_ONLY = new Set(READ_ONLY_COMMANDS);

// Codes worth another try with the same client_id in send().
const SEND_RETRY = new Set(['offline', 'disconnected', 'timeout', 'rate_limited', 'unavailable', 'internal']);

// ---------------------------------------------------------------- errors

/**
 * Every failure the library reports. `code` is one of the protocol's error codes or a
 * client-side code (CLIENT_ERROR_CODES); `message` is for developers only (show
 * `errorText(err)` from i18n.js to users).
 */
export class ClientError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {{status?: number, retryAfterMs?: number|null, field?: string,
   *          missingPermissions?: string[], command?: string, details?: object}} [extra]
   */
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'ClientError';
    /** @type {string} */
    this.code = code;
    /** HTTP status (for WebSocket errors the status the protocol gives the code; 0 client-side). */
    this.status = extra.status != null ? extra.status : (ERROR_STATUS[code] || 0);
    /** How long to wait before trying again, when the server said so; else null. */
    this.retryAfterMs = extra.retryAfterMs != null ? extra.retryAfterMs : null;
    if (extra.field != null) this.field = extra.field;
    if (extra.missingPermissions) this.missingPermissions = extra.missingPermissions;
    if (extra.command) this.command = extra.command;
    if (extra.details) this.details = extra.details;
  }

  /** From the protocol's `{"code","message","field"?,"retry_after_ms"?,…}` error object. */
  static fromWire(error, { status, retryAfterHeader, command } = {}) {
    const e = error && typeof error === 'object' ? error : {};
    const code = typeof e.code === 'string' && e.code ? e.code : 'internal';
    let retryAfterMs = Number.isFinite(e.retry_after_ms) ? e.retry_after_ms : null;
    if (retryAfterMs == null && retryAfterHeader != null && /^\d+$/.test(String(retryAfterHeader).trim())) {
      retryAfterMs = Number(String(retryAfterHeader).trim()) * 1000;
    }
    const details = {};
    for (const [k, v] of Object.entries(e)) {
      if (!['code', 'message', 'field', 'retry_after_ms', 'missing_permissions'].includes(k)) details[k] = v;
    }
    return new ClientError(code, typeof e.message === 'string' ? e.message : code, {
      status,
      retryAfterMs,
      field: typeof e.field === 'string' ? e.field : undefined,
      missingPermissions: Array.isArray(e.missing_permissions) ? e.missing_permissions.slice() : undefined,
      command,
      details: Object.keys(details).length ? details : undefined,
    });
  }

  toJSON() {
    const out = { code: this.code, message: this.message, status: this.status, retryAfterMs: this.retryAfterMs };
    if (this.field != null) out.field = this.field;
    if (this.missingPermissions) out.missingPermissions = this.missingPermissions;
    if (this.command) out.command = this.command;
    return out;
  }
}

function statusCode(status) {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 413) return 'file_too_large';
  if (status === 429) return 'rate_limited';
  if (status === 431) return 'headers_too_large';
  if (status === 500) return 'internal';
  if (status === 502 || status === 503 || status === 504) return 'unavailable';
  return 'http_error';
}

// ---------------------------------------------------------------- adapters

/**
 * The browser socket adapter: wraps `WebSocket` in the interface the client expects.
 * A mini-program passes its own factory with the same shape (docs/client.md).
 *
 * @param {string} url
 * @param {string[]} protocols
 * @returns {{send(text: string): void, close(code?: number, reason?: string): void,
 *            onopen: ?function(): void, onmessage: ?function(string): void,
 *            onclose: ?function({code: number, reason: string}): void, onerror: ?function(): void}}
 */
export function browserSocketFactory(url, protocols) {
  const ws = new WebSocket(url, protocols);
  const socket = {
    onopen: null,
    onmessage: null,
    onclose: null,
    onerror: null,
    send(text) { ws.send(text); },
    close(code, reason) {
      try { ws.close(code, reason); } catch (_) { ws.close(); }
    },
  };
  ws.onopen = () => { if (socket.onopen) socket.onopen(); };
  ws.onmessage = (evt) => { if (socket.onmessage) socket.onmessage(evt.data); };
  ws.onclose = (evt) => { if (socket.onclose) socket.onclose({ code: evt.code, reason: evt.reason || '' }); };
  ws.onerror = () => { if (socket.onerror) socket.onerror(); };
  return socket;
}

/**
 * The default HTTP adapter, over `fetch`. An adapter takes
 * `{method, url, headers, body, timeoutMs, responseType: 'json'|'text'|'blob'|'arraybuffer'}` and
 * resolves `{status, header(name) → string|null, body}` where `body` is the raw body for a 2xx
 * answer of responseType blob/arraybuffer and a string otherwise; it rejects when the server
 * cannot be reached (a ClientError `timeout` when timeoutMs ran out).
 */
export function fetchTransport(fetchImpl) {
  return async function http({ method, url, headers, body, timeoutMs, responseType }) {
    const f = fetchImpl || G.fetch;
    if (typeof f !== 'function') throw new ClientError('network', 'no fetch: pass an http adapter');
    const ctl = timeoutMs > 0 && typeof AbortController === 'function' ? new AbortController() : null;
    let timedOut = false;
    const timer = ctl ? setTimeout(() => { timedOut = true; ctl.abort(); }, timeoutMs) : null;
    try {
      const res = await f(url, { method, headers, body, cache: 'no-store', signal: ctl ? ctl.signal : undefined });
      const ok = res.status >= 200 && res.status < 300;
      let out;
      if (ok && responseType === 'blob') out = await res.blob();
      else if (ok && responseType === 'arraybuffer') out = await res.arrayBuffer();
      else out = await res.text();
      return { status: res.status, header: (name) => res.headers.get(name), body: out };
    } catch (err) {
      if (timedOut) throw new ClientError('timeout', 'no answer from the server in time');
      throw new ClientError('network', 'cannot reach the server');
    } finally {
      if (timer) clearTimeout(timer);
    }
  };
}

/**
 * Storage adapters have the Web Storage shape: `{getItem(key), setItem(key, value),
 * removeItem(key)}`, synchronous. This wraps one so that a refusal (private mode, quota) never
 * throws: the token then lives in memory for this page only.
 */
export function safeStorage(storage) {
  const memory = new Map();
  const call = (fn, fallback) => {
    try { return fn(); } catch (_) { return fallback(); }
  };
  return {
    getItem: (k) => call(() => (storage ? storage.getItem(k) : memory.get(k)) ?? memory.get(k) ?? null, () => memory.get(k) ?? null),
    setItem: (k, v) => call(() => { memory.delete(k); if (storage) storage.setItem(k, v); else memory.set(k, v); }, () => memory.set(k, v)),
    removeItem: (k) => call(() => { memory.delete(k); if (storage) storage.removeItem(k); }, () => memory.delete(k)),
  };
}

/** A storage that forgets everything when the page goes (tests, kiosks). */
export function memoryStorage() {
  return safeStorage(null);
}

function defaultStorage() {
  let ls = null;
  try { ls = G.localStorage || null; } catch (_) { ls = null; }
  return safeStorage(ls);
}

// ---------------------------------------------------------------- small helpers

/** People type numbers with spaces or dashes; the server does the real validation. */
export function normalizePhone(raw) {
  return String(raw == null ? '' : raw).replace(/[\s-]/g, '');
}

/** A fresh client_id for chat.send (random; crypto when the context has it). */
export function newClientId() {
  const c = G.crypto;
  if (c && typeof c.randomUUID === 'function') {
    try { return c.randomUUID(); } catch (_) { /* insecure context */ }
  }
  if (c && typeof c.getRandomValues === 'function') {
    const bytes = c.getRandomValues(new Uint8Array(16));
    return 'm-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  return 'm-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12) + Math.random().toString(36).slice(2, 8);
}

/** "Chrome on Mac": the label of this device in the sessions list. */
export function deviceLabel() {
  const ua = (G.navigator && G.navigator.userAgent) || '';
  const browser =
    /MicroMessenger/i.test(ua) ? 'WeChat' :
    /Edg\//.test(ua) ? 'Edge' :
    /OPR\//.test(ua) ? 'Opera' :
    /Firefox\//.test(ua) ? 'Firefox' :
    /Chrome\//.test(ua) ? 'Chrome' :
    /Safari\//.test(ua) ? 'Safari' : '';
  const os =
    /iPhone|iPad|iPod/.test(ua) ? 'iOS' :
    /Android/.test(ua) ? 'Android' :
    /Windows/.test(ua) ? 'Windows' :
    /Mac OS X|Macintosh/.test(ua) ? 'Mac' :
    /Linux/.test(ua) ? 'Linux' : '';
  if (browser && os) return browser + ' on ' + os;
  return browser || os || 'Browser';
}

function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

// A handler that throws must not break the library or the other handlers; the error still
// reaches the page's error reporting (window.onerror), as a DOM event listener's would.
function report(err) {
  if (typeof G.reportError === 'function') G.reportError(err);
  else setTimeout(() => { throw err; }, 0);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- the client

/**
 * One logged-in user's connection to the server. Pages share one (getClient()).
 *
 * Connection states (`client.state`, and an event of the same name on each change):
 * `idle` (not started), `connecting`, `online` (authenticated, session.ready received),
 * `offline` (dropped, a retry is scheduled), `closed` (not connected and not retrying: after
 * logout(), disconnect() or a close code that must not be retried).
 */
export class Client {
  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl] origin of the server; default `location.origin` (required in a mini-program)
   * @param {string} [options.wsUrl] default baseUrl with ws(s): and `/ws`
   * @param {function(string, string[]): object} [options.socketFactory] default browserSocketFactory
   * @param {function(object): Promise<object>} [options.http] default fetchTransport()
   * @param {{getItem, setItem, removeItem}} [options.storage] default localStorage
   * @param {string} [options.device] device label sent at login; default from the user agent
   * @param {boolean} [options.autoCursors] seed cursors from chat.list/chat.open/chat.history replies (default true)
   * @param {boolean} [options.browserEvents] follow online/visibility/other-tab logins (default true in a browser)
   * Every key of DEFAULTS may be given too.
   */
  constructor(options = {}) {
    this.options = Object.assign({}, DEFAULTS, options);
    const loc = G.location;
    const origin = loc && loc.origin && loc.origin !== 'null' ? loc.origin : '';
    this._baseUrl = String(options.baseUrl != null ? options.baseUrl : origin).replace(/\/+$/, '');
    this._wsUrl = options.wsUrl || (this._baseUrl ? this._baseUrl.replace(/^http/i, 'ws') + '/ws' : '');
    this._socketFactory = options.socketFactory || browserSocketFactory;
    this._http = options.http || fetchTransport();
    this._usesLocalStorage = !options.storage;
    this._storage = options.storage ? safeStorage(options.storage) : defaultStorage();
    this._device = options.device !== undefined ? options.device : deviceLabel();
    this._autoCursors = options.autoCursors !== false;

    this._token = this._storage.getItem(TOKEN_KEY) || null;
    /** The logged-in user (`Me`), from login() or resume(); null otherwise. */
    this.me = null;
    /** From session.ready. */
    this.userId = null;
    this.policyVersion = null;

    this._handlers = new Map();
    this._state = 'idle';
    this._sock = null;
    this._opened = false;
    this._ready = false;
    this._onlineAt = 0;
    this._lastFrameAt = 0;
    this._attempt = 0;
    this._frameAuth = false;
    this._retryTimer = null;
    this._connectTimer = null;
    this._probing = false;

    this._nextId = 0;
    this._outbox = []; // entries waiting to be written (no connection yet, or paced)
    this._inflight = new Map(); // id → entry written, waiting for its reply
    this._tokens = this.options.rateBurst;
    this._tokensAt = Date.now();
    this._pumpTimer = null;

    // conversation id → {cursor: highest seq delivered, pending: Map<seq, Message> past a gap}
    this._convs = new Map();
    this._gapTimers = new Map();
    this._recovering = false;
    this._recoverAgain = false;
    this._delivered = 0;

    this._unhook = [];
    if (options.browserEvents !== false) this._hookBrowser();
  }

  // ---------------------------------------------------------------- events

  /**
   * Listens to a server event (`chat.message`, `chat.read`, `session.ready`, …), `'*'` (every
   * server event), or a library event (`connecting`, `online`, `offline`, `closed`,
   * `auth_expired`, `account_closed`, `suspended`, `restricted`, `too_many_sockets`,
   * `logged_out`, `synced`, `sync_failed`). Handlers get `(data, meta)`, meta =
   * `{type, seq?, recovered?}`. Returns a function that removes the handler.
   */
  on(type, handler) {
    if (typeof handler !== 'function') throw new TypeError('on(type, handler): handler must be a function');
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(handler);
    return () => this.off(type, handler);
  }

  off(type, handler) {
    const set = this._handlers.get(type);
    if (set) set.delete(handler);
  }

  once(type, handler) {
    const off = this.on(type, (data, meta) => {
      off();
      handler(data, meta);
    });
    return off;
  }

  _emit(type, data, meta, wildcard = false) {
    const m = meta || { type };
    for (const key of wildcard ? [type, '*'] : [type]) {
      const set = this._handlers.get(key);
      if (!set || !set.size) continue;
      for (const fn of [...set]) {
        try { fn(data, m); } catch (err) { report(err); }
      }
    }
  }

  /** Current connection state (see the class comment). */
  get state() {
    return this._state;
  }

  /** True while a token is held (the user is logged in on this device, as far as we know). */
  get loggedIn() {
    return !!this._token;
  }

  _setState(state, data) {
    this._state = state;
    this._emit(state, data || {});
  }

  // ---------------------------------------------------------------- REST

  /**
   * A REST call. `body` (an object) goes as JSON; the answer's JSON is returned ({} when
   * empty). Rejects with a ClientError built from the server's error body.
   *
   * @param {string} method
   * @param {string} path e.g. '/api/me'
   * @param {object} [body]
   * @param {{raw?: Blob|ArrayBuffer, contentType?: string, auth?: boolean, timeoutMs?: number,
   *          responseType?: 'json'|'text'|'blob'|'arraybuffer', headers?: object}} [options]
   *   raw: send these bytes as the body (uploads: `api('POST', '/api/media?purpose=chat_photo&source=album', undefined, {raw: file})`).
   */
  async api(method, path, body, options = {}) {
    const url = /^https?:\/\//i.test(path) ? path : this._baseUrl + path;
    const headers = Object.assign({}, options.headers);
    const token = options.auth === false ? null : this._token;
    if (token) headers.Authorization = 'Bearer ' + token;
    let payload;
    if (options.raw != null) {
      payload = options.raw;
      const type = options.contentType || options.raw.type;
      if (type) headers['Content-Type'] = type;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const responseType = options.responseType || 'json';
    const timeoutMs = options.timeoutMs != null ? options.timeoutMs : (options.raw != null ? 0 : this.options.httpTimeoutMs);
    let res;
    try {
      res = await this._http({ method: String(method).toUpperCase(), url, headers, body: payload, timeoutMs, responseType });
    } catch (err) {
      throw err instanceof ClientError ? err : new ClientError('network', 'cannot reach the server');
    }
    const ok = res.status >= 200 && res.status < 300;
    if (ok && (responseType === 'blob' || responseType === 'arraybuffer')) return res.body;
    const text = typeof res.body === 'string' ? res.body : '';
    if (ok && responseType === 'text') return text;
    let parsed = null;
    if (text) {
      try { parsed = JSON.parse(text); } catch (_) { parsed = null; }
    }
    if (ok) return parsed == null ? {} : parsed;
    const header = (name) => (typeof res.header === 'function' ? res.header(name) : null);
    const err = parsed && parsed.error && typeof parsed.error.code === 'string'
      ? ClientError.fromWire(parsed.error, { status: res.status, retryAfterHeader: header('Retry-After') })
      : new ClientError(statusCode(res.status), 'HTTP ' + res.status, { status: res.status });
    if (err.code === 'unauthorized' && token && token === this._token && !options.quiet) {
      this._fatal('auth_expired', { code: 401, reason: 'token refused', source: 'http' }, true);
    }
    throw err;
  }

  /** POST /api/auth/code: `{sent, expires_in_ms, dev_code?}`. */
  requestCode(phone) {
    return this.api('POST', '/api/auth/code', { phone: normalizePhone(phone) }, { auth: false });
  }

  /**
   * POST /api/auth/login with `{phone, code}` or `{phone, password}`; every other field
   * (`device`, `birth_date`, `age_bracket`, an acceptance the server asks for, …) is passed
   * through as given. Keeps the token, sets `client.me`, connects (unless `{connect:false}`)
   * and returns the answer without the token: `{session_id, user, deletion_cancelled?}`.
   */
  async login(fields = {}, { connect = true } = {}) {
    const body = Object.assign({}, fields);
    if (body.phone != null) body.phone = normalizePhone(body.phone);
    if (typeof body.code === 'string') body.code = body.code.trim();
    if (body.device === undefined && this._device) body.device = this._device;
    const res = await this.api('POST', '/api/auth/login', body, { auth: false });
    if (!res || typeof res.token !== 'string' || !res.token) {
      throw new ClientError('internal', 'the login answer carries no token');
    }
    this._stopSocket();
    this._rejectQueued('offline', 'logged in again');
    this._resetChat();
    this._token = res.token;
    this._storage.setItem(TOKEN_KEY, res.token);
    this.me = res.user || null;
    this._state = 'idle';
    if (connect) this.connect();
    const out = Object.assign({}, res);
    delete out.token;
    return out;
  }

  /**
   * Resumes a stored login: GET /api/me, then connects. Resolves `Me`, or null when no token
   * is stored; rejects with the ClientError otherwise (`unauthorized` also emits
   * `auth_expired` and forgets the token; `network`: try again later).
   */
  async resume({ connect = true } = {}) {
    if (!this._token) this._token = this._storage.getItem(TOKEN_KEY) || null;
    if (!this._token) return null;
    const me = await this.api('GET', '/api/me');
    this.me = me;
    if (connect) this.connect();
    return me;
  }

  /**
   * Logs this device out: closes the socket, revokes the token on the server (best effort:
   * the token is forgotten here even if the server cannot be reached) and emits `logged_out`.
   */
  async logout() {
    const token = this._token;
    this._stopSocket();
    this._rejectQueued('offline', 'logged out');
    if (this._state !== 'closed') this._setState('closed', { code: CLOSE.NORMAL, reason: 'logout' });
    if (token) {
      try { await this.api('POST', '/api/auth/logout', undefined, { quiet: true }); } catch (_) { /* forgotten anyway */ }
    }
    if (this._token === token) this._forgetToken();
    this._emit('logged_out', { reason: 'logout' });
  }

  _forgetToken() {
    this._token = null;
    this.me = null;
    this.userId = null;
    this._storage.removeItem(TOKEN_KEY);
    this._resetChat();
  }

  // ---------------------------------------------------------------- connection

  /**
   * Opens the socket (idempotent). Returns false when there is no token to connect with.
   * After `closed` (a fatal close code, logout, disconnect) it connects again.
   */
  connect() {
    if (!this._token) return false;
    if (this._state === 'connecting' || this._state === 'online' || this._state === 'offline') return true;
    this._attempt = 0;
    this._open();
    return true;
  }

  /** Closes the socket and stops reconnecting (state `closed`); connect() starts again. */
  disconnect() {
    this._stopSocket();
    this._rejectQueued('offline', 'disconnected by the page');
    if (this._state !== 'closed') this._setState('closed', { code: CLOSE.NORMAL, reason: 'disconnect' });
  }

  /** Skips the remaining back-off (the network is back, the page became visible, a click). */
  reconnectNow() {
    if (this._state !== 'offline') return;
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    this._open();
  }

  /** Removes the browser listeners and closes everything (tests, page teardown). */
  destroy() {
    for (const off of this._unhook) off();
    this._unhook = [];
    this.disconnect();
    this._handlers.clear();
  }

  _open() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    if (!this._token) return;
    if (!this._wsUrl) throw new ClientError('network', 'no wsUrl/baseUrl: give one in the options');
    const protocols = this._frameAuth ? [PROTOCOL] : [PROTOCOL, 'auth.' + this._token];
    this._opened = false;
    this._ready = false;
    this._setState('connecting', { attempt: this._attempt });
    let sock;
    try {
      sock = this._socketFactory(this._wsUrl, protocols);
    } catch (err) {
      // A token that cannot be a subprotocol name: authenticate with the first frame instead.
      if (!this._frameAuth && err && err.name === 'SyntaxError') {
        this._frameAuth = true;
        this._open();
        return;
      }
      this._sock = null;
      this._handleClose({ code: CLOSE.ABNORMAL, reason: '' });
      return;
    }
    this._sock = sock;
    sock.onopen = () => {
      if (this._sock !== sock) return;
      this._opened = true;
      if (this._frameAuth) this._authenticate(sock);
    };
    sock.onmessage = (text) => {
      if (this._sock === sock && typeof text === 'string') this._onFrame(text);
    };
    sock.onclose = (evt) => {
      if (this._sock === sock) this._handleClose(evt || {});
    };
    sock.onerror = () => { /* a close always follows and carries the code */ };
    clearTimeout(this._connectTimer);
    this._connectTimer = setTimeout(() => {
      if (this._sock === sock && !this._ready) this._kill({ code: CLOSE.ABNORMAL, reason: 'not ready in time' });
    }, this.options.connectTimeoutMs);
  }

  // First-frame authentication (only when the token cannot travel as a subprotocol).
  _authenticate(sock) {
    const entry = this._entry('auth', { token: this._token }, { internal: true, resend: false });
    entry.promise.catch((err) => {
      if (this._sock !== sock) return;
      if (err.code === 'unauthorized') this._fatal('auth_expired', { code: CLOSE.TOKEN_REVOKED, reason: 'token refused', source: 'socket' }, true);
      else this._kill({ code: CLOSE.ABNORMAL, reason: 'auth failed' });
    });
    this._write(entry);
  }

  // The library gives up on the current socket itself (dead, not ready in time).
  _kill(evt) {
    const sock = this._sock;
    if (!sock) return;
    this._handleClose(evt);
    try { sock.close(CLOSE.NORMAL, 'reconnecting'); } catch (_) { /* already gone */ }
  }

  _stopSocket() {
    clearTimeout(this._retryTimer);
    this._retryTimer = null;
    clearTimeout(this._connectTimer);
    const sock = this._sock;
    this._sock = null;
    this._ready = false;
    this._failInflight(false);
    if (sock) {
      try { sock.close(CLOSE.NORMAL, 'client closed'); } catch (_) { /* already gone */ }
    }
  }

  _handleClose(evt) {
    const code = Number.isInteger(evt.code) ? evt.code : CLOSE.ABNORMAL;
    const reason = String(evt.reason || '');
    const wasReady = this._ready;
    const opened = this._opened;
    this._sock = null;
    this._ready = false;
    clearTimeout(this._connectTimer);
    this._failInflight(true);
    if (this._state === 'closed' || this._state === 'idle') return;
    switch (code) {
      case CLOSE.TOKEN_REVOKED: // logout or revocation elsewhere, or the token expired
        return this._fatal('auth_expired', { code, reason, source: 'socket' }, true);
      case CLOSE.ACCOUNT_CLOSED: // deletion requested (any device, a guardian) or done
        return this._fatal('account_closed', { code, reason }, true);
      case CLOSE.SUSPENDED: // a moderator suspended the account; logins refused until it ends
        return this._fatal('suspended', { code, reason }, true);
      case CLOSE.TOO_MANY_SOCKETS: // never loop: the user closes another tab or device first
        return this._fatal('too_many_sockets', { code, reason }, false);
      default:
    }
    if (wasReady && Date.now() - this._onlineAt >= this.options.stableMs) this._attempt = 0;
    let delay;
    if ((code === CLOSE.RESTRICTED && wasReady) || (code === CLOSE.GOING_AWAY && this._attempt === 0)) {
      // Restricted: the token still works, come back restricted. Going away (shutdown, drain):
      // another node takes us. Soon, but spread out so a whole node's clients do not return at once.
      this._attempt = code === CLOSE.RESTRICTED ? 0 : this._attempt + 1;
      delay = Math.round(Math.random() * this.options.reconnectBaseMs);
    } else {
      delay = this._backoff();
      if (code === CLOSE.FLOODING) delay = Math.max(delay, this.options.floodBackoffMs);
    }
    // A refused handshake (bad token: HTTP 401) looks like a plain 1006 to a browser.
    if (!opened && code === CLOSE.ABNORMAL) this._probeToken();
    this._scheduleReconnect(delay, code, reason);
    if (code === CLOSE.RESTRICTED) this._emit('restricted', { code, reason });
  }

  _backoff() {
    const { reconnectBaseMs: base, reconnectMaxMs: max } = this.options;
    const ceiling = Math.min(max, base * 2 ** Math.min(this._attempt, 20));
    this._attempt += 1;
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  _scheduleReconnect(delay, code, reason) {
    clearTimeout(this._retryTimer);
    this._setState('offline', { code, reason, retryInMs: delay });
    for (const e of this._outbox) this._armWait(e);
    this._retryTimer = setTimeout(() => {
      this._retryTimer = null;
      if (this._state === 'offline') this._open();
    }, delay);
  }

  // A close code (or a REST 401) after which the library must not reconnect.
  _fatal(event, data, forgetToken) {
    this._stopSocket();
    this._rejectQueued('offline', 'connection closed: ' + event);
    const prev = this._state;
    if (forgetToken) this._forgetToken();
    if (prev !== 'closed') this._setState('closed', { code: data.code, reason: data.reason || '' });
    else this._state = 'closed';
    this._emit(event, data);
  }

  _probeToken() {
    if (this._probing || !this._token) return;
    this._probing = true;
    const token = this._token;
    this.api('GET', '/api/me')
      .then((me) => { if (token === this._token) this.me = me; })
      .catch((err) => {
        // unauthorized: api() already reported it (auth_expired).
        if (token === this._token && err.code === 'suspended') {
          this._fatal('suspended', { code: CLOSE.SUSPENDED, reason: '', retryAfterMs: err.retryAfterMs }, true);
        }
      })
      .finally(() => { this._probing = false; });
  }

  _hookBrowser() {
    const w = G.window;
    if (!w || typeof w.addEventListener !== 'function') return;
    const listen = (target, name, fn) => {
      target.addEventListener(name, fn);
      this._unhook.push(() => target.removeEventListener(name, fn));
    };
    listen(w, 'online', () => this.reconnectNow());
    const doc = G.document;
    if (doc && typeof doc.addEventListener === 'function') {
      listen(doc, 'visibilitychange', () => { if (doc.visibilityState === 'visible') this.reconnectNow(); });
    }
    if (this._usesLocalStorage) {
      // Another tab logged out or in as someone else: this one follows (logged_out).
      listen(w, 'storage', (e) => {
        if (e.key !== TOKEN_KEY && e.key !== null) return;
        const now = this._storage.getItem(TOKEN_KEY) || null;
        if (now === this._token || !this._token) return;
        this._stopSocket();
        this._rejectQueued('offline', 'logged out in another tab');
        this._token = null;
        this.me = null;
        this._resetChat();
        if (this._state !== 'closed') this._setState('closed', { code: CLOSE.NORMAL, reason: 'other tab' });
        this._emit('logged_out', { reason: 'elsewhere' });
      });
    }
  }

  // ---------------------------------------------------------------- frames

  _onFrame(text) {
    this._lastFrameAt = Date.now();
    let frame;
    try { frame = JSON.parse(text); } catch (_) { return; }
    if (!frame || typeof frame !== 'object') return;
    if (Object.prototype.hasOwnProperty.call(frame, 're')) {
      if (frame.re == null) return; // a frame of ours the server could not read
      const entry = this._inflight.get(frame.re);
      if (!entry) return; // timed out already
      this._inflight.delete(frame.re);
      if (frame.ok) entry.settle(null, frame.data == null ? {} : frame.data);
      else entry.settle(ClientError.fromWire(frame.error, { command: entry.type }));
      return;
    }
    if (typeof frame.type !== 'string') return;
    const data = frame.data == null ? {} : frame.data;
    const meta = frame.seq != null ? { type: frame.type, seq: frame.seq } : { type: frame.type };
    switch (frame.type) {
      case 'session.ready':
        this._emit(frame.type, data, meta, true);
        this._becomeOnline(data);
        return;
      case 'session.resync':
        this._emit(frame.type, data, meta, true);
        this._recover();
        return;
      case 'chat.message':
        // Emitted when it is its turn (see _ingest), once.
        this._ingest(data, 'live');
        return;
      case 'account.standing':
        this._emit(frame.type, data, meta, true);
        if (data.standing === 'full') this._recover();
        return;
      default:
        this._emit(frame.type, data, meta, true);
    }
  }

  _becomeOnline(data) {
    if (this._ready) return;
    clearTimeout(this._connectTimer);
    this._ready = true;
    this._onlineAt = Date.now();
    this.userId = data.user_id != null ? data.user_id : this.userId;
    this.policyVersion = data.policy_version != null ? data.policy_version : this.policyVersion;
    this._setState('online', data);
    this._pump();
    this._recover();
  }

  // ---------------------------------------------------------------- commands

  /**
   * Sends a command; resolves with the reply's `data`, rejects with a ClientError.
   *
   * While not connected the command waits for the next connection (at most `queueLimit`
   * waiting, each at most `queueWaitMs`), unless `{wait: false}`: then it rejects `offline`
   * at once. When the connection drops after it was sent, a read-only command
   * (READ_ONLY_COMMANDS) is sent again on the next connection; any other rejects
   * `disconnected` (`{resend: true}` makes it wait and go again: only for idempotent commands).
   *
   * @param {string} type e.g. 'chat.list'
   * @param {object} [data]
   * @param {{wait?: boolean, resend?: boolean, timeoutMs?: number, queueWaitMs?: number}} [options]
   */
  request(type, data = {}, options = {}) {
    if (typeof type !== 'string' || !type) return Promise.reject(new TypeError('request(type, data): type is a string'));
    if (type === 'auth') return Promise.reject(new ClientError('already_authenticated', 'the client authenticates by itself'));
    const entry = this._entry(type, data, options);
    const probe = JSON.stringify({ id: 'c' + (this._nextId + 1), type, data: data == null ? {} : data });
    if (utf8Length(probe) > this.options.maxFrameBytes) {
      entry.settle(new ClientError('frame_too_large', 'the command is larger than the frame limit', { command: type }));
      return entry.promise;
    }
    if (this._state === 'online') {
      this._outbox.push(entry);
      this._pump();
    } else if (this._state === 'closed' || !this._token) {
      entry.settle(new ClientError('offline', this._token ? 'the connection is closed' : 'not logged in', { command: type }));
    } else if (options.wait === false) {
      entry.settle(new ClientError('offline', 'not connected', { command: type }));
    } else if (this._queued() >= this.options.queueLimit) {
      entry.settle(new ClientError('offline', 'too many commands waiting for the connection', { command: type }));
    } else {
      this._outbox.push(entry);
      this._armWait(entry);
    }
    return entry.promise.then((reply) => {
      if (this._autoCursors) this._observe(type, data, reply);
      return reply;
    });
  }

  _entry(type, data, options) {
    const entry = {
      type,
      data: data == null ? {} : data,
      resend: options.resend != null ? !!options.resend : READ_ONLY.has(type),
      internal: !!options.internal,
      timeoutMs: options.timeoutMs != null ? options.timeoutMs : this.options.requestTimeoutMs,
      queueWaitMs: options.queueWaitMs != null ? options.queueWaitMs : this.options.queueWaitMs,
      id: null,
      sentAt: 0,
      waitTimer: null,
      replyTimer: null,
      done: false,
    };
    entry.promise = new Promise((resolve, reject) => {
      entry.settle = (err, value) => {
        if (entry.done) return;
        entry.done = true;
        clearTimeout(entry.waitTimer);
        clearTimeout(entry.replyTimer);
        const at = this._outbox.indexOf(entry);
        if (at >= 0) this._outbox.splice(at, 1);
        if (entry.id != null && this._inflight.get(entry.id) === entry) this._inflight.delete(entry.id);
        if (err) reject(err);
        else resolve(value);
      };
    });
    return entry;
  }

  _queued() {
    let n = 0;
    for (const e of this._outbox) if (!e.internal) n++;
    return n;
  }

  _armWait(entry) {
    if (entry.waitTimer || entry.done || !(entry.queueWaitMs > 0)) return;
    entry.waitTimer = setTimeout(() => {
      entry.waitTimer = null;
      if (this._outbox.includes(entry)) {
        entry.settle(new ClientError('offline', 'no connection within the wait', { command: entry.type }));
      }
    }, entry.queueWaitMs);
  }

  _pump() {
    if (this._state !== 'online' || !this._sock) return;
    while (this._outbox.length) {
      const wait = this._takeToken();
      if (wait > 0) {
        if (!this._pumpTimer) {
          this._pumpTimer = setTimeout(() => {
            this._pumpTimer = null;
            this._pump();
          }, wait);
        }
        return;
      }
      this._write(this._outbox.shift());
      if (!this._sock) return; // the write found the socket dead
    }
  }

  // Token bucket under the server's frame rate: 0 when a frame may go now, else the wait.
  _takeToken() {
    const { ratePerSec, rateBurst } = this.options;
    if (!(ratePerSec > 0)) return 0;
    const now = Date.now();
    this._tokens = Math.min(rateBurst, this._tokens + ((now - this._tokensAt) * ratePerSec) / 1000);
    this._tokensAt = now;
    if (this._tokens >= 1) {
      this._tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this._tokens) * 1000) / ratePerSec);
  }

  _write(entry) {
    if (entry.done) return;
    const sock = this._sock;
    const id = 'c' + ++this._nextId;
    entry.id = id;
    clearTimeout(entry.waitTimer);
    entry.waitTimer = null;
    entry.sentAt = Date.now();
    this._inflight.set(id, entry);
    entry.replyTimer = setTimeout(() => this._replyTimedOut(entry, id), entry.timeoutMs);
    try {
      sock.send(JSON.stringify({ id, type: entry.type, data: entry.data }));
    } catch (_) {
      this._kill({ code: CLOSE.ABNORMAL, reason: 'send failed' });
    }
  }

  _replyTimedOut(entry, id) {
    if (this._inflight.get(id) !== entry) return;
    this._inflight.delete(id);
    // Nothing at all heard since it went out: the socket is most likely dead.
    const silent = this._lastFrameAt < entry.sentAt;
    entry.settle(new ClientError('timeout', 'no reply from the server in time', { command: entry.type }));
    if (silent && this._state === 'online') this._kill({ code: CLOSE.ABNORMAL, reason: 'no reply' });
  }

  // The socket went: commands in flight are sent again (resend) or fail `disconnected`.
  _failInflight(requeue) {
    const again = [];
    for (const entry of this._inflight.values()) {
      clearTimeout(entry.replyTimer);
      entry.replyTimer = null;
      if (requeue && entry.resend && !entry.internal) again.push(entry);
      else {
        entry.id = null;
        entry.settle(new ClientError('disconnected', 'the connection dropped before the reply', { command: entry.type }));
      }
    }
    this._inflight.clear();
    for (const entry of again) entry.id = null;
    this._outbox.unshift(...again);
    // Internal commands (chat.sync) are never kept for the next connection: recovery starts over.
    for (const entry of this._outbox.filter((e) => e.internal)) {
      entry.settle(new ClientError('offline', 'not connected', { command: entry.type }));
    }
  }

  _rejectQueued(code, message) {
    for (const entry of this._outbox.slice()) entry.settle(new ClientError(code, message, { command: entry.type }));
    this._outbox = [];
  }

  // ---------------------------------------------------------------- chat stream

  /**
   * Tells the library that the page holds conversation `conversationId` up to `seq` (after
   * loading its history): messages up to it are never emitted, later ones are, in order.
   * Only moves forward. Returns the cursor now in force.
   */
  setCursor(conversationId, seq) {
    const id = Number(conversationId);
    const s = Math.max(0, Number(seq) || 0);
    if (!Number.isSafeInteger(id) || id <= 0) throw new TypeError('setCursor: conversationId must be a positive integer');
    let c = this._convs.get(id);
    if (!c) {
      c = { cursor: s, pending: new Map() };
      this._convs.set(id, c);
    } else if (s > c.cursor) {
      c.cursor = s;
      for (const k of [...c.pending.keys()]) if (k <= s) c.pending.delete(k);
    }
    this._drain(id, c);
    return c.cursor;
  }

  /** The highest seq delivered (or seeded) for a conversation, or null when not tracked. */
  getCursor(conversationId) {
    const c = this._convs.get(Number(conversationId));
    return c ? c.cursor : null;
  }

  /** Every tracked cursor, `{"<conversation id>": seq}` (the shape chat.sync takes). */
  cursors() {
    const out = {};
    for (const [id, c] of this._convs) out[String(id)] = c.cursor;
    return out;
  }

  /** Stops tracking a conversation (it is no longer synced after reconnects). */
  forgetConversation(conversationId) {
    const id = Number(conversationId);
    this._convs.delete(id);
    clearTimeout(this._gapTimers.get(id));
    this._gapTimers.delete(id);
  }

  /** Runs chat.sync now for every tracked conversation (as after a reconnect). */
  sync() {
    return this._recover();
  }

  _resetChat() {
    this._convs = new Map();
    for (const t of this._gapTimers.values()) clearTimeout(t);
    this._gapTimers = new Map();
  }

  // Cursors for conversations the page listed or opened but never seeded.
  _observe(type, sent, reply) {
    if (!reply || typeof reply !== 'object') return;
    const seed = (id, seq) => {
      const n = Number(id);
      if (Number.isSafeInteger(n) && n > 0 && !this._convs.has(n)) {
        this._convs.set(n, { cursor: Math.max(0, Number(seq) || 0), pending: new Map() });
      }
    };
    if (type === 'chat.list' && Array.isArray(reply.conversations)) {
      for (const c of reply.conversations) if (c) seed(c.id, c.last_seq);
    } else if (type === 'chat.open' && reply.conversation) {
      seed(reply.conversation.id, reply.conversation.last_seq);
    } else if (type === 'chat.history' && sent && sent.before_seq == null && Array.isArray(reply.messages)) {
      seed(sent.conversation_id, reply.messages.reduce((m, x) => Math.max(m, Number(x.seq) || 0), 0));
    }
  }

  // Every message (live, sync page, send reply) passes here: emitted once, in seq order.
  _ingest(m, source) {
    if (!m || typeof m !== 'object') return false;
    const id = Number(m.conversation_id);
    const seq = Number(m.seq);
    if (!Number.isSafeInteger(id) || id <= 0 || !Number.isSafeInteger(seq) || seq <= 0) return false;
    let c = this._convs.get(id);
    if (!c) {
      // A sync answer for a conversation forgotten meanwhile: not wanted any more.
      if (source === 'sync') return false;
      // Not tracked: the first message seen starts the stream (earlier ones are history).
      c = { cursor: seq - 1, pending: new Map() };
      this._convs.set(id, c);
    }
    if (seq <= c.cursor || c.pending.has(seq)) return false;
    if (seq === c.cursor + 1) {
      this._deliver(c, m, source);
      this._drain(id, c);
    } else {
      c.pending.set(seq, { m, source });
      this._scheduleGapSync(id);
    }
    return true;
  }

  _deliver(c, m, source) {
    c.cursor = Number(m.seq);
    this._delivered += 1;
    const meta = { type: 'chat.message', seq: c.cursor };
    if (source === 'sync') meta.recovered = true;
    this._emit('chat.message', m, meta, true);
  }

  _drain(id, c) {
    for (;;) {
      const next = c.pending.get(c.cursor + 1);
      if (!next) break;
      c.pending.delete(c.cursor + 1);
      this._deliver(c, next.m, next.source);
    }
    if (c.pending.size) this._scheduleGapSync(id);
  }

  _scheduleGapSync(id) {
    if (this._gapTimers.has(id)) return;
    this._gapTimers.set(id, setTimeout(() => {
      this._gapTimers.delete(id);
      const c = this._convs.get(id);
      if (!c || !c.pending.size || this._state !== 'online') return;
      this._syncIds([id]).catch((err) => this._syncFailed(err));
    }, this.options.gapSyncDelayMs));
  }

  // After every session.ready and session.resync: chat.sync of every tracked conversation.
  async _recover() {
    if (this._state !== 'online') return;
    if (this._recovering) {
      this._recoverAgain = true;
      return;
    }
    this._recovering = true;
    const before = this._delivered || 0;
    try {
      do {
        this._recoverAgain = false;
        await this._syncIds([...this._convs.keys()]);
      } while (this._recoverAgain && this._state === 'online');
      this._emit('synced', { conversations: this._convs.size, messages: (this._delivered || 0) - before });
    } catch (err) {
      this._syncFailed(err);
    } finally {
      this._recovering = false;
    }
  }

  _syncFailed(err) {
    // Lost connection: the next session.ready syncs again from the same cursors.
    if (['offline', 'disconnected', 'timeout'].includes(err && err.code)) return;
    this._emit('sync_failed', { error: err });
  }

  // Pages chat.sync (100 cursors a request) until no result says more:true.
  async _syncIds(ids) {
    const queue = [...new Set(ids)].filter((id) => this._convs.has(id));
    const start = new Map(queue.map((id) => [id, this._convs.get(id).cursor]));
    const solo = new Set(); // synced one at a time: a batch with them was refused
    const emptyEnd = new Set(); // the last answer had nothing more for them
    while (queue.length) {
      let batch = [];
      if (solo.has(queue[0])) batch = queue.splice(0, 1);
      else while (queue.length && batch.length < 100 && !solo.has(queue[0])) batch.push(queue.shift());
      batch = batch.filter((id) => this._convs.has(id));
      if (!batch.length) continue;
      let res;
      try {
        res = await this._syncBatch(batch);
      } catch (err) {
        if (err.code !== 'forbidden' && err.code !== 'not_found') throw err;
        if (batch.length > 1) {
          // One conversation we may not read (a wrong seed) fails the whole batch: find it.
          for (const id of batch) solo.add(id);
          queue.unshift(...batch);
        } else {
          this.forgetConversation(batch[0]);
          this._emit('sync_failed', { error: err, conversationId: batch[0] });
        }
        continue;
      }
      for (const r of (res && res.results) || []) {
        const id = Number(r.conversation_id);
        const messages = Array.isArray(r.messages) ? r.messages : [];
        for (const m of messages) this._ingest(m, 'sync');
        emptyEnd.delete(id);
        if (r.more) {
          if (!queue.includes(id)) queue.push(id);
        } else if (!messages.length) emptyEnd.add(id);
      }
    }
    // A gap the server has nothing for (its stream ends before the buffered seq) is skipped,
    // so that what did arrive is not held back forever.
    for (const id of start.keys()) {
      const c = this._convs.get(id);
      if (!c || !c.pending.size || !emptyEnd.has(id) || c.cursor !== start.get(id)) continue;
      c.cursor = Math.max(c.cursor, Math.min(...c.pending.keys()) - 1);
      this._drain(id, c);
    }
  }

  async _syncBatch(ids) {
    for (;;) {
      const cursors = {};
      for (const id of ids) if (this._convs.has(id)) cursors[String(id)] = this._convs.get(id).cursor;
      if (!Object.keys(cursors).length) return { results: [] };
      try {
        return await this._entryRequest('chat.sync', { cursors, limit: this.options.syncLimit });
      } catch (err) {
        if (err.code !== 'rate_limited' || this._state !== 'online') throw err;
        await sleep(err.retryAfterMs || 1000);
      }
    }
  }

  _entryRequest(type, data) {
    const entry = this._entry(type, data, { internal: true, resend: false });
    if (this._state !== 'online') {
      entry.settle(new ClientError('offline', 'not connected', { command: type }));
    } else {
      this._outbox.push(entry);
      this._pump();
    }
    return entry.promise;
  }

  // ---------------------------------------------------------------- helpers that add value

  /**
   * chat.send, safely: `content` is a string (text), `{text}` or `{media_id}`. The client_id
   * (generated when not given) is reused for every retry — lost replies, reconnects, rate
   * limits, `unavailable` — for up to `sendTimeoutMs`, so the server never makes a second
   * message. Resolves the reply `{message, duplicate, held?}`; a committed message is also
   * emitted as `chat.message` (once). A rejection carries `clientId`: send again with it.
   */
  async send(conversationId, content, clientId, options = {}) {
    const body = typeof content === 'string' ? { text: content } : Object.assign({}, content);
    const client_id = clientId || newClientId();
    const data = Object.assign({ conversation_id: Number(conversationId), client_id }, body);
    const deadline = Date.now() + (options.timeoutMs != null ? options.timeoutMs : this.options.sendTimeoutMs);
    let attempt = 0;
    for (;;) {
      const t0 = Date.now();
      try {
        const left = Math.max(1, deadline - t0);
        const res = await this.request('chat.send', data, { resend: true, queueWaitMs: left });
        if (res && res.message && !res.held && Number(res.message.seq) > 0) this._ingest(res.message, 'send');
        return res;
      } catch (err) {
        if (err && typeof err === 'object') err.clientId = client_id;
        attempt += 1;
        const retry = err instanceof ClientError && SEND_RETRY.has(err.code) &&
          !(err.code === 'internal' && attempt > 2) && this._state !== 'closed' && this._token;
        // `offline` after waiting in the queue: go round at once; refused at once (queue full): wait.
        const waited = err.code === 'offline' && Date.now() - t0 >= 100;
        const wait = waited ? 0 : err.retryAfterMs || Math.min(4000, 500 * 2 ** Math.min(attempt, 3));
        if (!retry || Date.now() + wait >= deadline) throw err;
        if (wait) await sleep(wait);
      }
    }
  }

  /** A fresh client_id (also exported as newClientId()). */
  newClientId() {
    return newClientId();
  }

  /** The bytes of an upload (`size` 256 or 1080 for a thumbnail) as a Blob, with the bearer token. */
  media(mediaId, size) {
    const q = size ? '?size=' + encodeURIComponent(size) : '';
    return this.api('GET', '/api/media/' + encodeURIComponent(mediaId) + '/content' + q, undefined, { responseType: 'blob' });
  }
}

/** A new client (pages normally share getClient()'s). */
export function createClient(options) {
  return new Client(options);
}

let shared = null;

/**
 * The page's shared client, created on first call with these options (later calls return the
 * same client and ignore their options). Every page module imports it from here.
 */
export function getClient(options) {
  if (!shared) shared = new Client(options);
  return shared;
}
