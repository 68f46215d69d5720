// Duoxie browser client. Plain script, no build step; the contract is docs/protocol.md.
'use strict';

(() => {
  const TOKEN_KEY = 'duoxie.token';
  const WS_PROTOCOL = 'duoxie.v1';
  const RECONNECT_BASE_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  // A connection that lived this long counts as healthy, so the backoff starts over.
  const STABLE_CONNECTION_MS = 10000;
  // The protocol promises one reply per command; this only guards against a half-dead socket.
  const REQUEST_TIMEOUT_MS = 15000;
  const TYPING_SEND_EVERY_MS = 2000;
  const TYPING_SHOW_MS = 3000;
  const LIST_PAGE = 50;
  const HISTORY_PAGE = 50;
  const SYNC_LIMIT = 200;
  const SYNC_MAX_CURSORS = 100; // per chat.sync request, from the protocol limits
  const PRESENCE_QUERY_MAX = 200;
  const MAX_TEXT_CHARS = 4000;
  // The server's default DUOXIE_CHAT_RECALL_WINDOW_MS: 撤回 is offered this long after sending
  // (the server is the judge: it answers recall_expired after its own window).
  const RECALL_WINDOW_MS = 2 * 60 * 1000;
  // Reasons of reports and appeals: the server keeps the first 500 characters.
  const REASON_MAX_CHARS = 500;
  // due_at of a deletion this browser asked for, so every tab can name the date (see logoutDeleted).
  const DELETION_KEY = 'duoxie.deletion_due';

  // The protocol's permissions, in its order. `purpose` is only a fallback: the purpose a
  // receipt names (claims.purpose, from the server) is what the user actually agreed to.
  const PERMISSIONS = [
    { id: 'camera', label: '相机 Camera',
      purpose: '直播鉴定视频，聊天、发布和头像拍照 Live appraisal video; photos for chat, posts and avatar' },
    { id: 'microphone', label: '麦克风 Microphone',
      purpose: '直播鉴定音频和视频发布 Live appraisal audio and video posts' },
    { id: 'photo_album', label: '相册 Photo album',
      purpose: '为聊天、发布、头像和以图搜索选择照片 Choosing photos for chat, posts, avatar and image search' },
    { id: 'location', label: '位置 Location',
      purpose: '显示附近的卖家和鉴定师 Showing nearby sellers and appraisers' },
    { id: 'clipboard', label: '剪贴板 Clipboard',
      purpose: '读取分享的多些口令以打开商品 Reading a shared Duoxie code to open the shared item' },
    { id: 'notifications', label: '通知 Notifications',
      purpose: '消息和直播间动态推送 Push notifications of messages and room activity' },
    { id: 'personalized_recommendation', label: '个性化推荐 Personalized recommendations',
      purpose: '根据您的活动推荐内容（否则为非个性化内容） A feed personalised from your activity (non-personalised otherwise)' },
    { id: 'marketing', label: '营销信息 Marketing messages',
      purpose: '促销信息 Promotional messages' },
  ];

  // The two documents every account accepts (registration, then each new policy version). The
  // ledger lists them with the permissions, but they are accepted, never switched off: the
  // server refuses a withdrawal (the account is deleted instead). Never shown as toggles.
  const DOCUMENTS = [
    { id: 'user_agreement', label: '用户协议 User agreement', title: '多些用户协议', link: '《用户协议》' },
    { id: 'privacy_policy', label: '隐私政策 Privacy policy', title: '多些隐私政策', link: '《隐私政策》' },
  ];
  const isDocument = (id) => DOCUMENTS.some((d) => d.id === id);
  // Shown when a login is tried without the box ticked, and for the server's policy_not_accepted.
  const POLICY_HINT = '请先阅读并同意《用户协议》和《隐私政策》';
  const POLICY_HINT_FULL = POLICY_HINT + ' Please read and accept the User Agreement and the Privacy Policy first.';

  // ---------------------------------------------------------------- small helpers

  const $ = (id) => document.getElementById(id);

  // Every piece of server or user data goes in as a text node or attribute value, never as markup.
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value == null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child == null || child === false) continue;
      node.append(child);
    }
    return node;
  }

  function pad2(n) {
    return String(n).padStart(2, '0');
  }

  function fmtTime(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    const now = new Date();
    const hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    if (d.toDateString() === now.toDateString()) return hm;
    const md = pad2(d.getMonth() + 1) + '-' + pad2(d.getDate());
    return d.getFullYear() === now.getFullYear() ? md + ' ' + hm : d.getFullYear() + '-' + md + ' ' + hm;
  }

  function fmtFull(ms) {
    return ms ? new Date(ms).toLocaleString() : '';
  }

  // crypto.randomUUID only exists in secure contexts; a dev server on a LAN address is plain http.
  function newClientId() {
    if (window.crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    if (window.crypto && typeof crypto.getRandomValues === 'function') {
      const bytes = crypto.getRandomValues(new Uint8Array(16));
      return 'm-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    }
    return 'm-' + Date.now().toString(36) + '-' + Math.random().toString(36).slice(2, 12);
  }

  // Sessions are listed by this label, so keep it short and human: "Chrome on Mac".
  function deviceLabel() {
    const ua = navigator.userAgent || '';
    const browser =
      /Edg\//.test(ua) ? 'Edge' :
      /OPR\//.test(ua) ? 'Opera' :
      /MicroMessenger/i.test(ua) ? 'WeChat' :
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
    return (browser || os || ua.slice(0, 48) || 'Browser').trim();
  }

  // People paste numbers with spaces or dashes; the server does the real validation.
  function normalizePhone(raw) {
    return raw.replace(/[\s-]/g, '');
  }

  // The server's messages are English; these codes get a Chinese lead (or, for the two age
  // restrictions, a full explanation: their messages name API routes, not what to do).
  const ERROR_ZH = {
    invalid_field: '输入有误',
    invalid_phone: '手机号无效',
    invalid_code: '验证码错误',
    code_expired: '验证码已过期，请重新获取',
    too_many_attempts: '尝试次数过多，请重新获取验证码',
    code_cooldown: '发送太频繁，请稍后再试',
    rate_limited: '操作太频繁，请稍后再试',
    forbidden: '无权操作',
    not_found: '不存在',
    content_rejected: '内容未通过审核',
    consent_required: '需要您的授权',
    file_too_large: '文件太大',
    image_too_large: '图片尺寸太大',
    unsupported_media: '不支持的文件格式',
    media_type_mismatch: '文件类型与内容不符',
    invalid_media: '文件已损坏或不完整',
    conflict: '冲突',
    blocked: '对方不接收你的消息',
    text_too_long: '消息太长',
    quota_exceeded: '存储空间已满',
    recall_expired: '已超过可撤回时间',
    unavailable: '服务暂时不可用，请稍后再试',
    internal: '服务器出错，请稍后再试',
  };
  const RESTRICTION_TEXT = {
    age_required: '需要先填写年龄：未填写出生日期的账号不能聊天或修改资料。 ' +
      'Declare your age first: an account without a date of birth cannot chat or edit its profile.',
    guardian_required: '需要监护人同意：未满 14 周岁的账号在监护人同意之前不能聊天或修改资料。 ' +
      'A guardian must consent first: an account under 14 cannot chat or edit its profile until then.',
  };

  function isRestriction(err) {
    return !!err && (err.code === 'age_required' || err.code === 'guardian_required');
  }

  function errorText(err) {
    if (!err) return '未知错误 unknown error';
    if (err.code === 'policy_not_accepted') return POLICY_HINT_FULL;
    if (RESTRICTION_TEXT[err.code]) return RESTRICTION_TEXT[err.code] + ` [${err.code}]`;
    // Sanctions last minutes to days: name the moment, not a count of seconds.
    if (err.code === 'muted') {
      if (!err.retry_after_ms) return '你已被禁言 A moderator muted you.';
      const at = fmtChinaTime(Date.now() + err.retry_after_ms);
      return `你已被禁言，${at} 后可发言 A moderator muted you until ${at}.`;
    }
    if (err.code === 'suspended') return suspendedText(err.retry_after_ms);
    let text = err.message || err.code || String(err);
    if (ERROR_ZH[err.code]) text = ERROR_ZH[err.code] + ' · ' + text;
    if (err.retry_after_ms) text += ` (${Math.ceil(err.retry_after_ms / 1000)} s)`;
    return text;
  }

  // A moment within the next days: "14:05", "明天 tomorrow 09:00", or the date.
  function fmtUntil(ms) {
    const d = new Date(ms);
    const hm = pad2(d.getHours()) + ':' + pad2(d.getMinutes());
    const days = Math.round((new Date(d).setHours(0, 0, 0, 0) - new Date().setHours(0, 0, 0, 0)) / 86400000);
    if (days === 0) return hm;
    if (days === 1) return '明天 tomorrow ' + hm;
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + hm;
  }

  // A moment in China time (the platform's clock, whatever the device's zone): "15:30" today,
  // "12月2日 09:00" on another day, with the year when it is not this one.
  const CHINA_TZ = 'Asia/Shanghai';
  function fmtChinaTime(ms) {
    try {
      const dayOf = (t) => new Intl.DateTimeFormat('en-CA', { timeZone: CHINA_TZ, year: 'numeric', month: '2-digit', day: '2-digit' }).format(t);
      const opts = { timeZone: CHINA_TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
      const [day, today] = [dayOf(ms), dayOf(Date.now())];
      if (day !== today) {
        opts.month = 'long';
        opts.day = 'numeric';
        if (day.slice(0, 4) !== today.slice(0, 4)) opts.year = 'numeric';
      }
      const text = new Intl.DateTimeFormat('zh-CN', opts).format(ms);
      const local = Intl.DateTimeFormat().resolvedOptions().timeZone;
      return local && local !== CHINA_TZ && local !== 'Asia/Chongqing' && local !== 'PRC' ? '北京时间 ' + text : text;
    } catch (_) {
      return fmtUntil(ms); // no time-zone data: the device's own clock
    }
  }

  function suspendedText(retryAfterMs) {
    if (!retryAfterMs) {
      return '您的账号已被审核员封禁，解除之前不能登录。 Your account is suspended by a moderator: ' +
        'you cannot log in until the suspension is lifted.';
    }
    const at = fmtUntil(Date.now() + retryAfterMs);
    return `您的账号已被审核员封禁至 ${at}，在此之前不能登录。 Your account is suspended by a moderator ` +
      `until ${at}: you cannot log in before then.`;
  }

  // 13912345678 → 139****5678, as the server masks numbers (display only).
  function maskPhone(phone) {
    const digits = String(phone).replace(/\D/g, '').slice(-11);
    return digits.length === 11 ? digits.slice(0, 3) + '****' + digits.slice(7) : phone;
  }

  // Today as YYYY-MM-DD in China time (UTC+8), the calendar the server counts ages in.
  function todayInChina() {
    return new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10);
  }

  const AGE_BRACKETS = {
    under_14: '未满 14 岁 Under 14',
    from_14_to_17: '14–17 岁 14 to 17',
    adult: '18 岁及以上 18 or older',
  };

  // The optional age of a registration or declaration form: a date wins over a bracket (the
  // server takes exactly one of them). {value: {...}} or {error}.
  function readAge(dateInput, select) {
    if (dateInput.validity && dateInput.validity.badInput) {
      return { error: { code: 'invalid_field', field: 'birth_date', message: '请输入完整的出生日期 Enter a complete date of birth' } };
    }
    if (dateInput.value) return { value: { birth_date: dateInput.value } };
    if (select.value) return { value: { age_bracket: select.value } };
    return { value: {} };
  }

  // Picking a date clears the bracket and the other way round, so what is sent is what is shown.
  function pairAgeInputs(dateInput, select) {
    dateInput.max = todayInChina();
    dateInput.addEventListener('input', () => { if (dateInput.value) select.value = ''; });
    select.addEventListener('change', () => { if (select.value) dateInput.value = ''; });
  }

  function markInvalid(input, invalid) {
    if (invalid) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  }

  // A send-code button that counts the server's retry_after_ms down instead of guessing.
  function cooldownButton(button) {
    const label = button.textContent;
    let timer = null;
    return (ms) => {
      clearInterval(timer);
      const until = Date.now() + ms;
      const tick = () => {
        const left = Math.ceil((until - Date.now()) / 1000);
        if (left <= 0) {
          clearInterval(timer);
          button.disabled = false;
          button.textContent = label;
          return;
        }
        button.disabled = true;
        button.textContent = `${left} s`;
      };
      tick();
      timer = setInterval(tick, 1000);
    };
  }

  function permissionInfo(id) {
    return PERMISSIONS.find((p) => p.id === id) || DOCUMENTS.find((d) => d.id === id) || { id, label: id, purpose: '' };
  }

  function docInfo(id) {
    return DOCUMENTS.find((d) => d.id === id) || DOCUMENTS[1];
  }

  // The JOSE header of a compact JWS (base64url JSON), or null when it does not decode.
  function jwsHeader(jws) {
    try {
      const b64 = String(jws).split('.')[0].replace(/-/g, '+').replace(/_/g, '/');
      const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
    } catch (_) {
      return null;
    }
  }

  // Saves text as a file through a Blob URL: no server round trip, works offline.
  function downloadFile(name, text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // navigator.clipboard needs a secure context; a dev server on a LAN address is plain http.
  async function copyText(text, box) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (_) {
      box.focus();
      box.select();
      try { return document.execCommand('copy'); } catch (__) { return false; }
    }
  }

  const REMOVED_TEXT = '消息已被审核移除 Message removed by moderation';
  const RECALLED_MINE = '你撤回了一条消息';
  const RECALLED_PEER = '对方撤回了一条消息';
  const RECALL_EXPIRED_TEXT = '已超过可撤回时间 The time to recall this message has passed';
  const ONLY_IMAGES_TEXT = '只能发送图片 Only pictures can be sent';

  // A recalled message is a notice, the same in the list and in the conversation.
  function recalledText(m) {
    return m.sender_id === meId() ? RECALLED_MINE : RECALLED_PEER;
  }

  // For previews: a photo message's text is its media id, not something to show.
  function messageText(m) {
    if (m.kind === 'photo') return '[图片 Photo]';
    if (m.kind === 'removed') return '[' + REMOVED_TEXT + ']';
    if (m.kind === 'recalled') return recalledText(m);
    if (m.kind === 'text' || m.text != null) return m.text || '';
    return '[' + m.kind + ']';
  }

  // ---------------------------------------------------------------- token storage

  // localStorage so every tab of this browser shares one login (and one device session).
  const tokenStore = {
    get() {
      try { return localStorage.getItem(TOKEN_KEY); } catch (_) { return null; }
    },
    set(token) {
      try { localStorage.setItem(TOKEN_KEY, token); } catch (_) { /* private mode: this tab only */ }
    },
    clear() {
      try { localStorage.removeItem(TOKEN_KEY); } catch (_) { /* nothing stored */ }
    },
  };

  const deletionStore = {
    get() {
      let due = null;
      try { due = Number(localStorage.getItem(DELETION_KEY)); } catch (_) { /* unavailable */ }
      return due > 0 ? due : null;
    },
    set(due) {
      try { localStorage.setItem(DELETION_KEY, String(due)); } catch (_) { /* this tab only */ }
    },
    clear() {
      try { localStorage.removeItem(DELETION_KEY); } catch (_) { /* nothing stored */ }
    },
  };

  // ---------------------------------------------------------------- REST

  class ApiError extends Error {
    constructor(body, status) {
      super(body.message || body.code || 'error');
      Object.assign(this, body);
      this.status = status;
    }
  }

  // raw: a Blob or File sent as it is, with its own type (uploads); otherwise body is JSON.
  async function api(method, path, body, { raw = null } = {}) {
    const token = state.token;
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    if (raw) {
      // The server reads the format from the bytes and refuses a type that disagrees.
      if (raw.type) headers['Content-Type'] = raw.type;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
    }
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: raw || (body === undefined ? undefined : JSON.stringify(body)),
        cache: 'no-store',
      });
    } catch (_) {
      throw new ApiError({ code: 'network', message: '无法连接服务器 cannot reach the server' }, 0);
    }
    let payload = null;
    const text = await res.text();
    if (text) {
      try { payload = JSON.parse(text); } catch (_) { payload = null; }
    }
    if (!res.ok) {
      const errBody = (payload && payload.error) || { code: 'http_' + res.status, message: 'HTTP ' + res.status };
      const err = new ApiError(errBody, res.status);
      // A dead token on any authenticated call means this device was logged out elsewhere.
      if (err.code === 'unauthorized' && token && token === state.token) {
        logoutLocal('登录已失效，请重新登录 Session ended, please log in again');
      }
      throw err;
    }
    return payload || {};
  }

  // ---------------------------------------------------------------- WebSocket

  function wsError(code, message) {
    return { code, message };
  }

  // One logical connection that survives drops: reconnects with backoff and fails in-flight
  // requests with code "disconnected" so callers can decide whether to retry.
  class Socket {
    constructor(url, token) {
      this.url = url;
      this.token = token;
      this.ws = null;
      this.ready = false;
      this.stopped = true;
      this.nextId = 1;
      this.waiting = new Map();
      this.handlers = new Map();
      this.attempt = 0;
      this.retryTimer = null;
      this.openedAt = 0;
      // Falls back to first-frame auth if the token cannot be a subprotocol name.
      this.frameAuth = false;
    }

    on(type, fn) {
      if (!this.handlers.has(type)) this.handlers.set(type, []);
      this.handlers.get(type).push(fn);
      return this;
    }

    emit(type, ...args) {
      for (const fn of this.handlers.get(type) || []) {
        try { fn(...args); } catch (e) { console.error('handler for', type, 'failed', e); }
      }
    }

    start() {
      this.stopped = false;
      this.connect();
    }

    stop() {
      this.stopped = true;
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      const ws = this.ws;
      this.ws = null;
      this.ready = false;
      this.failAll();
      if (ws) {
        try { ws.close(1000); } catch (_) { /* already closing */ }
      }
    }

    // Skip the remaining backoff, e.g. when the browser reports the network is back.
    reconnectNow() {
      if (this.stopped || this.ws) return;
      this.connect();
    }

    connect() {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      let ws;
      try {
        ws = this.frameAuth
          ? new WebSocket(this.url, [WS_PROTOCOL])
          : new WebSocket(this.url, [WS_PROTOCOL, 'auth.' + this.token]);
      } catch (e) {
        if (!this.frameAuth && e && e.name === 'SyntaxError') {
          this.frameAuth = true;
          this.connect();
        } else {
          this.scheduleReconnect();
        }
        return;
      }
      this.ws = ws;
      this.ready = false;
      this.openedAt = 0;
      this.emit('$state', 'connecting');
      ws.onopen = () => this.handleOpen(ws);
      ws.onmessage = (ev) => {
        if (ws === this.ws && typeof ev.data === 'string') this.handleFrame(ev.data);
      };
      ws.onclose = (ev) => this.handleClose(ws, ev);
      ws.onerror = () => { /* a close event always follows and carries the code */ };
    }

    async handleOpen(ws) {
      if (ws !== this.ws) return;
      this.openedAt = Date.now();
      if (this.frameAuth) {
        try {
          await this.request('auth', { token: this.token }, { beforeReady: true });
        } catch (err) {
          if (ws !== this.ws) return;
          if (err.code === 'unauthorized') {
            this.stop();
            this.emit('$revoked');
          } else {
            ws.close();
          }
          return;
        }
      }
      this.ready = true;
      this.emit('$state', 'open');
      this.emit('$open');
    }

    handleClose(ws, ev) {
      if (ws !== this.ws) return;
      const everOpened = this.openedAt > 0;
      this.ws = null;
      this.ready = false;
      this.failAll();
      if (this.stopped) return;
      // 4001: this token was revoked; 4003: the account is being deleted (every token revoked).
      if (ev.code === 4001 || ev.code === 4003) {
        this.stop();
        this.emit('$revoked', ev.code, ev.reason || '');
        return;
      }
      // 4005: a moderator suspended the account: its token is refused until that ends.
      if (ev.code === 4005) {
        this.stop();
        this.emit('$suspended');
        return;
      }
      // 4004: the account became restricted (guardian withdrew consent); the token still works.
      if (ev.code === 4004) {
        this.attempt = 0;
        this.emit('$restricted');
        this.scheduleReconnect();
        return;
      }
      if (everOpened && Date.now() - this.openedAt >= STABLE_CONNECTION_MS) this.attempt = 0;
      // A refused handshake (bad token → HTTP 401) looks like a plain 1006 to a browser.
      if (!everOpened) this.emit('$refused');
      this.scheduleReconnect();
    }

    scheduleReconnect() {
      if (this.stopped) return;
      const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.attempt);
      // Jitter so many clients dropped by one server restart do not return in lockstep.
      const delay = Math.round(ceiling / 2 + Math.random() * ceiling / 2);
      this.attempt = Math.min(this.attempt + 1, 16);
      this.emit('$state', 'waiting', delay);
      this.retryTimer = setTimeout(() => this.connect(), delay);
    }

    failAll() {
      const waiting = this.waiting;
      this.waiting = new Map();
      for (const w of waiting.values()) {
        clearTimeout(w.timer);
        w.reject(wsError('disconnected', '连接已断开 connection lost'));
      }
    }

    request(type, data = {}, { beforeReady = false, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
      return new Promise((resolve, reject) => {
        const ws = this.ws;
        if (!ws || ws.readyState !== WebSocket.OPEN || (!this.ready && !beforeReady)) {
          reject(wsError('disconnected', '未连接 not connected'));
          return;
        }
        const id = 'c' + this.nextId++;
        const timer = setTimeout(() => {
          if (this.waiting.delete(id)) reject(wsError('timeout', '服务器未响应 no reply from server'));
        }, timeoutMs);
        this.waiting.set(id, { resolve, reject, timer });
        try {
          ws.send(JSON.stringify({ id, type, data }));
        } catch (_) {
          clearTimeout(timer);
          this.waiting.delete(id);
          reject(wsError('disconnected', '连接已断开 connection lost'));
        }
      });
    }

    handleFrame(raw) {
      let frame;
      try { frame = JSON.parse(raw); } catch (_) {
        console.warn('unparseable frame from server');
        return;
      }
      if (frame && Object.prototype.hasOwnProperty.call(frame, 're')) {
        if (frame.re == null) {
          console.warn('server could not read one of our frames', frame.error);
          return;
        }
        const w = this.waiting.get(frame.re);
        if (!w) return; // timed out already
        this.waiting.delete(frame.re);
        clearTimeout(w.timer);
        if (frame.ok) w.resolve(frame.data || {});
        else w.reject(frame.error || wsError('internal', 'error without details'));
        return;
      }
      if (frame && frame.type) this.emit(frame.type, frame.data || {}, frame.seq);
    }
  }

  // ---------------------------------------------------------------- state

  const state = {
    token: null,
    me: null,
    socket: null,
    convs: new Map(), // conversation id → conv state, see convFor()
    listMore: false,
    listBefore: null,
    listBeforeId: null,
    activeId: null,
    presence: new Map(), // user id → {online, last_seen_at}
    blocked: new Set(),
    sellers: [],
    scrollIntent: null, // 'bottom' | 'keep' | null, consumed by renderMessages
    policyVersion: null, // from session.ready
    settingsOpen: false, // the privacy & account page replaces the conversation pane
    consents: null, // ConsentState, kept current by consent.changed
    appealable: null, // item id → appeal.list entry: decisions on one's content still appealable
    appealed: new Set(), // item ids appealed (from this tab, or appeal.list's under_appeal)
    underAppeal: null, // item id → appeal.list under_appeal entry
    consentsError: null,
    consentBusy: new Map(), // permission → the state asked for, while the change is in flight
    openReceipts: new Set(), // ledger ids whose receipt is unfolded in the history
    verdicts: new Map(), // ledger id → ReceiptVerdict + checked_at, or {pending} / {error}
    lastRemoteChange: null, // a consent.changed that this tab did not ask for
    deleting: false, // POST /api/me/deletion in flight: its answer, not the 4003, reports it
    standingDismissed: false, // the age / guardian panel was put aside ("Later"); the banner stays
    wards: null, // GET /api/guardian/wards, when this account is someone's guardian
    wardsError: null,
    wardBusy: new Set(), // child ids with a withdraw or deletion in flight
    wardConfirm: null, // child id whose deletion confirmation is unfolded
    wardsRendered: '', // what the ward list was last built from (typing must survive repaints)
    phoneChange: null, // {masked} once codes for a new number were sent
    mediaCache: new Map(), // "<media id>:<size>" → {url, error, promise}: object URLs of fetched pictures
    mute: null, // {until, reason} while a moderator's mute lasts
    pendingReview: {}, // profile field → the text a moderator is looking at
    peerProfileOpen: false, // the peer's profile card in the conversation header
    peerProfiles: new Map(), // user id → {user} | {error} | {loading: true}
    stickToBottom: true, // the message list was scrolled to its end (pictures that load keep it there)
    acceptingDocs: false, // the 同意 of the policy banner is being sent
    acceptDocsError: null,
    loginAccepted: null, // the policy version ticked on the login page of a password login
    recalling: new Set(), // "<conversation>:<seq>" with a chat.recall in flight
    clockOffset: 0, // server clock minus this device's, from our own messages' created_at
  };

  function resetState() {
    state.token = null;
    state.me = null;
    state.socket = null;
    state.convs = new Map();
    state.listMore = false;
    state.listBefore = null;
    state.activeId = null;
    state.presence = new Map();
    state.blocked = new Set();
    state.sellers = [];
    state.scrollIntent = null;
    state.policyVersion = null;
    state.settingsOpen = false;
    state.consents = null;
    state.consentsError = null;
    state.consentBusy = new Map();
    state.openReceipts = new Set();
    state.verdicts = new Map();
    state.lastRemoteChange = null;
    state.deleting = false;
    state.standingDismissed = false;
    state.wards = null;
    state.wardsError = null;
    state.wardBusy = new Set();
    state.wardConfirm = null;
    state.wardsRendered = '';
    state.phoneChange = null;
    for (const e of state.mediaCache.values()) if (e.url) URL.revokeObjectURL(e.url);
    state.mediaCache = new Map();
    state.mute = null;
    clearTimeout(muteTimer);
    state.pendingReview = {};
    state.peerProfileOpen = false;
    state.peerProfiles = new Map();
    state.stickToBottom = true;
    state.acceptingDocs = false;
    state.acceptDocsError = null;
    state.loginAccepted = null;
    state.recalling = new Set();
    state.clockOffset = 0;
    clearTimeout(recallTimer);
    closeLightbox();
    closeLegal();
    closeFormDialog();
    hideToast();
  }

  function convFor(id) {
    let c = state.convs.get(id);
    if (!c) {
      c = {
        id,
        info: null, // Conversation from the server, kept current by events
        msgs: new Map(), // seq → Message; the key is the dedupe
        minSeq: 0,
        maxSeq: 0,
        // {client_id, text, state: 'sending'|'waiting'|'failed', error, inFlight}; photos also
        // {kind: 'photo', file, localUrl, media_id, item_id} and the states 'uploading',
        // 'consent' (a permission is missing), 'held' (a moderator looks at it), 'rejected'.
        pending: [],
        historyLoaded: false,
        historyPromise: null,
        loadingOlder: false,
        syncing: false,
        syncAgain: false,
        typingUntil: 0,
        lastTypingSent: 0,
        readSent: 0,
      };
      state.convs.set(id, c);
    }
    return c;
  }

  const activeConv = () => (state.activeId == null ? null : state.convs.get(state.activeId) || null);
  const meId = () => (state.me ? state.me.id : null);

  // Held messages always form one unbroken run ending at the newest we know, so the highest
  // seq held (or the list's last_seq when we hold none) is where a sync must resume.
  function knownSeq(c) {
    if (c.msgs.size) return c.maxSeq;
    return c.info ? c.info.last_seq || 0 : 0;
  }

  function presenceOf(userId) {
    return state.presence.get(userId) || { online: false, last_seen_at: null };
  }

  function setPresence(userId, online, lastSeenAt) {
    const prev = state.presence.get(userId) || {};
    state.presence.set(userId, {
      online: !!online,
      last_seen_at: lastSeenAt != null ? lastSeenAt : prev.last_seen_at || null,
    });
  }

  function rpc(type, data) {
    if (!state.socket) return Promise.reject(wsError('disconnected', '未连接 not connected'));
    return state.socket.request(type, data);
  }

  // ---------------------------------------------------------------- merging server data

  function upsertConv(info) {
    const c = convFor(info.id);
    const prev = c.info;
    const next = Object.assign({}, info);
    if (prev) {
      // Read cursors only move forward; an event may have beaten this snapshot here.
      next.my_last_read_seq = Math.max(next.my_last_read_seq || 0, prev.my_last_read_seq || 0);
      next.peer_last_read_seq = Math.max(next.peer_last_read_seq || 0, prev.peer_last_read_seq || 0);
    }
    // Messages that arrived live after the server built this snapshot are not in it.
    if (c.maxSeq > (next.last_seq || 0)) {
      for (const m of c.msgs.values()) {
        if (m.seq > (next.last_seq || 0) && m.sender_id !== meId() && m.seq > next.my_last_read_seq) {
          next.unread = (next.unread || 0) + 1;
        }
      }
      next.last_seq = c.maxSeq;
      next.last_message = c.msgs.get(c.maxSeq);
      next.last_message_at = next.last_message.created_at;
    }
    c.info = next;
    // Recalled or removed while we were away: the list knows, the message we hold does not.
    if (next.last_message) replaceTombstone(c, next.last_message);
    if (prev && next.my_last_read_seq > (info.my_last_read_seq || 0)) recomputeUnread(c);
    if (info.peer) setPresence(info.peer.id, info.peer_online, info.peer_last_seen_at);
    return c;
  }

  const isTombstone = (m) => m.kind === 'recalled' || m.kind === 'removed';

  // A message we hold that the server now shows recalled or removed (a history page, a sync, the
  // list) takes that form: those are the only changes a message ever goes through.
  function replaceTombstone(c, m) {
    const had = c.msgs.get(m.seq);
    if (!had || !isTombstone(m) || had.kind === m.kind || isTombstone(had)) return false;
    if (had.kind === 'photo') forgetMedia(had.text);
    c.msgs.set(m.seq, m);
    if (c.info && c.info.last_message && c.info.last_message.seq === m.seq) c.info.last_message = m;
    return true;
  }

  // Returns true when the message was new to us.
  function mergeMessage(m) {
    const c = convFor(m.conversation_id);
    if (c.msgs.has(m.seq)) {
      replaceTombstone(c, m);
      return false;
    }
    c.msgs.set(m.seq, m);
    c.maxSeq = Math.max(c.maxSeq, m.seq);
    c.minSeq = c.minSeq ? Math.min(c.minSeq, m.seq) : m.seq;
    const mine = m.sender_id === meId();
    if (mine) {
      for (const p of c.pending) if (p.client_id === m.client_id && p.localUrl) URL.revokeObjectURL(p.localUrl);
      c.pending = c.pending.filter((p) => p.client_id !== m.client_id);
      if (m.kind === 'photo') forgetHeld(m.client_id);
    } else if (m.seq === c.maxSeq) c.typingUntil = 0; // they sent it, so they stopped typing
    const info = c.info;
    if (info) {
      if (m.seq > (info.last_seq || 0)) {
        // Only seqs past the list snapshot are news; its unread count covers the rest.
        if (!mine && m.seq > (info.my_last_read_seq || 0)) info.unread = (info.unread || 0) + 1;
        info.last_seq = m.seq;
      }
      if (!info.last_message || m.seq >= info.last_message.seq) {
        info.last_message = m;
        info.last_message_at = m.created_at;
      }
    } else {
      refreshListSoon(); // someone opened a conversation with us that we have not listed yet
    }
    return true;
  }

  // Gap-aware entry point for messages that did not come from a sync or history page.
  function acceptMessage(m) {
    const c = state.convs.get(m.conversation_id);
    if (c && (c.info || c.msgs.size) && m.seq > knownSeq(c) + 1) {
      // Merging it now would leave a hole; the sync returns it together with what we missed.
      syncConversation(c.id);
      return false;
    }
    return mergeMessage(m);
  }

  function recomputeUnread(c) {
    const info = c.info;
    if (!info) return;
    const readTo = info.my_last_read_seq || 0;
    const last = info.last_seq || 0;
    if (readTo >= last) {
      info.unread = 0;
    } else if (c.msgs.size && c.minSeq <= readTo + 1 && c.maxSeq >= last) {
      let n = 0;
      for (const m of c.msgs.values()) if (m.seq > readTo && m.sender_id !== meId()) n++;
      info.unread = n;
    } else {
      info.unread = Math.min(info.unread || 0, last - readTo);
    }
  }

  function applyRead(conversationId, userId, seq) {
    const c = state.convs.get(conversationId);
    if (!c || !c.info) return;
    if (userId === meId()) {
      if (seq > (c.info.my_last_read_seq || 0)) {
        c.info.my_last_read_seq = seq;
        recomputeUnread(c);
      }
    } else if (seq > (c.info.peer_last_read_seq || 0)) {
      c.info.peer_last_read_seq = seq;
    }
    schedule('convs');
    if (conversationId === state.activeId) schedule('messages');
  }

  // ---------------------------------------------------------------- chat operations

  async function refreshList() {
    const res = await rpc('chat.list', { limit: LIST_PAGE });
    for (const info of res.conversations || []) upsertConv(info);
    // Only the first page decides whether "more" is shown; later pages extend it.
    if (state.listBefore == null) setListPaging(res.conversations || []);
    schedule('convs', 'pane');
  }

  function setListPaging(page) {
    const last = page[page.length - 1];
    state.listMore = page.length >= LIST_PAGE && !!(last && last.last_message_at);
    state.listBefore = state.listMore ? last.last_message_at : state.listBefore;
    // The id breaks ties between conversations that share a last_message_at.
    state.listBeforeId = state.listMore ? last.id : state.listBeforeId;
  }

  async function loadMoreConversations() {
    if (!state.listBefore) return;
    try {
      const res = await rpc('chat.list', {
        limit: LIST_PAGE,
        before: state.listBefore,
        before_id: state.listBeforeId,
      });
      for (const info of res.conversations || []) upsertConv(info);
      setListPaging(res.conversations || []);
      if ((res.conversations || []).length < LIST_PAGE) state.listMore = false;
      schedule('convs');
    } catch (err) {
      showAppError(err);
    }
  }

  let listRefreshTimer = null;
  function refreshListSoon() {
    if (listRefreshTimer) return;
    listRefreshTimer = setTimeout(() => {
      listRefreshTimer = null;
      refreshList().catch(() => { /* the next reconnect lists again */ });
    }, 300);
  }

  // cursors: {"<conversation id>": seq}. Follows `more` until every stream is caught up.
  async function syncCursors(cursors) {
    const queue = Object.entries(cursors);
    while (queue.length) {
      const batch = queue.splice(0, SYNC_MAX_CURSORS);
      const res = await rpc('chat.sync', { cursors: Object.fromEntries(batch), limit: SYNC_LIMIT });
      for (const r of res.results || []) {
        for (const m of r.messages || []) mergeMessage(m);
        if (r.more && r.messages && r.messages.length) {
          queue.push([String(r.conversation_id), r.messages[r.messages.length - 1].seq]);
        }
        afterMessagesChanged(r.conversation_id);
      }
    }
  }

  // Coalesces bursts: while one sync for a conversation runs, further gaps just ask for another.
  async function syncConversation(id) {
    const c = convFor(id);
    if (c.syncing) {
      c.syncAgain = true;
      return;
    }
    c.syncing = true;
    try {
      do {
        c.syncAgain = false;
        await syncCursors({ [String(id)]: knownSeq(c) });
      } while (c.syncAgain);
    } catch (_) {
      // Disconnected: the reconnect sync resumes from the same cursor.
    } finally {
      c.syncing = false;
    }
  }

  function heldCursors() {
    const cursors = {};
    for (const c of state.convs.values()) if (c.msgs.size) cursors[String(c.id)] = c.maxSeq;
    return cursors;
  }

  async function onConnected() {
    // Snapshot before chat.list can move last_seq forward, or the sync would skip messages.
    const cursors = heldCursors();
    // A sync brings only newer seqs: messages recalled or removed meanwhile come with the next
    // history page, so every conversation reads its newest page again when it is shown (the
    // open one below).
    for (const c of state.convs.values()) c.historyLoaded = false;
    try {
      await refreshList();
      // Allowed after all: the restriction was lifted elsewhere (age declared in another tab).
      if (state.me && state.me.standing && state.me.standing !== 'full') refreshMe();
      await syncCursors(cursors);
      const blocks = await rpc('user.blocks', {});
      state.blocked = new Set(blocks.user_ids || []);
      schedule('pane');
      resendPending();
      restoreHeld();
      refreshAppealable();
      queryPresence(state.sellers.map((u) => u.id));
      const c = activeConv();
      if (c) {
        queryPresence([c.info.peer.id]);
        await ensureHistory(c);
        markRead();
      }
    } catch (err) {
      // Every chat.* command of a restricted account is refused: the banner says why.
      if (isRestriction(err)) noteRestriction(err);
      else if (err.code !== 'disconnected') showAppError(err);
    }
  }

  function ensureHistory(c) {
    if (c.historyLoaded) return Promise.resolve();
    if (!c.historyPromise) {
      restoreHeldTexts(c);
      c.historyPromise = rpc('chat.history', { conversation_id: c.id, limit: HISTORY_PAGE })
        .then((res) => {
          for (const m of res.messages || []) mergeMessage(m);
          c.historyLoaded = true;
          afterMessagesChanged(c.id);
        })
        .catch((err) => {
          if (err.code !== 'disconnected') showConvError(err);
        })
        .finally(() => { c.historyPromise = null; });
    }
    return c.historyPromise;
  }

  async function loadOlder() {
    const c = activeConv();
    if (!c || c.loadingOlder || c.minSeq <= 1) return;
    c.loadingOlder = true;
    schedule('messages');
    try {
      const res = await rpc('chat.history', { conversation_id: c.id, before_seq: c.minSeq, limit: HISTORY_PAGE });
      for (const m of res.messages || []) mergeMessage(m);
      state.scrollIntent = 'keep';
    } catch (err) {
      showConvError(err);
    } finally {
      c.loadingOlder = false;
      schedule('messages');
    }
  }

  function queryPresence(ids) {
    const unique = [...new Set(ids)].filter((id) => id != null && id !== meId());
    if (!unique.length || !state.socket || !state.socket.ready) return;
    for (let i = 0; i < unique.length; i += PRESENCE_QUERY_MAX) {
      rpc('presence.query', { user_ids: unique.slice(i, i + PRESENCE_QUERY_MAX) })
        .then((res) => {
          for (const p of res.presence || []) setPresence(p.user_id, p.online, p.last_seen_at);
          schedule('convs', 'pane', 'sellers');
        })
        .catch(() => { /* presence is cosmetic */ });
    }
  }

  function afterMessagesChanged(conversationId) {
    schedule('convs');
    if (conversationId === state.activeId) {
      schedule('messages', 'pane');
      markRead();
    }
  }

  // True when something past `readTo` may be from the peer; seqs we do not hold count as theirs.
  function peerMessageAfter(c, readTo) {
    for (let seq = c.maxSeq; seq > readTo; seq--) {
      const m = c.msgs.get(seq);
      if (!m || m.sender_id !== meId()) return true;
    }
    return false;
  }

  // Read receipts go out only for what the user can actually see, and only when the peer wrote
  // something new: our own messages need none (unread never counts them), and a receipt per
  // message sent would double the frames of a fast typist and echo a chat.read to every device.
  function markRead() {
    const c = activeConv();
    if (!c || !c.info || !c.maxSeq || document.visibilityState !== 'visible') return;
    if (!state.socket || !state.socket.ready) return;
    const seq = c.maxSeq;
    const readTo = Math.max(c.info.my_last_read_seq || 0, c.readSent);
    if (seq <= readTo || !peerMessageAfter(c, readTo)) return;
    c.readSent = seq;
    rpc('chat.read', { conversation_id: c.id, seq })
      .then((res) => applyRead(c.id, meId(), res.last_read_seq != null ? res.last_read_seq : seq))
      .catch(() => { c.readSent = 0; });
  }

  async function openChatWith(peerId, listingRef) {
    const data = { peer_id: peerId };
    if (listingRef) data.listing_ref = listingRef;
    const res = await rpc('chat.open', data);
    const c = upsertConv(res.conversation);
    schedule('convs');
    openConv(c.id);
  }

  function openConv(id) {
    const c = state.convs.get(id);
    if (!c || !c.info) return;
    state.settingsOpen = false;
    if (state.activeId !== id) state.peerProfileOpen = false;
    state.activeId = id;
    state.scrollIntent = 'bottom';
    hideConvError();
    schedule('convs', 'pane', 'messages');
    queryPresence([c.info.peer.id]);
    ensureHistory(c).then(markRead);
    if (window.matchMedia('(min-width: 721px)').matches) $('composer-text').focus();
  }

  function closeConv() {
    state.activeId = null;
    schedule('convs', 'pane');
  }

  // ---------------------------------------------------------------- sending

  function submitComposer() {
    const c = activeConv();
    const box = $('composer-text');
    const text = box.value.trim();
    if (!c || !text) return;
    if ([...text].length > MAX_TEXT_CHARS) {
      showConvError({ message: `消息太长 message too long (max ${MAX_TEXT_CHARS})` });
      return;
    }
    hideConvError();
    const p = { client_id: newClientId(), text, state: 'sending', error: null, inFlight: false };
    c.pending.push(p);
    box.value = '';
    state.scrollIntent = 'bottom';
    schedule('messages');
    sendPending(c, p);
  }

  // Always reuses p.client_id, so a retry after a lost reply cannot create a second message.
  async function sendPending(c, p) {
    if (!c.pending.includes(p) || p.inFlight) return;
    if (!state.socket || !state.socket.ready) {
      p.state = 'waiting';
      schedule('messages');
      return;
    }
    p.state = 'sending';
    p.error = null;
    p.inFlight = true;
    schedule('messages');
    try {
      const res = await rpc('chat.send', { conversation_id: c.id, client_id: p.client_id, text: p.text });
      p.inFlight = false;
      if (res.held) {
        // A moderation rule holds it: no seq, not delivered; it arrives as chat.message (same
        // client id) once approved, or moderation.decided says it was rejected.
        p.state = 'held';
        afterMessagesChanged(c.id);
        return;
      }
      noteServerTime(res.message);
      // On a gap the message comes back through the sync, which also clears the pending entry.
      if (acceptMessage(res.message)) c.pending = c.pending.filter((x) => x !== p);
      afterMessagesChanged(c.id);
    } catch (err) {
      p.inFlight = false;
      if (!c.pending.includes(p)) return; // the committed message already arrived as an event
      if (err.code === 'disconnected') {
        p.state = 'waiting';
      } else if (err.code === 'timeout' || err.code === 'rate_limited' || err.code === 'unavailable') {
        p.state = 'waiting';
        setTimeout(() => sendPending(c, p), err.retry_after_ms || 3000);
      } else {
        p.state = 'failed';
        p.error = err;
        noteError(err);
      }
      if (c.id === state.activeId) schedule('messages');
    }
  }

  // Failures worth a 重试: the network, a busy or broken server. Anything else is the server's
  // answer about this message (refused content, a block, a mute, a bad file) and would only be
  // refused again: the bubble shows why and offers 删除.
  const TRANSIENT_CODES = new Set(['network', 'disconnected', 'timeout', 'unavailable', 'rate_limited', 'internal']);
  function isTransient(err) {
    if (!err || !err.code) return true;
    return TRANSIENT_CODES.has(err.code) || /^http_5\d\d$/.test(err.code);
  }

  // The server stamps created_at; the recall window is counted on its clock, not the device's.
  function noteServerTime(m) {
    if (!m || !m.created_at || !m.seq) return;
    const offset = m.created_at - Date.now();
    state.clockOffset = Math.abs(offset) > 2000 ? offset : 0;
  }

  const serverNow = () => Date.now() + state.clockOffset;

  // After a reconnect: what was waiting for the socket goes out (held, rejected and failed
  // entries wait for the server or for the user).
  function resendPending() {
    for (const c of state.convs.values()) {
      for (const p of c.pending) {
        if (p.inFlight || !['waiting', 'sending', 'uploading'].includes(p.state)) continue;
        if (p.kind === 'photo') sendPhoto(c, p);
        else sendPending(c, p);
      }
    }
  }

  function sendTyping() {
    const c = activeConv();
    if (!c || !state.socket || !state.socket.ready || isMuted()) return;
    const now = Date.now();
    if (now - c.lastTypingSent < TYPING_SEND_EVERY_MS) return;
    c.lastTypingSent = now;
    rpc('chat.typing', { conversation_id: c.id }).catch(() => { /* best effort */ });
  }

  async function toggleBlock() {
    const c = activeConv();
    if (!c || !c.info) return;
    const peer = c.info.peer;
    const blocked = state.blocked.has(peer.id);
    if (!blocked && !window.confirm(`屏蔽 ${peer.nickname}？ Block ${peer.nickname}?`)) return;
    try {
      const res = await rpc(blocked ? 'user.unblock' : 'user.block', { user_id: peer.id });
      if (res.blocked) state.blocked.add(peer.id);
      else state.blocked.delete(peer.id);
      schedule('pane');
    } catch (err) {
      showConvError(err);
    }
  }

  // ---------------------------------------------------------------- photos

  const MEDIA_ID = /^[0-9a-f]{32}$/i;

  function pickPhoto() {
    if (!activeConv()) return;
    const input = $('photo-input');
    input.value = '';
    input.click();
  }

  function onPhotoPicked() {
    const input = $('photo-input');
    const file = input.files && input.files[0];
    input.value = '';
    const c = activeConv();
    if (!file || !c) return;
    // "All files" in the picker: a document would only show as a broken picture, then be refused.
    if (!/^image\//i.test(file.type || '')) {
      showConvError({ message: ONLY_IMAGES_TEXT });
      return;
    }
    hideConvError();
    const p = {
      kind: 'photo', client_id: newClientId(), file, localUrl: URL.createObjectURL(file),
      media_id: null, item_id: null, state: 'uploading', error: null, inFlight: false,
    };
    c.pending.push(p);
    state.scrollIntent = 'bottom';
    schedule('messages');
    sendPhoto(c, p);
  }

  // Upload (once: the media id is kept for retries), then chat.send with the same client_id.
  async function sendPhoto(c, p) {
    if (!c.pending.includes(p) || p.inFlight) return;
    p.inFlight = true;
    p.error = null;
    try {
      if (!p.media_id) {
        p.state = 'uploading';
        schedule('messages');
        const view = await api('POST', '/api/media?purpose=chat_photo&source=album', undefined, { raw: p.file });
        p.media_id = view.id;
      }
      if (!state.socket || !state.socket.ready) {
        p.state = 'waiting';
        return;
      }
      p.state = 'sending';
      schedule('messages');
      const res = await rpc('chat.send', { conversation_id: c.id, client_id: p.client_id, media_id: p.media_id });
      if (!c.pending.includes(p)) return; // the committed message already arrived as an event
      if (res.held) {
        // No seq, nothing delivered: it becomes a message when a moderator approves the photo.
        p.state = 'held';
        rememberHeld(c, p);
      } else {
        noteServerTime(res.message);
        if (acceptMessage(res.message)) c.pending = c.pending.filter((x) => x !== p);
      }
      afterMessagesChanged(c.id);
    } catch (err) {
      if (!c.pending.includes(p)) return;
      if (err.code === 'consent_required') {
        p.state = 'consent';
        p.error = err;
      } else if (err.code === 'disconnected') {
        p.state = 'waiting';
      } else if (err.code === 'timeout' || err.code === 'rate_limited' || err.code === 'unavailable') {
        p.state = 'waiting';
        setTimeout(() => sendPhoto(c, p), err.retry_after_ms || 3000);
      } else {
        p.state = 'failed';
        p.error = err;
        noteError(err);
      }
    } finally {
      p.inFlight = false;
      if (c.id === state.activeId) schedule('messages');
    }
  }

  // consent_required: one click grants what is missing (photo_album for an album pick) and retries.
  async function grantAndSendPhoto(c, p) {
    const known = new Set(PERMISSIONS.map((x) => x.id));
    const missing = ((p.error && p.error.missing_permissions) || ['photo_album']).filter((x) => known.has(x));
    p.state = 'uploading';
    p.error = null;
    schedule('messages');
    try {
      for (const permission of missing.length ? missing : ['photo_album']) {
        const res = await api('POST', '/api/me/consents', { permission, granted: true, device: deviceLabel() });
        if (res.record) mergeConsentRecord(res.record);
      }
    } catch (err) {
      p.state = 'failed';
      p.error = err;
      schedule('messages');
      return;
    }
    sendPhoto(c, p);
  }

  function discardPending(c, p) {
    if (p.localUrl) URL.revokeObjectURL(p.localUrl);
    c.pending = c.pending.filter((x) => x !== p);
    if (p.kind === 'photo') forgetHeld(p.client_id);
    // A rejected text comes back from appeal.list after a reload unless it was put away.
    if (p.item_id != null) dismissItem(p.item_id);
    schedule('messages');
  }

  // Texts a moderation rule holds live on the server (chat.held), so a reload shows them again.
  async function restoreHeldTexts(c) {
    let res;
    try {
      res = await rpc('chat.held', { conversation_id: c.id });
    } catch (_) {
      return; // shown again at the next connect
    }
    for (const h of res.held || []) {
      if (c.pending.some((p) => p.client_id === h.client_id)) continue;
      c.pending.push({ client_id: h.client_id, text: h.text, state: 'held', error: null, inFlight: false });
    }
    if (c.id === state.activeId) schedule('messages');
  }

  // ---------------------------------------------------------------- appealable decisions
  // appeal.list says which rejections of one's own content can still be appealed: the appeal
  // is offered on the item itself (a removed message, a rejected text, a profile field), also
  // after a reload, and no longer once appealed.
  function dismissedKey() {
    return 'duoxie.dismissed.' + meId();
  }

  function dismissedItems() {
    try {
      const list = JSON.parse(localStorage.getItem(dismissedKey()) || '[]');
      return new Set(Array.isArray(list) ? list : []);
    } catch (_) {
      return new Set();
    }
  }

  function dismissItem(itemId) {
    const set = dismissedItems();
    set.add(itemId);
    try {
      localStorage.setItem(dismissedKey(), JSON.stringify([...set].slice(-200)));
    } catch (_) { /* this tab only */ }
  }

  function canAppeal(itemId) {
    if (itemId == null || state.appealed.has(itemId)) return false;
    return !state.appealable || state.appealable.has(itemId);
  }

  async function refreshAppealable() {
    let res;
    try {
      res = await rpc('appeal.list', {});
    } catch (_) {
      return;
    }
    state.appealable = new Map((res.items || []).map((i) => [i.item_id, i]));
    state.underAppeal = new Map((res.under_appeal || []).map((i) => [i.item_id, i]));
    for (const id of state.underAppeal.keys()) state.appealed.add(id);
    const dismissed = dismissedItems();
    for (const item of [...state.appealable.values(), ...state.underAppeal.values()]) {
      if (item.kind !== 'chat_text' || dismissed.has(item.item_id)) continue;
      const at = (item.content_ref || '').indexOf(':');
      const convId = Number(item.content_ref.slice(0, at));
      const clientId = item.content_ref.slice(at + 1);
      if (at <= 0 || !Number.isSafeInteger(convId)) continue;
      const c = convFor(convId);
      const shown = c.pending.find((p) => p.client_id === clientId);
      if (shown) {
        shown.state = 'rejected';
        shown.item_id = item.item_id;
        continue;
      }
      c.pending.push({ client_id: clientId, text: item.content, state: 'rejected', item_id: item.item_id,
        error: item.reason ? { message: item.reason } : null, inFlight: false });
    }
    schedule('messages');
    renderProfile();
  }

  // Held photos are remembered in this browser, so a reload still shows them (and their outcome).
  function heldKey() {
    return 'duoxie.held.' + meId();
  }

  function loadHeldStore() {
    try {
      const list = JSON.parse(localStorage.getItem(heldKey()) || '[]');
      return Array.isArray(list) ? list : [];
    } catch (_) {
      return [];
    }
  }

  function saveHeldStore(list) {
    try {
      if (list.length) localStorage.setItem(heldKey(), JSON.stringify(list));
      else localStorage.removeItem(heldKey());
    } catch (_) { /* this tab only */ }
  }

  function rememberHeld(c, p) {
    const list = loadHeldStore().filter((h) => h.client_id !== p.client_id);
    list.push({ conversation_id: c.id, client_id: p.client_id, media_id: p.media_id });
    saveHeldStore(list);
  }

  // The outcome, so a reload still offers the appeal.
  function noteHeldRejected(p) {
    const list = loadHeldStore();
    const h = list.find((x) => x.client_id === p.client_id);
    if (!h) return;
    h.item_id = p.item_id;
    h.reason = (p.error && p.error.message) || '';
    saveHeldStore(list);
  }

  function forgetHeld(clientId) {
    const list = loadHeldStore();
    if (list.some((h) => h.client_id === clientId)) saveHeldStore(list.filter((h) => h.client_id !== clientId));
  }

  // After a (re)connect and its sync: held photos this tab does not show yet, with their state now.
  async function restoreHeld() {
    for (const h of loadHeldStore()) {
      if (!h || !MEDIA_ID.test(h.media_id || '')) continue;
      const c = convFor(h.conversation_id);
      if (c.pending.some((p) => p.client_id === h.client_id)) continue;
      if ([...c.msgs.values()].some((m) => m.client_id === h.client_id && m.sender_id === meId())) {
        forgetHeld(h.client_id);
        continue;
      }
      let view;
      try {
        view = await api('GET', '/api/media/' + h.media_id);
      } catch (err) {
        if (err.code === 'not_found') forgetHeld(h.client_id);
        continue;
      }
      if (c.pending.some((p) => p.client_id === h.client_id)) continue;
      if (view.status === 'approved') {
        // Sent while we were away: the sync brought it, or the history has it.
        forgetHeld(h.client_id);
        continue;
      }
      const rejected = view.status === 'rejected';
      c.pending.push({
        kind: 'photo', client_id: h.client_id, file: null, localUrl: null, media_id: h.media_id,
        item_id: rejected && h.item_id != null ? h.item_id : null, inFlight: false,
        state: rejected ? 'rejected' : 'held',
        error: rejected ? { message: h.reason || '' } : null,
      });
      if (c.id === state.activeId) schedule('messages');
    }
  }

  // One fetch per picture and size; the object URL lives until logout.
  function mediaEntry(id, size) {
    const key = id + ':' + size;
    let e = state.mediaCache.get(key);
    if (!e) {
      e = { key, url: null, error: null, promise: null };
      const token = state.token;
      e.promise = fetchMedia(id, size).then((url) => {
        if (token !== state.token) { URL.revokeObjectURL(url); return; }
        e.url = url;
      }, (err) => { e.error = err; });
      state.mediaCache.set(key, e);
    }
    return e;
  }

  async function fetchMedia(id, size) {
    if (!MEDIA_ID.test(id)) throw new ApiError({ code: 'invalid_media', message: 'not a media id' }, 0);
    let res;
    try {
      res = await fetch(`/api/media/${id}/content?size=${size}`, {
        headers: { Authorization: 'Bearer ' + state.token },
      });
    } catch (_) {
      throw new ApiError({ code: 'network', message: '无法连接服务器 cannot reach the server' }, 0);
    }
    if (!res.ok) {
      let body = null;
      try { body = JSON.parse(await res.text()).error; } catch (_) { body = null; }
      throw new ApiError(body || { code: 'http_' + res.status, message: 'HTTP ' + res.status }, res.status);
    }
    return URL.createObjectURL(await res.blob());
  }

  function onPhotoLoaded() {
    if (state.stickToBottom) $('messages').scrollTop = $('messages').scrollHeight;
  }

  // In place of a picture the browser cannot draw (a file that is not an image after all).
  function photoPlaceholder(text) {
    return el('span', { class: 'photo-btn photo-error photo-placeholder', text });
  }

  // A picture in a bubble: the 256 px thumbnail (or the local file while it uploads); a click
  // opens the 1080 px one.
  function photoView(mediaId, localUrl) {
    const img = el('img', { class: 'photo', alt: '图片 Photo' });
    img.addEventListener('load', onPhotoLoaded);
    const btn = el('button', { type: 'button', class: 'photo-btn', title: '查看大图 View full size',
      onclick: () => openLightbox(mediaId, localUrl) }, img);
    img.addEventListener('error', () => {
      if (img.getAttribute('src')) btn.replaceWith(photoPlaceholder('图片无法显示 The picture cannot be shown'));
    });
    if (localUrl) {
      img.src = localUrl;
      return btn;
    }
    const e = mediaEntry(mediaId, 256);
    if (e.url) {
      img.src = e.url;
    } else if (e.error) {
      return el('button', { type: 'button', class: 'photo-btn photo-error',
        text: '图片无法加载，点击重试 Photo unavailable, click to retry (' + (e.error.code || '') + ')',
        onclick: () => { state.mediaCache.delete(e.key); schedule('messages'); } });
    } else {
      btn.classList.add('loading');
      img.dataset.media = e.key;
      e.promise.then(() => {
        if (e.error) { schedule('messages'); return; }
        for (const n of document.querySelectorAll(`img[data-media="${e.key}"]`)) {
          n.src = e.url;
          n.parentNode.classList.remove('loading');
        }
      });
    }
    return btn;
  }

  function openLightbox(mediaId, localUrl) {
    const img = $('lightbox-img');
    const msg = $('lightbox-msg');
    msg.hidden = true;
    const small = mediaId ? state.mediaCache.get(mediaId + ':256') : null;
    img.src = localUrl || (small && small.url) || '';
    $('lightbox').hidden = false;
    $('lightbox-close').focus();
    if (!mediaId) return;
    const big = mediaEntry(mediaId, 1080);
    const show = () => {
      if ($('lightbox').hidden || $('lightbox').dataset.media !== mediaId) return;
      if (big.url) img.src = big.url;
      else if (big.error) {
        msg.textContent = '大图无法加载 Could not load the full size: ' + errorText(big.error);
        msg.hidden = false;
        state.mediaCache.delete(big.key);
      }
    };
    $('lightbox').dataset.media = mediaId;
    if (big.url || big.error) show();
    else big.promise.then(show);
  }

  function closeLightbox() {
    const box = $('lightbox');
    if (!box) return;
    box.hidden = true;
    box.dataset.media = '';
    $('lightbox-img').removeAttribute('src');
  }

  // ---------------------------------------------------------------- reports and appeals
  // Both are in-page dialogs (never window.prompt): a report names the kind of wrong (one of
  // the protocol's categories, none chosen in advance) and what happened; an appeal says why.

  // The categories are the radio chips of #report-dialog (index.html): fake_goods 假货, fraud 诈骗,
  // harassment 骚扰, off_platform 站外交易, other 其他.

  // What report.create and appeal.create can answer, in words for the person who sent it.
  const REPORT_ERROR_ZH = {
    invalid_field: '无法举报：不能举报自己的内容，或填写的内容有误',
    not_found: '要举报的内容不存在或已被删除',
    rate_limited: '举报太频繁，请稍后再试',
    conflict: '这项举报已在处理中',
    forbidden: '无权举报这项内容',
  };
  const APPEAL_ERROR_ZH = {
    invalid_field: '这项决定已超过申诉期限，或不能申诉',
    not_found: '找不到这项审核决定',
    rate_limited: '操作太频繁，请稍后再试',
    conflict: '这项决定已经申诉过了',
    forbidden: '无权申诉这项决定',
  };
  const DIALOG_FALLBACK = '操作失败，请稍后再试';

  function dialogErrorText(err, table) {
    const code = err && err.code;
    if (code && table[code]) return table[code];
    if (code === 'disconnected' || code === 'timeout' || code === 'network') return '网络连接不稳定，请稍后再试';
    if (isRestriction(err)) return RESTRICTION_TEXT[code];
    return DIALOG_FALLBACK;
  }

  // The one form dialog open (report or appeal): its overlay, where the focus goes back to, a
  // command in flight, and a generation that a close moves on (a late reply then leaves it be).
  const formDialog = { box: null, returnFocus: null, busy: false, gen: 0, onClose: null };

  function openFormDialog(box, { onClose = null } = {}) {
    closeFormDialog();
    formDialog.box = box;
    formDialog.returnFocus = document.activeElement;
    formDialog.busy = false;
    formDialog.gen += 1;
    formDialog.onClose = onClose;
    box.hidden = false;
    document.body.classList.add('dialog-open');
    // The dialog itself takes the focus: on a phone a text box would pop the keyboard up at once.
    box.querySelector('[role=dialog]').focus();
    return formDialog.gen;
  }

  function closeFormDialog() {
    const box = formDialog.box;
    if (!box) return;
    formDialog.box = null;
    formDialog.gen += 1;
    formDialog.busy = false;
    box.hidden = true;
    document.body.classList.remove('dialog-open');
    const onClose = formDialog.onClose;
    formDialog.onClose = null;
    if (onClose) onClose();
    const back = formDialog.returnFocus;
    formDialog.returnFocus = null;
    if (back && document.contains(back) && typeof back.focus === 'function' && back.getClientRects().length) back.focus();
  }

  // Tab and Shift+Tab go round the dialog's controls; a radio group is one stop, as the browser
  // has it.
  function trapTab(box, e) {
    const stops = [...box.querySelectorAll('button, input, textarea, select, [tabindex="0"]')]
      .filter((n) => !n.disabled && n.getClientRects().length && !(n.type === 'radio' && !radioStop(n, box)));
    if (!stops.length) {
      e.preventDefault();
      return;
    }
    const first = stops[0];
    const last = stops[stops.length - 1];
    const active = document.activeElement;
    const at = (n) => active === n || (n.type === 'radio' && active && active.type === 'radio' && active.name === n.name);
    if (e.shiftKey && (at(first) || !box.contains(active) || active === box.querySelector('[role=dialog]'))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at(last) || !box.contains(active))) {
      e.preventDefault();
      first.focus();
    }
  }

  // The radio a Tab lands on: the checked one of its group, else the first.
  function radioStop(n, box) {
    const group = [...box.querySelectorAll(`input[type=radio][name="${n.name}"]`)];
    const checked = group.find((x) => x.checked);
    return n === (checked || group[0]);
  }

  function onFormDialogKeydown(e) {
    const box = formDialog.box;
    if (!box) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      closeFormDialog();
    } else if (e.key === 'Tab') {
      trapTab(box, e);
    }
  }

  function showDialogError(node, text) {
    node.textContent = text;
    node.hidden = !text;
  }

  function updateCounter(textarea, counter) {
    const n = [...textarea.value].length;
    counter.textContent = `${n}/${REASON_MAX_CHARS}`;
    counter.classList.toggle('error', n > REASON_MAX_CHARS);
  }

  // A reason as the server takes it: trimmed, at most 500 characters; null when empty.
  function readReason(textarea) {
    const reason = textarea.value.trim();
    return reason ? reason : null;
  }

  // ---- 举报

  let reportTarget = null; // {data: the report.create fields without category and reason}

  function openReport({ title, subject, data }) {
    reportTarget = { data };
    $('report-title').textContent = title;
    $('report-subject').textContent = subject || '';
    $('report-subject').hidden = !subject;
    for (const r of document.querySelectorAll('input[name="report-category"]')) r.checked = false;
    $('report-reason').value = '';
    markInvalid($('report-reason'), false);
    updateCounter($('report-reason'), $('report-count'));
    showDialogError($('report-error'), '');
    renderReportSubmit();
    openFormDialog($('report-dialog'), { onClose: () => { reportTarget = null; } });
  }

  function reportCategory() {
    const checked = document.querySelector('input[name="report-category"]:checked');
    return checked ? checked.value : null;
  }

  function renderReportSubmit() {
    const btn = $('report-submit');
    btn.disabled = formDialog.busy || !reportCategory();
    btn.textContent = formDialog.busy ? '提交中…' : '提交';
  }

  async function submitReport() {
    if (!reportTarget || formDialog.busy) return;
    const category = reportCategory();
    const box = $('report-reason');
    const reason = readReason(box);
    if (!category) {
      showDialogError($('report-error'), '请选择举报类型');
      return;
    }
    if (!reason) {
      markInvalid(box, true);
      showDialogError($('report-error'), '请填写详细说明');
      box.focus();
      return;
    }
    if ([...reason].length > REASON_MAX_CHARS) {
      markInvalid(box, true);
      showDialogError($('report-error'), `详细说明最多 ${REASON_MAX_CHARS} 个字`);
      return;
    }
    markInvalid(box, false);
    showDialogError($('report-error'), '');
    const gen = formDialog.gen;
    formDialog.busy = true;
    renderReportSubmit();
    try {
      await rpc('report.create', Object.assign({}, reportTarget.data, { category, reason }));
      // Sent even if the dialog was closed meanwhile: the toast says so either way.
      if (gen === formDialog.gen) closeFormDialog();
      showToast('已提交，我们会尽快处理');
    } catch (err) {
      if (gen !== formDialog.gen) return;
      formDialog.busy = false;
      renderReportSubmit();
      if (isRestriction(err)) noteRestriction(err);
      showDialogError($('report-error'), dialogErrorText(err, REPORT_ERROR_ZH));
    }
  }

  function reportMessage(m) {
    const photo = m.kind === 'photo';
    const excerpt = photo ? '' : [...(m.text || '')].slice(0, 60).join('') + ([...(m.text || '')].length > 60 ? '…' : '');
    openReport({
      title: photo ? '举报这张图片 Report this photo' : '举报这条消息 Report this message',
      subject: photo ? '聊天中的图片 A photo in this chat' : `“${excerpt}”`,
      data: { target: 'message', conversation_id: m.conversation_id, seq: m.seq },
    });
  }

  function reportUser(userId, nickname) {
    openReport({
      title: '举报用户 Report user',
      subject: `${nickname || ''} #${userId}`.trim(),
      data: { target: 'user', user_id: userId },
    });
  }

  // ---- 申诉

  let appealItem = null;

  function appealDecision(itemId) {
    if (itemId == null) return;
    appealItem = itemId;
    $('appeal-reason').value = '';
    markInvalid($('appeal-reason'), false);
    updateCounter($('appeal-reason'), $('appeal-count'));
    showDialogError($('appeal-error'), '');
    renderAppealSubmit();
    openFormDialog($('appeal-dialog'), { onClose: () => { appealItem = null; } });
  }

  function renderAppealSubmit() {
    const btn = $('appeal-submit');
    btn.disabled = formDialog.busy;
    btn.textContent = formDialog.busy ? '提交中…' : '提交';
  }

  async function submitAppeal() {
    if (appealItem == null || formDialog.busy) return;
    const itemId = appealItem;
    const box = $('appeal-reason');
    const reason = readReason(box);
    if (!reason) {
      markInvalid(box, true);
      showDialogError($('appeal-error'), '请填写申诉理由');
      box.focus();
      return;
    }
    if ([...reason].length > REASON_MAX_CHARS) {
      markInvalid(box, true);
      showDialogError($('appeal-error'), `申诉理由最多 ${REASON_MAX_CHARS} 个字`);
      return;
    }
    markInvalid(box, false);
    showDialogError($('appeal-error'), '');
    const gen = formDialog.gen;
    formDialog.busy = true;
    renderAppealSubmit();
    try {
      const res = await rpc('appeal.create', { item_id: itemId, reason });
      if (gen === formDialog.gen) closeFormDialog();
      noteAppealed(itemId);
      showAppNotice(`申诉已提交，审核员会重新查看（编号 #${res.item_id}）。 Appeal sent: a moderator will look again (#${res.item_id}).`);
    } catch (err) {
      // Appealed already (another tab, before a reload): the button goes, the dialog says why.
      if (err.code === 'conflict') noteAppealed(itemId);
      if (gen !== formDialog.gen) return;
      formDialog.busy = false;
      renderAppealSubmit();
      if (isRestriction(err)) noteRestriction(err);
      showDialogError($('appeal-error'), dialogErrorText(err, APPEAL_ERROR_ZH));
    }
  }

  function wireFormDialogs() {
    for (const r of document.querySelectorAll('input[name="report-category"]')) {
      r.addEventListener('change', () => {
        if ($('report-error').textContent === '请选择举报类型') showDialogError($('report-error'), '');
        renderReportSubmit();
      });
    }
    for (const [box, counter] of [['report-reason', 'report-count'], ['appeal-reason', 'appeal-count']]) {
      $(box).addEventListener('input', () => {
        updateCounter($(box), $(counter));
        if ($(box).value.trim()) markInvalid($(box), false);
      });
    }
    $('report-form').addEventListener('submit', (e) => {
      e.preventDefault();
      submitReport();
    });
    $('appeal-form').addEventListener('submit', (e) => {
      e.preventDefault();
      submitAppeal();
    });
    $('report-cancel').addEventListener('click', closeFormDialog);
    $('appeal-cancel').addEventListener('click', closeFormDialog);
    // On the document: a key pressed while the focus is nowhere in particular counts too.
    document.addEventListener('keydown', onFormDialogKeydown);
    for (const id of ['report-dialog', 'appeal-dialog']) {
      // A tap on the shade around the sheet does not take the focus out of it (nor close it:
      // what was typed stays).
      $(id).addEventListener('mousedown', (e) => { if (e.target === $(id)) e.preventDefault(); });
    }
    // Focus that leaves an open dialog anyway is brought back.
    document.addEventListener('focusin', (e) => {
      const box = formDialog.box;
      if (box && !box.contains(e.target)) box.querySelector('[role=dialog]').focus();
    });
  }

  // ---- a short confirmation that goes by itself

  let toastTimer = null;
  function showToast(text) {
    const node = $('toast');
    node.textContent = text;
    node.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(hideToast, 4000);
  }

  function hideToast() {
    clearTimeout(toastTimer);
    const node = $('toast');
    if (node) node.hidden = true;
  }

  // ---------------------------------------------------------------- recall (撤回)

  let recallTimer = null;

  // One's own text or photo, while the server's window lasts (by its clock).
  function canRecall(m) {
    return m.sender_id === meId() && (m.kind === 'text' || m.kind === 'photo') && !m.recallExpired &&
      serverNow() - m.created_at < RECALL_WINDOW_MS;
  }

  // The 撤回 buttons go when their window ends, without waiting for some other repaint.
  function scheduleRecallExpiry(c) {
    clearTimeout(recallTimer);
    recallTimer = null;
    let next = Infinity;
    for (const m of c.msgs.values()) {
      if (!canRecall(m)) continue;
      next = Math.min(next, m.created_at + RECALL_WINDOW_MS - serverNow());
    }
    if (next < Infinity) recallTimer = setTimeout(() => schedule('messages'), Math.max(0, next) + 100);
  }

  async function recallMessage(m) {
    const key = m.conversation_id + ':' + m.seq;
    if (state.recalling.has(key)) return;
    state.recalling.add(key);
    hideConvError();
    schedule('messages');
    try {
      await rpc('chat.recall', { conversation_id: m.conversation_id, seq: m.seq });
      // chat.recalled reaches this device too; whichever comes first shows the notice.
      applyRecalled(m.conversation_id, m.seq);
    } catch (err) {
      const c = state.convs.get(m.conversation_id);
      const cur = c && c.msgs.get(m.seq);
      if (err.code === 'recall_expired') {
        if (cur) cur.recallExpired = true;
        showConvError({ message: RECALL_EXPIRED_TEXT });
      } else if (err.code === 'conflict') {
        if (cur) cur.recallExpired = true;
        showConvError({ message: '这条消息已撤回或已被移除 The message was already recalled or removed' });
      } else {
        showConvError(err);
      }
    } finally {
      state.recalling.delete(key);
      schedule('messages');
    }
  }

  // From our own reply or chat.recalled (every device of both sides): the message becomes a
  // notice, its picture is dropped from this page.
  function applyRecalled(conversationId, seq) {
    const c = state.convs.get(conversationId);
    if (!c) return;
    const gone = (m) => Object.assign({}, m, { kind: 'recalled', text: '' });
    const m = c.msgs.get(seq);
    if (m && m.kind !== 'recalled') {
      if (m.kind === 'photo') forgetMedia(m.text);
      c.msgs.set(seq, gone(m));
    }
    if (c.info && c.info.last_message && c.info.last_message.seq === seq && c.info.last_message.kind !== 'recalled') {
      c.info.last_message = gone(c.info.last_message);
    }
    schedule('convs');
    if (c.id === state.activeId) schedule('messages');
  }

  // A picture that is no longer to be shown: its fetched copies go, and the lightbox if open.
  function forgetMedia(mediaId) {
    if (!mediaId) return;
    for (const size of [256, 1080]) {
      const e = state.mediaCache.get(mediaId + ':' + size);
      if (!e) continue;
      if (e.url) URL.revokeObjectURL(e.url);
      state.mediaCache.delete(e.key);
    }
    if (!$('lightbox').hidden && $('lightbox').dataset.media === mediaId) closeLightbox();
  }

  function noteAppealed(itemId) {
    state.appealed.add(itemId);
    if (state.appealable) state.appealable.delete(itemId);
    schedule('messages');
    renderProfile();
  }

  // ---------------------------------------------------------------- moderation of this account

  let muteTimer = null;
  const MAX_TIMER_MS = 2147483647;

  function isMuted() {
    return !!(state.mute && state.mute.until > Date.now());
  }

  function noteMuted(until, reason) {
    if (!(until > Date.now())) return;
    const prev = state.mute;
    state.mute = { until, reason: reason || (prev && prev.reason) || '' };
    renderMute();
    clearTimeout(muteTimer);
    const check = () => {
      if (!state.mute) return;
      const left = state.mute.until - Date.now();
      if (left > 0) {
        muteTimer = setTimeout(check, Math.min(left + 250, MAX_TIMER_MS));
        return;
      }
      state.mute = null;
      renderMute();
      showAppNotice('禁言已结束，您可以再次发言了。 Your mute is over: you can talk again.');
    };
    check();
  }

  // The server is the judge (Me.muted_until, moderation.muted / moderation.lifted, a refused
  // send's retry_after_ms); meanwhile nothing can be typed, sent or picked.
  function renderMute() {
    const banner = $('mute-banner');
    const muted = isMuted();
    banner.hidden = !muted;
    const box = $('composer-text');
    box.disabled = muted;
    $('composer-send').disabled = muted;
    $('photo-btn').disabled = muted;
    $('composer').classList.toggle('is-muted', muted);
    if (!box.dataset.placeholder) box.dataset.placeholder = box.placeholder;
    box.placeholder = muted ? '你已被禁言 Muted' : box.dataset.placeholder;
    if (!muted) {
      banner.replaceChildren();
      return;
    }
    const at = fmtChinaTime(state.mute.until);
    banner.replaceChildren(
      el('span', { id: 'mute-banner-text', text: `你已被禁言，${at} 后可发言` +
        (state.mute.reason ? `（原因：${state.mute.reason}）` : '') }),
      ' ',
      el('span', { class: 'muted', text: `A moderator muted you until ${at}.` }));
  }

  // What Me says now: muted_until while a mute lasts, nothing once it is over or lifted.
  function applyMeMute(me) {
    if (!me) return;
    // On this device's clock: the server's moment less the offset seen on our own messages.
    const until = me.muted_until ? me.muted_until - state.clockOffset : 0;
    if (until > Date.now()) noteMuted(until);
    else if (state.mute) liftMute();
  }

  function liftMute() {
    state.mute = null;
    clearTimeout(muteTimer);
    renderMute();
  }

  // What a refused command teaches us about this account.
  function noteError(err) {
    if (!err) return;
    if (isRestriction(err)) noteRestriction(err);
    if (err.code === 'muted' && err.retry_after_ms) noteMuted(Date.now() + err.retry_after_ms);
  }

  const PROFILE_FIELD = {
    intro: { zh: '简介', en: 'introduction' },
    nickname: { zh: '昵称', en: 'nickname' },
  };

  function onModerationDecided(d) {
    const approved = d.decision === 'approve';
    if (!approved && d.kind !== 'appeal' && d.item_id != null && state.appealable) {
      // Appealable from now on; the list fetched again brings the content for the profile.
      state.appealable.set(d.item_id, { item_id: d.item_id, kind: d.kind, content_ref: d.ref || '', content: '' });
      refreshAppealable();
    }
    const why = d.reason ? ` 原因 Reason: ${d.reason}` : '';
    const appeal = !approved && d.kind !== 'appeal' && d.item_id != null
      ? { label: '申诉 Appeal', onclick: () => appealDecision(d.item_id) } : null;
    switch (d.kind) {
      case 'chat_text': {
        // ref is "<conversation>:<client id>"; approved, the message itself arrives as chat.message.
        const [conv, clientId] = (d.ref || '').split(/:(.*)/s);
        const c = state.convs.get(Number(conv));
        const p = c && c.pending.find((x) => x.client_id === clientId);
        if (p && !approved) {
          p.state = 'rejected';
          p.error = { message: d.reason || '' };
          p.item_id = d.item_id;
          if (c.id === state.activeId) schedule('messages');
        }
        if (!approved) {
          showAppNotice('您的消息未通过审核，没有发送。 Your message was rejected by moderation and was not sent.' + why,
            { warn: true, action: appeal });
        }
        return;
      }
      case 'media': {
        let held = false;
        for (const c of state.convs.values()) {
          for (const p of c.pending) {
            if (p.kind !== 'photo' || p.media_id !== d.ref) continue;
            held = true;
            // Approved: the message itself arrives as chat.message and replaces the bubble.
            if (!approved) {
              p.state = 'rejected';
              p.error = { message: d.reason || '' };
              p.item_id = d.item_id;
              noteHeldRejected(p);
            }
            if (c.id === state.activeId) schedule('messages');
          }
        }
        if (!approved) {
          showAppNotice('您的图片未通过审核，没有发送。 Your picture was rejected by moderation and was not sent.' + why,
            { warn: true, action: appeal });
        } else if (!held) {
          showAppNotice('您的图片已通过审核。 Your picture was approved.');
        }
        return;
      }
      case 'intro':
      case 'nickname': {
        const what = PROFILE_FIELD[d.kind];
        delete state.pendingReview[d.kind];
        refreshMe();
        if (approved) showAppNotice(`您的新${what.zh}已通过审核，现已显示。 Your new ${what.en} was approved and is shown now.`);
        else {
          showAppNotice(`您的新${what.zh}未通过审核，原来的保持不变。 Your new ${what.en} was rejected; the previous one stays.` + why,
            { warn: true, action: appeal });
        }
        return;
      }
      case 'report_message':
        // A dismissed report changes nothing for the reported user.
        if (!approved) {
          showAppNotice('您的一条消息被举报，经审核已移除。 A message of yours was reported and removed by moderation.' + why,
            { warn: true, action: appeal });
        }
        return;
      case 'report_user':
        if (!approved) {
          refreshMe();
          showAppNotice('您的资料被举报，经审核已重置（昵称、头像、简介）。 Your profile was reported and reset by moderation (nickname, avatar, introduction).' + why,
            { warn: true, action: appeal });
        }
        return;
      case 'appeal':
        if (approved) {
          refreshMe();
          showAppNotice('您的申诉已通过，原内容已恢复。 Your appeal was upheld: the original content applies.' + why);
        } else {
          showAppNotice('您的申诉被驳回，原决定维持不变。 Your appeal was rejected: the decision stands.' + why, { warn: true });
        }
        return;
      default:
        showAppNotice((approved ? '审核通过 Approved by moderation' : '审核未通过 Rejected by moderation') + why,
          { warn: !approved, action: appeal });
    }
  }

  function onMessageRemoved(d) {
    const c = state.convs.get(d.conversation_id);
    if (!c) return;
    const gone = (m) => Object.assign({}, m, { kind: 'removed', text: '', removed_item_id: d.item_id });
    const m = c.msgs.get(d.seq);
    if (m) c.msgs.set(d.seq, gone(m));
    if (c.info && c.info.last_message && c.info.last_message.seq === d.seq) c.info.last_message = gone(c.info.last_message);
    schedule('convs');
    if (c.id === state.activeId) schedule('messages');
  }

  function onSuspended() {
    logoutLocal();
    setLoginInfo('您的账号已被审核员封禁，已在所有设备上退出登录。封禁结束或解除后可以重新登录。 ' +
      'Your account was suspended by a moderator and logged out on every device. You can log in again ' +
      'once the suspension ends or is lifted.', true);
  }

  // ---------------------------------------------------------------- the peer's profile

  function togglePeerProfile() {
    state.peerProfileOpen = !state.peerProfileOpen;
    const c = activeConv();
    if (state.peerProfileOpen && c) loadPeerProfile(c.info.peer.id);
    schedule('pane');
  }

  async function loadPeerProfile(id) {
    const cur = state.peerProfiles.get(id);
    if (cur && cur.loading) return;
    state.peerProfiles.set(id, Object.assign({}, cur, { loading: true }));
    try {
      const user = await api('GET', '/api/users/' + encodeURIComponent(id));
      state.peerProfiles.set(id, { user });
    } catch (err) {
      state.peerProfiles.set(id, { error: err });
    }
    schedule('pane');
  }

  function renderPeerProfile(peer) {
    const box = $('peer-profile');
    box.hidden = !state.peerProfileOpen;
    $('peer-profile-btn').setAttribute('aria-expanded', state.peerProfileOpen ? 'true' : 'false');
    if (!state.peerProfileOpen) return;
    const entry = state.peerProfiles.get(peer.id) || { loading: true };
    const u = entry.user;
    const facts = [];
    if (u) {
      facts.push(el('dt', { text: '昵称 Nickname' }), el('dd', { text: u.nickname || '' }));
      facts.push(el('dt', { text: '简介 Intro' }), el('dd', { class: u.intro ? '' : 'muted', text: u.intro || '（无 none）' }));
      if (u.roles && u.roles.length) facts.push(el('dt', { text: '角色 Roles' }), el('dd', { text: u.roles.join(', ') }));
      if (u.created_at) facts.push(el('dt', { text: '注册 Joined' }), el('dd', { text: fmtFull(u.created_at) }));
    }
    $('peer-profile-body').replaceChildren(
      u ? el('dl', { class: 'facts' }, ...facts)
        : el('p', { class: 'small ' + (entry.error ? 'error' : 'muted'),
          text: entry.error ? errorText(entry.error) : '加载中 Loading…' }));
    $('report-user-btn').hidden = !!(u && u.deleted);
  }

  // ---------------------------------------------------------------- privacy & account

  // Latest record per permission (history is oldest first).
  function latestRecords(history) {
    const latest = new Map();
    for (const r of history) latest.set(r.permission, r);
    return latest;
  }

  // The server's rule: a permission counts when its latest change is a grant given under the
  // policy version in force; an earlier grant must be accepted again.
  function deriveCurrent(history, policyVersion) {
    const latest = latestRecords(history);
    return [...PERMISSIONS, ...DOCUMENTS].map(({ id }) => {
      const r = latest.get(id);
      const granted = !!r && r.granted && r.policy_version === policyVersion;
      return {
        permission: id,
        granted,
        needs_acceptance: !granted && !!r && r.granted,
        since: r ? r.at : null,
        policy_version: r ? r.policy_version : null,
      };
    });
  }

  let consentsGen = 0;
  async function loadConsents() {
    const token = state.token;
    const gen = ++consentsGen;
    try {
      const res = await api('GET', '/api/me/consents');
      if (token !== state.token || gen !== consentsGen) return;
      const history = (res.history || []).slice();
      const maxId = history.reduce((m, r) => Math.max(m, r.id), 0);
      // consent.changed events that arrived after the server built this snapshot are not in it.
      const later = state.consents ? state.consents.history.filter((r) => r.id > maxId) : [];
      history.push(...later);
      state.consents = {
        policy_version: res.policy_version,
        history,
        current: later.length || !res.current ? deriveCurrent(history, res.policy_version) : res.current,
      };
      state.consentsError = null;
      acceptTickedAtLogin();
    } catch (err) {
      if (token !== state.token || gen !== consentsGen) return;
      if (err.code === 'unauthorized') return;
      state.consentsError = err;
    }
    schedule('settings');
  }

  // From our own change's reply or a consent.changed event; the ledger id is the dedupe.
  function mergeConsentRecord(r) {
    const cs = state.consents;
    if (!cs || !r || r.id == null || cs.history.some((x) => x.id === r.id)) return false;
    cs.history.push(r);
    cs.history.sort((a, b) => a.id - b.id);
    cs.current = deriveCurrent(cs.history, cs.policy_version);
    // A verdict's "current" may no longer hold for this permission: verify again.
    for (const x of cs.history) if (x.permission === r.permission && x.id !== r.id) state.verdicts.delete(x.id);
    // Changes are recorded under the version in force: a different one means it moved on.
    if (r.policy_version !== cs.policy_version) loadConsents();
    schedule('settings');
    return true;
  }

  // Grant and withdrawal are the same single click; neither asks for confirmation.
  async function setConsent(permission, granted) {
    if (state.consentBusy.has(permission)) return;
    const token = state.token;
    state.consentBusy.set(permission, granted);
    hideSettingsError();
    schedule('settings');
    try {
      const res = await api('POST', '/api/me/consents', { permission, granted, device: deviceLabel() });
      if (token === state.token && res.record) mergeConsentRecord(res.record);
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      showSettingsError(err);
      loadConsents(); // another device may have changed it first
    } finally {
      if (token === state.token) {
        state.consentBusy.delete(permission);
        schedule('settings');
      }
    }
  }

  function onConsentChanged(r) {
    // Our own change arrives here too (every device of the user), usually before its reply.
    if (!state.consentBusy.has(r.permission)) state.lastRemoteChange = { record: r, at: Date.now() };
    if (!mergeConsentRecord(r)) schedule('settings');
  }

  function verifyReceipt(jws) {
    return api('POST', '/api/consent/receipts/verify', { receipt: jws });
  }

  async function verifyRecord(r) {
    const token = state.token;
    state.verdicts.set(r.id, { pending: true });
    schedule('settings');
    try {
      const verdict = await verifyReceipt(r.receipt.jws);
      if (token !== state.token) return;
      state.verdicts.set(r.id, Object.assign({ checked_at: Date.now() }, verdict));
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      state.verdicts.set(r.id, { error: err });
    }
    schedule('settings');
  }

  // An old receipt shown again stays authentic but is not current: it grants nothing.
  function verdictView(v) {
    if (v.pending) return { text: '验证中 Verifying…', cls: 'muted' };
    if (v.error) return { text: '✗ ' + errorText(v.error), cls: 'error' };
    if (!v.authentic) return { text: '✗ 不真实 not authentic', cls: 'error' };
    const when = v.checked_at ? ' · ' + fmtTime(v.checked_at) : '';
    if (v.current) {
      return { text: '✓ 真实 authentic · 当前有效 current' + when, cls: 'ok' };
    }
    return {
      text: '✓ 真实 authentic · ✗ 非当前 not current：已被之后的变更或新版隐私政策取代，不再授予任何权限 ' +
        'superseded by a later change or policy version, grants nothing' + when,
      cls: 'attention',
    };
  }

  async function exportData() {
    const msg = $('export-msg');
    msg.hidden = true;
    try {
      const data = await api('GET', '/api/me/export');
      downloadFile('duoxie-export.json', JSON.stringify(data, null, 2), 'application/json');
      msg.textContent = '已下载 Downloaded duoxie-export.json';
      msg.className = 'small ok';
    } catch (err) {
      if (err.code === 'unauthorized') return;
      msg.textContent = errorText(err);
      msg.className = 'small error';
    }
    msg.hidden = false;
  }

  function deletionConfirmed() {
    const typed = $('deletion-confirm').value.trim();
    return typed === '注销' || typed.toLowerCase() === 'delete';
  }

  async function requestDeletion() {
    if (!deletionConfirmed() || state.deleting || !state.socket) return;
    const socket = state.socket;
    state.deleting = true;
    hideSettingsError();
    // Stop first, as logout does: the server closes every socket of the account with 4003, and
    // here the answer, which carries due_at, is what the user should see.
    socket.stop();
    try {
      const res = await api('POST', '/api/me/deletion', {});
      const due = res.deletion ? res.deletion.due_at : null;
      // Before the token goes, so other tabs read the date when they follow (wireWindow).
      if (due) deletionStore.set(due);
      logoutDeleted(due);
    } catch (err) {
      if (state.socket !== socket) return; // logged out meanwhile (api() does on unauthorized)
      state.deleting = false;
      socket.start();
      showSettingsError(err);
    }
  }

  function deletionText(due) {
    if (due && due > Date.now()) {
      const when = fmtFull(due);
      return `您的账号将于 ${when} 注销，已在所有设备上退出登录；在此之前重新登录即可取消注销。 ` +
        `Your account is scheduled for deletion on ${when} and you were logged out everywhere; ` +
        'log in again before then to cancel.';
    }
    return '您的账号已申请注销，已在所有设备上退出登录；冷静期内重新登录即可取消注销。 ' +
      'Your account is scheduled for deletion and you were logged out everywhere; ' +
      'log in again within the cooling-off period to cancel.';
  }

  function logoutDeleted(due) {
    logoutLocal();
    setLoginInfo(deletionText(due), true);
  }

  function openSettings() {
    state.settingsOpen = true;
    // A conversation hidden behind the page must not be marked read.
    state.activeId = null;
    hideSettingsError();
    $('wards-msg').hidden = true;
    schedule('convs', 'pane', 'settings');
    loadConsents();
    loadWards();
    refreshMe(); // the age declaration and standing as the server sees them now
  }

  function closeSettings() {
    state.settingsOpen = false;
    schedule('pane');
  }

  function showSettingsError(err) {
    $('settings-error').textContent = errorText(err);
    $('settings-error').hidden = false;
  }

  function hideSettingsError() {
    $('settings-error').hidden = true;
  }

  // warn: something the user has to act on (amber rather than green); action: {label, onclick}.
  let noticeAction = null;
  function showAppNotice(text, { warn = false, action = null } = {}) {
    $('app-notice-text').textContent = text;
    $('app-notice').classList.toggle('warn', warn);
    noticeAction = action;
    $('app-notice-action').hidden = !action;
    $('app-notice-action').textContent = action ? action.label : '';
    $('app-notice').hidden = false;
  }

  // ---------------------------------------------------------------- age, guardian, phone

  // Me.standing: "full", "age_undeclared" or "awaiting_guardian". A missing value (an older
  // server) counts as full; restricted accounts may not chat or edit their profile.
  const standingOf = () => (state.me && state.me.standing) || 'full';

  // Under 14 by the declared date (China calendar) or bracket; null when nothing is declared.
  function declaredUnder14(me) {
    if (me.birth_date) {
      const [y, m, d] = me.birth_date.split('-').map(Number);
      const [ty, tm, td] = todayInChina().split('-').map(Number);
      const age = ty - y - ((tm < m || (tm === m && td < d)) ? 1 : 0);
      return age < 14;
    }
    if (me.age_bracket) return me.age_bracket === 'under_14';
    return null;
  }

  async function refreshMe() {
    const token = state.token;
    try {
      const me = await api('GET', '/api/me');
      if (token !== state.token || !state.me) return;
      const standing = me.standing;
      state.me = Object.assign({}, me, { standing: state.me.standing });
      applyMeMute(me);
      renderProfile();
      setStanding(standing);
      schedule('settings');
    } catch (_) {
      // api() logs out on unauthorized; otherwise the next refresh tries again.
    }
  }

  // The one place the standing changes: from a reply, the account.standing event, a refused
  // command, or the 4004 close.
  function setStanding(standing) {
    if (!state.me || !standing) return;
    const prev = standingOf();
    state.me.standing = standing;
    if (prev !== standing) {
      if (standing === 'full') onStandingLifted(prev);
      else state.standingDismissed = false;
    }
    renderStanding();
    schedule('settings');
  }

  function onStandingLifted(prev) {
    resetGuardianForms();
    // Errors that explained the restriction no longer hold.
    $('app-error').hidden = true;
    hideConvError();
    if ($('profile-msg').classList.contains('error')) $('profile-msg').hidden = true;
    showAppNotice(prev === 'awaiting_guardian'
      ? '监护人已同意：现在可以聊天和修改资料了。 Your guardian consented: you can chat and edit your profile now.'
      : '已记录您的年龄：现在可以聊天和修改资料了。 Your age is recorded: you can chat and edit your profile now.');
    // The chat list was refused until now; load it (and everything after it) as on connect.
    if (state.socket && state.socket.ready) onConnected();
  }

  // A command answered age_required / guardian_required: the server knows better than us.
  function noteRestriction(err) {
    const standing = err.code === 'age_required' ? 'age_undeclared' : 'awaiting_guardian';
    if (standingOf() === standing) return;
    setStanding(standing);
    refreshMe();
  }

  function applyAgeStatus(st) {
    if (!state.me || !st) return;
    state.me.birth_date = st.birth_date != null ? st.birth_date : null;
    state.me.age_bracket = st.age_bracket != null ? st.age_bracket : null;
    setStanding(st.standing);
  }

  // 4004: the guardian withdrew consent. The token still works; the socket reconnects
  // restricted, and what was shown of the chats goes, as they may no longer be used.
  function onAccountRestricted() {
    if (!state.me) return;
    for (const c of state.convs.values()) c.pending = [];
    state.convs = new Map();
    state.activeId = null;
    state.listMore = false;
    state.listBefore = null;
    state.listBeforeId = null;
    resetGuardianForms();
    $('app-error').hidden = true;
    hideConvError();
    state.standingDismissed = false;
    if (standingOf() === 'awaiting_guardian') renderStanding();
    else setStanding('awaiting_guardian');
    showAppNotice('您的监护人撤回了同意，账号再次受限：在监护人重新同意之前不能聊天或修改资料。 ' +
      'Your guardian withdrew their consent, so your account is restricted again: no chat or ' +
      'profile changes until a guardian consents again.', { warn: true });
    schedule('convs', 'pane', 'messages', 'settings');
    refreshMe();
  }

  function openStandingPanel() {
    state.standingDismissed = false;
    renderStanding();
  }

  function dismissStandingPanel() {
    state.standingDismissed = true;
    renderStanding();
  }

  function resetGuardianForms() {
    $('guardian-sent-info').hidden = true;
    $('guardian-dev-note').hidden = true;
    $('guardian-error').hidden = true;
    $('guardian-code').value = '';
    $('age-error').hidden = true;
    markInvalid($('guardian-phone'), false);
    markInvalid($('age-birth-date'), false);
    markInvalid($('age-bracket'), false);
  }

  function showStandingError(node, err) {
    node.textContent = errorText(err);
    node.hidden = false;
  }

  async function declareAge() {
    const errNode = $('age-error');
    const dateInput = $('age-birth-date');
    const select = $('age-bracket');
    errNode.hidden = true;
    markInvalid(dateInput, false);
    markInvalid(select, false);
    const age = readAge(dateInput, select);
    if (age.error) {
      markInvalid(dateInput, true);
      showStandingError(errNode, age.error);
      return;
    }
    if (!age.value.birth_date && !age.value.age_bracket) {
      markInvalid(dateInput, true);
      showStandingError(errNode, { message: '请填写出生日期，或选择年龄段 Enter your date of birth or pick an age bracket' });
      return;
    }
    const token = state.token;
    try {
      const st = await api('POST', '/api/me/age', age.value);
      if (token !== state.token) return;
      dateInput.value = '';
      select.value = '';
      applyAgeStatus(st);
      renderProfile();
      if (st.standing === 'awaiting_guardian') $('guardian-phone').focus();
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      showStandingError(errNode, err);
      if (err.field === 'age_bracket') markInvalid(select, true);
      else if (err.field === 'birth_date') markInvalid(dateInput, true);
      // "already declared": another device did it; the fresh standing moves the panel on.
      if (err.code === 'invalid_field') refreshMe();
    }
  }

  let guardianCooldown = null;
  async function requestGuardianCode() {
    const input = $('guardian-phone');
    const errNode = $('guardian-error');
    errNode.hidden = true;
    $('guardian-dev-note').hidden = true;
    markInvalid(input, false);
    const guardianPhone = normalizePhone(input.value);
    if (!guardianPhone) {
      markInvalid(input, true);
      showStandingError(errNode, { message: '请输入监护人的手机号 Enter your guardian\'s phone number' });
      input.focus();
      return;
    }
    const token = state.token;
    try {
      const res = await api('POST', '/api/me/guardian/code', { guardian_phone: guardianPhone });
      if (token !== state.token) return;
      const minutes = res.expires_in_ms ? Math.round(res.expires_in_ms / 60000) : null;
      const info = $('guardian-sent-info');
      info.textContent = `验证码已发送到监护人的手机 ${maskPhone(guardianPhone)}` + (minutes ? `（${minutes} 分钟内有效）` : '') +
        `，请监护人把验证码告诉您。 Code sent to your guardian's phone ${maskPhone(guardianPhone)}` +
        (minutes ? ` (valid ${minutes} min)` : '') + '; ask them for it.';
      info.hidden = false;
      if (res.dev_code) {
        $('guardian-code').value = res.dev_code;
        $('guardian-dev-note').textContent = `dev code ${res.dev_code} (server runs with DUOXIE_AUTH_DEV_CODES)`;
        $('guardian-dev-note').hidden = false;
      }
      $('guardian-code').focus();
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      showStandingError(errNode, err);
      if (err.field === 'guardian_phone' || err.code === 'invalid_phone') {
        markInvalid(input, true);
        input.focus();
      }
      // After busy() re-enables the button, or it would undo the countdown.
      if (err.retry_after_ms && guardianCooldown) setTimeout(() => guardianCooldown(err.retry_after_ms), 0);
      if (err.code === 'forbidden') refreshMe(); // no longer waiting for a guardian
    }
  }

  async function verifyGuardian() {
    const input = $('guardian-code');
    const errNode = $('guardian-error');
    errNode.hidden = true;
    const code = input.value.trim();
    if (!code) {
      showStandingError(errNode, { message: '请输入监护人收到的验证码 Enter the code your guardian received' });
      input.focus();
      return;
    }
    const token = state.token;
    try {
      const st = await api('POST', '/api/me/guardian/verify', { code });
      if (token !== state.token) return;
      $('guardian-phone').value = '';
      applyAgeStatus(st);
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      showStandingError(errNode, err);
      if (err.code === 'too_many_attempts' || err.code === 'code_expired') input.value = '';
    }
  }

  let standingShown = false;
  function renderStanding() {
    const standing = state.me ? standingOf() : 'full';
    const restricted = standing !== 'full';
    const known = standing === 'age_undeclared' || standing === 'awaiting_guardian';
    const banner = $('standing-banner');
    banner.hidden = !restricted;
    if (restricted) {
      $('standing-banner-text').textContent = standing === 'age_undeclared'
        ? '您还没有填写年龄：在此之前不能聊天或修改资料。 You have not declared your age yet: until you do, you cannot chat or edit your profile.'
        : standing === 'awaiting_guardian'
          ? '等待监护人同意：未满 14 周岁的账号在监护人同意之前不能聊天或修改资料。 Waiting for a guardian\'s consent: an account under 14 cannot chat or edit its profile until then.'
          : `账号受限 Account restricted (${standing})`;
      $('standing-banner-btn').textContent = standing === 'age_undeclared' ? '填写年龄 Declare age' : '监护人同意 Guardian consent';
      $('standing-banner-btn').hidden = !known;
    }
    const show = restricted && known && !state.standingDismissed;
    $('standing-overlay').hidden = !show;
    $('age-step').hidden = standing !== 'age_undeclared';
    $('guardian-step').hidden = standing !== 'awaiting_guardian';
    document.body.classList.toggle('overlay-open', show);
    if (show && !standingShown) {
      // Move the keyboard into the panel when it appears (not on every repaint).
      const first = standing === 'age_undeclared' ? $('age-birth-date') : $('guardian-phone');
      setTimeout(() => first.focus(), 0);
    }
    standingShown = show;
  }

  function ageText(me) {
    if (me.birth_date) return '出生日期 Born ' + me.birth_date;
    if (me.age_bracket) return (AGE_BRACKETS[me.age_bracket] || me.age_bracket) + '（年龄段 bracket）';
    return '未填写 Not declared';
  }

  function renderAccount() {
    const me = state.me;
    if (!me) return;
    $('account-phone').textContent = me.phone_masked || '—';
    $('account-age').textContent = ageText(me);
    const standing = standingOf();
    const node = $('account-standing');
    const under14 = declaredUnder14(me);
    if (standing === 'full') {
      node.textContent = '正常 Full access' + (under14 ? ' · 监护人已同意 your guardian consented' : '');
      node.className = 'ok';
    } else if (standing === 'age_undeclared') {
      node.textContent = '未填写年龄：不能聊天或修改资料 Age not declared: no chat or profile changes';
      node.className = 'attention';
    } else if (standing === 'awaiting_guardian') {
      node.textContent = '等待监护人同意：不能聊天或修改资料 Waiting for guardian consent: no chat or profile changes';
      node.className = 'attention';
    } else {
      node.textContent = standing;
      node.className = 'attention';
    }
    const help = $('account-standing-help');
    help.hidden = under14 === null;
    help.className = 'small muted';
    help.textContent = '年龄只能填写一次；如有错误，请联系客服更正。 The age is declared once; support corrects a mistake.';
    const btn = $('account-standing-btn');
    btn.hidden = standing !== 'age_undeclared' && standing !== 'awaiting_guardian';
    btn.textContent = standing === 'age_undeclared' ? '填写年龄 Declare age' : '请监护人同意 Ask a guardian to consent';
  }

  // ---- guardian: my wards

  let wardsGen = 0;
  async function loadWards() {
    const token = state.token;
    const gen = ++wardsGen;
    try {
      const res = await api('GET', '/api/guardian/wards');
      if (token !== state.token || gen !== wardsGen) return;
      state.wards = res.wards || [];
      state.wardsError = null;
    } catch (err) {
      if (token !== state.token || gen !== wardsGen || err.code === 'unauthorized') return;
      // forbidden: an account without a phone number guards no one.
      if (err.code === 'forbidden') state.wards = [];
      else state.wardsError = err;
    }
    schedule('settings');
  }

  const WARD_STATES = {
    verified: { text: '已同意 Consent given', cls: 'granted' },
    withdrawn: { text: '已撤回同意 Consent withdrawn', cls: 'withdrawn' },
    deletion_requested: { text: '已申请删除 Deletion requested', cls: 'withdrawn' },
  };

  function wardsMessage(text, isError) {
    const node = $('wards-msg');
    node.textContent = text;
    node.className = 'small ' + (isError ? 'error' : 'ok');
    node.hidden = !text;
  }

  async function withdrawWard(w) {
    if (state.wardBusy.has(w.child_id)) return;
    const token = state.token;
    state.wardBusy.add(w.child_id);
    wardsMessage('');
    schedule('settings');
    try {
      await api('POST', `/api/guardian/wards/${encodeURIComponent(w.child_id)}/withdraw`);
      if (token !== state.token) return;
      wardsMessage(`已撤回对 ${w.nickname} 的同意，其账号已立即受限。 Consent withdrawn: ${w.nickname}'s account is restricted now.`, false);
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      wardsMessage(errorText(err), true);
    } finally {
      if (token === state.token) {
        state.wardBusy.delete(w.child_id);
        loadWards();
      }
    }
  }

  async function deleteWard(w) {
    if (state.wardBusy.has(w.child_id) || !typedConfirmation($('ward-delete-confirm'))) return;
    const token = state.token;
    state.wardBusy.add(w.child_id);
    wardsMessage('');
    schedule('settings');
    try {
      await api('POST', `/api/guardian/wards/${encodeURIComponent(w.child_id)}/deletion`);
      if (token !== state.token) return;
      state.wardConfirm = null;
      wardsMessage(`已申请删除 ${w.nickname} 的账号：其已在所有设备上退出登录，账号将在下次数据清理时删除。 ` +
        `Deletion requested: ${w.nickname} was logged out everywhere and the account is erased at the next retention run.`, false);
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      wardsMessage(errorText(err), true);
    } finally {
      if (token === state.token) {
        state.wardBusy.delete(w.child_id);
        loadWards();
      }
    }
  }

  function typedConfirmation(input) {
    const typed = input ? input.value.trim() : '';
    return typed === '注销' || typed.toLowerCase() === 'delete';
  }

  function renderWards() {
    const wards = state.wards || [];
    const err = state.wardsError;
    $('wards-section').hidden = !wards.length && !err;
    // Rebuilt only when something it shows changed, so a half-typed confirmation survives.
    const key = JSON.stringify([wards, err && err.code, [...state.wardBusy], state.wardConfirm]);
    if (key === state.wardsRendered) return;
    state.wardsRendered = key;
    const list = $('ward-list');
    if (!wards.length && err) {
      list.replaceChildren(el('li', { class: 'small error' }, errorText(err) + ' ',
        el('button', { type: 'button', class: 'link', text: '重试 Retry', onclick: loadWards })));
      return;
    }
    list.replaceChildren(...wards.map(wardItem));
    const confirmInput = $('ward-delete-confirm');
    if (confirmInput) confirmInput.focus();
  }

  function wardItem(w) {
    const st = WARD_STATES[w.state] || { text: w.state, cls: 'withdrawn' };
    const busy = state.wardBusy.has(w.child_id);
    const confirming = state.wardConfirm === w.child_id && w.state !== 'deletion_requested';
    const toggleConfirm = () => {
      state.wardConfirm = confirming ? null : w.child_id;
      schedule('settings');
    };
    let confirmBox = null;
    if (confirming) {
      const del = el('button', {
        type: 'submit',
        class: 'danger-btn small-btn',
        disabled: true,
        text: '确认删除孩子的账号 Delete the child\'s account',
      });
      const input = el('input', {
        id: 'ward-delete-confirm',
        autocomplete: 'off',
        spellcheck: 'false',
        oninput: (e) => { del.disabled = busy || !typedConfirmation(e.target); },
      });
      confirmBox = el('form', {
        class: 'stack ward-confirm',
        onsubmit: (e) => {
          e.preventDefault();
          deleteWard(w);
        },
      },
      el('p', { class: 'small', text: `${w.nickname} 将立即在所有设备上退出登录，其账号和个人信息将在下次数据清理时永久删除。没有冷静期，无法撤销。 ` +
        `${w.nickname} is logged out on every device at once, and the account with its personal data is erased ` +
        'at the next retention run. There is no cooling-off period; this cannot be undone.' }),
      el('label', {}, '输入“注销”或 DELETE 以确认 Type 注销 or DELETE to confirm', input),
      el('div', { class: 'row' },
        del,
        el('button', { type: 'button', class: 'link', text: '取消 Cancel', onclick: toggleConfirm })));
    }
    return el('li', { class: 'ward-item' },
      el('div', { class: 'ward-line' },
        el('strong', { text: w.nickname || '—' }),
        el('span', { class: 'muted small', text: '#' + w.child_id }),
        el('span', { class: 'tag ' + st.cls, text: st.text }),
        el('time', { class: 'history-time muted small', text: fmtFull(w.since) })),
      w.state !== 'deletion_requested' ? el('div', { class: 'receipt-actions' },
        w.state === 'verified' ? el('button', {
          type: 'button',
          class: 'secondary small-btn',
          disabled: busy,
          text: busy ? '处理中 Working…' : '撤回同意 Withdraw consent',
          onclick: () => withdrawWard(w),
        }) : null,
        el('button', {
          type: 'button',
          class: 'secondary small-btn danger',
          disabled: busy,
          'aria-expanded': confirming ? 'true' : 'false',
          text: '删除孩子的账号 Delete the child\'s account…',
          onclick: toggleConfirm,
        })) : null,
      confirmBox);
  }

  // ---- phone number rebinding

  function phoneMessage(text, isError) {
    const node = $('phone-msg');
    node.textContent = text;
    node.className = 'small ' + (isError ? 'error' : 'ok');
    node.hidden = !text;
  }

  function resetPhoneForms(keepMessage) {
    state.phoneChange = null;
    $('phone-verify-form').hidden = true;
    $('phone-old-code').value = '';
    $('phone-new-code').value = '';
    $('phone-dev-note').hidden = true;
    markInvalid($('phone-new'), false);
    if (!keepMessage) phoneMessage('');
  }

  let phoneCooldown = null;
  async function requestPhoneCodes() {
    const input = $('phone-new');
    markInvalid(input, false);
    phoneMessage('');
    const newPhone = normalizePhone(input.value);
    if (!newPhone) {
      markInvalid(input, true);
      phoneMessage('请输入新手机号 Enter the new phone number', true);
      input.focus();
      return;
    }
    const token = state.token;
    try {
      const res = await api('POST', '/api/me/phone/codes', { new_phone: newPhone });
      if (token !== state.token) return;
      state.phoneChange = { masked: maskPhone(newPhone) };
      const minutes = res.expires_in_ms ? Math.round(res.expires_in_ms / 60000) : null;
      const current = (state.me && state.me.phone_masked) || '';
      $('phone-sent-info').textContent =
        `验证码已分别发送到当前号码 ${current} 和新号码 ${state.phoneChange.masked}` + (minutes ? `（${minutes} 分钟内有效）` : '') + '。 ' +
        `Codes sent to your current number ${current} and to the new number ${state.phoneChange.masked}` +
        (minutes ? ` (valid ${minutes} min)` : '') + '.';
      $('phone-verify-form').hidden = false;
      $('phone-old-code').value = '';
      $('phone-new-code').value = '';
      const dev = $('phone-dev-note');
      dev.hidden = !(res.dev_old_code || res.dev_new_code);
      if (res.dev_old_code) $('phone-old-code').value = res.dev_old_code;
      if (res.dev_new_code) $('phone-new-code').value = res.dev_new_code;
      dev.textContent = `dev codes (server runs with DUOXIE_AUTH_DEV_CODES): 当前号码 current ${res.dev_old_code || '—'} · 新号码 new ${res.dev_new_code || '—'}`;
      $('phone-old-code').focus();
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      phoneMessage(errorText(err), true);
      if (err.field === 'new_phone' || err.code === 'invalid_phone') {
        markInvalid(input, true);
        input.focus();
      }
      // After busy() re-enables the button, or it would undo the countdown.
      if (err.retry_after_ms && phoneCooldown) setTimeout(() => phoneCooldown(err.retry_after_ms), 0);
    }
  }

  async function confirmPhoneChange() {
    const oldCode = $('phone-old-code').value.trim();
    const newCode = $('phone-new-code').value.trim();
    phoneMessage('');
    if (!oldCode || !newCode) {
      phoneMessage('请输入两个验证码 Enter both codes', true);
      (oldCode ? $('phone-new-code') : $('phone-old-code')).focus();
      return;
    }
    const token = state.token;
    try {
      const me = await api('POST', '/api/me/phone', { old_code: oldCode, new_code: newCode });
      if (token !== state.token || !state.me) return;
      const standing = me.standing;
      state.me = Object.assign({}, me, { standing: state.me.standing });
      $('phone-new').value = '';
      resetPhoneForms();
      renderProfile();
      setStanding(standing);
      phoneMessage(`手机号已更换为 ${me.phone_masked}，今后请用新号码登录。 ` +
        `Your number is now ${me.phone_masked}: log in with it from now on.`, false);
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return;
      if (err.code === 'too_many_attempts' || err.code === 'code_expired' || err.field === 'new_phone') {
        // Those codes are spent: start again from the new number.
        resetPhoneForms();
        if (err.field === 'new_phone') markInvalid($('phone-new'), true);
      }
      phoneMessage(errorText(err) + (err.code === 'invalid_code'
        ? ' — 两个验证码中至少有一个不对 at least one of the two codes is wrong' : ''), true);
    }
  }

  // ---- privacy policy versions

  function onPolicyChanged(version) {
    if (version) state.policyVersion = version;
    showAppNotice(`隐私政策已更新（版本 ${version || '?'}）：请查看新政策，您此前授予的权限需要重新同意后才会生效。 ` +
      `The privacy policy changed (version ${version || '?'}): please review it; permissions you granted ` +
      'must be accepted again before they count.', {
      warn: true,
      action: { label: '查看权限 Review permissions', onclick: openSettings },
    });
    // The agreement and the policy must be accepted again: the banner needs a fresh list.
    loadConsents();
    schedule('settings');
  }

  // ---- the user agreement and the privacy policy (用户协议, 隐私政策)

  const legal = {
    version: null, // the version in force, from GET /api/legal/privacy_policy on the login page
    error: null, // that fetch failed: no login can be sent
    gen: 0,
    texts: new Map(), // "<document>@<version>" → {document, version, title, text}
    dialogGen: 0,
    accept: null, // the dialog's 同意 action (opened from the policy banner), else null
    returnFocus: null,
  };

  // A text of a named version never changes, so it is fetched once; without a version the
  // server answers the one in force, which may move on.
  async function fetchLegal(doc, version) {
    const key = doc + '@' + (version || '');
    if (version && legal.texts.has(key)) return legal.texts.get(key);
    const res = await api('GET', '/api/legal/' + encodeURIComponent(doc) +
      (version ? '?version=' + encodeURIComponent(version) : ''));
    legal.texts.set(res.document + '@' + res.version, res);
    return res;
  }

  // Each time the login page shows: a code login sends this version as accepted_policy_version.
  async function loadLoginPolicy() {
    const gen = ++legal.gen;
    legal.error = null;
    renderLoginPolicy();
    try {
      const res = await fetchLegal('privacy_policy');
      if (gen !== legal.gen) return;
      // A box ticked for another version agreed to other texts.
      if (legal.version && legal.version !== res.version) $('policy-agree').checked = false;
      legal.version = res.version;
    } catch (err) {
      if (gen !== legal.gen) return;
      legal.version = null;
      legal.error = err;
    }
    renderLoginPolicy();
  }

  function renderLoginPolicy() {
    const ready = !!legal.version;
    for (const form of [$('code-form'), $('password-form')]) {
      const submit = form.querySelector('button[type=submit]');
      submit.disabled = !ready;
      submit.title = ready ? '' : (legal.error ? '无法加载《用户协议》和《隐私政策》 Could not load the agreement and the policy'
        : '正在加载《用户协议》和《隐私政策》 Loading the agreement and the policy…');
    }
    $('policy-agree-row').dataset.version = legal.version || '';
    $('policy-agree-error').hidden = !legal.error;
    $('policy-agree-error-text').textContent = legal.error
      ? '无法加载《用户协议》和《隐私政策》，暂时不能登录。 Could not load the User Agreement and the Privacy Policy: ' +
        'you cannot log in until they load. (' + errorText(legal.error) + ')'
      : '';
  }

  // The version a title link shows: the login page's, or after login the one in force.
  function legalVersionNow() {
    if (!state.me) return legal.version;
    return (state.consents && state.consents.policy_version) || state.policyVersion || null;
  }

  async function openLegal(doc, { version = legalVersionNow(), accept = null } = {}) {
    const box = $('legal-dialog');
    const info = docInfo(doc);
    if (box.hidden) legal.returnFocus = document.activeElement;
    const gen = ++legal.dialogGen;
    legal.accept = accept;
    $('legal-title').textContent = info.title;
    $('legal-version').textContent = version ? '版本 Version ' + version : '';
    $('legal-body').textContent = '加载中 Loading…';
    $('legal-body').scrollTop = 0;
    $('legal-error').hidden = true;
    renderLegalAccept();
    box.dataset.doc = doc;
    box.hidden = false;
    document.body.classList.add('legal-open');
    box.querySelector('.legal-card').focus();
    try {
      const res = await fetchLegal(doc, version);
      if (gen !== legal.dialogGen || box.hidden) return;
      $('legal-title').textContent = res.title || info.title;
      $('legal-version').textContent = '版本 Version ' + res.version;
      // Verbatim, but without the blank lines some texts open with.
      $('legal-body').textContent = (res.text || '').replace(/^\s*\n/, '');
      $('legal-body').scrollTop = 0;
    } catch (err) {
      if (gen !== legal.dialogGen || box.hidden) return;
      $('legal-body').textContent = '';
      $('legal-error').replaceChildren(
        `无法加载${info.link} Could not load the text: ${errorText(err)} `,
        el('button', { type: 'button', class: 'link', text: '重试 Retry', onclick: () => openLegal(doc, { version, accept }) }));
      $('legal-error').hidden = false;
    }
  }

  function closeLegal() {
    const box = $('legal-dialog');
    if (!box || box.hidden) return;
    legal.dialogGen += 1;
    legal.accept = null;
    box.hidden = true;
    document.body.classList.remove('legal-open');
    const back = legal.returnFocus;
    legal.returnFocus = null;
    if (back && document.contains(back) && typeof back.focus === 'function') back.focus();
  }

  function renderLegalAccept() {
    const btn = $('legal-accept');
    btn.hidden = !legal.accept;
    btn.disabled = state.acceptingDocs;
    btn.textContent = state.acceptingDocs ? '提交中 Sending…' : '同意 Accept';
  }

  // The keyboard stays in the dialog while it is open; Escape closes it.
  function onLegalKeydown(e) {
    if (e.key === 'Escape') {
      e.preventDefault();
      closeLegal();
      return;
    }
    if (e.key !== 'Tab') return;
    const box = $('legal-dialog');
    const stops = [...box.querySelectorAll('button, [tabindex="0"]')]
      .filter((n) => !n.disabled && n.getClientRects().length);
    if (!stops.length) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    if (e.shiftKey && (document.activeElement === first || !box.contains(document.activeElement) ||
        document.activeElement === box.querySelector('.legal-card'))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first.focus();
    }
  }

  function wireLegal() {
    // Every 《用户协议》 / 《隐私政策》 title (login page, policy banner, settings) opens the text.
    document.addEventListener('click', (e) => {
      const link = e.target.closest && e.target.closest('.legal-link');
      if (!link) return;
      e.preventDefault();
      const fromBanner = !!link.closest('#policy-banner');
      openLegal(link.dataset.doc, { accept: fromBanner ? acceptFromDialog : null });
    });
    $('legal-close').addEventListener('click', closeLegal);
    $('legal-accept').addEventListener('click', acceptFromDialog);
    $('legal-dialog').addEventListener('click', (e) => {
      if (e.target === $('legal-dialog')) closeLegal();
    });
    $('legal-dialog').addEventListener('keydown', onLegalKeydown);
  }

  // The documents not accepted under the version in force: a new version was published, or the
  // account predates them. Empty until the ledger is known (and from a server without them).
  function documentsToAccept(cs) {
    if (!cs || !cs.current) return [];
    return cs.current.filter((c) => isDocument(c.permission) && !c.granted);
  }

  function renderPolicyBanner() {
    const todo = documentsToAccept(state.consents);
    $('policy-banner').hidden = !todo.length;
    const btn = $('policy-accept-btn');
    btn.disabled = state.acceptingDocs;
    btn.textContent = state.acceptingDocs ? '提交中 Sending…' : '同意 Accept';
    const err = state.acceptDocsError;
    $('policy-banner-error').hidden = !err;
    $('policy-banner-error').textContent = err ? errorText(err) : '';
    if (!$('legal-dialog').hidden) renderLegalAccept();
  }

  // 同意: accepts both documents of the version in force (consent grants; a document already
  // accepted under it is left as it is by the server).
  async function acceptDocuments() {
    if (state.acceptingDocs) return false;
    const token = state.token;
    state.acceptingDocs = true;
    state.acceptDocsError = null;
    schedule('settings');
    let ok = false;
    try {
      for (const d of DOCUMENTS) {
        const res = await api('POST', '/api/me/consents', { permission: d.id, granted: true, device: deviceLabel() });
        if (token !== state.token) return false;
        if (res.record) mergeConsentRecord(res.record);
      }
      ok = true;
    } catch (err) {
      if (token !== state.token || err.code === 'unauthorized') return false;
      state.acceptDocsError = err;
    } finally {
      if (token === state.token) {
        state.acceptingDocs = false;
        schedule('settings');
      }
    }
    loadConsents(); // the state as the server now sees it
    return ok;
  }

  async function acceptFromDialog() {
    if (await acceptDocuments()) closeLegal();
  }

  // A password login sends no acceptance; the box ticked on the login page for the version in
  // force is recorded once the ledger shows it is not accepted yet.
  function acceptTickedAtLogin() {
    const version = state.loginAccepted;
    if (!version || !state.consents) return;
    state.loginAccepted = null;
    if (state.consents.policy_version === version && documentsToAccept(state.consents).length) acceptDocuments();
  }

  // The settings page: whether the agreement and the policy in force are accepted.
  function renderLegalStatus(cs) {
    const node = $('legal-status');
    const current = new Map((cs.current || []).map((c) => [c.permission, c]));
    const docs = DOCUMENTS.map((d) => current.get(d.id)).filter(Boolean);
    node.hidden = !docs.length;
    if (!docs.length) return;
    node.className = 'small ' + (docs.every((c) => c.granted) ? 'muted' : 'attention');
    node.textContent = docs.map((c) => docInfo(c.permission).link + ' ' + (c.granted
      ? `已同意 accepted · v${c.policy_version}` + (c.since ? ' · ' + fmtTime(c.since) : '')
      : `待同意版本 ${cs.policy_version} not accepted yet (version ${cs.policy_version})`)).join('；');
  }

  // ---------------------------------------------------------------- socket events

  function bindSocket(socket) {
    socket
      .on('$state', (s, delay) => renderStatus(s, delay))
      .on('$open', () => onConnected())
      .on('$revoked', (code, reason) => {
        // The close reason is not part of the protocol; it only picks the friendlier wording.
        if (code === 4003 && /guardian/i.test(reason)) {
          logoutLocal();
          setLoginInfo('您的监护人已申请删除您的账号，您已在所有设备上退出登录。 ' +
            'Your guardian asked for your account to be deleted; you were logged out on every device.', true);
        } else if (code === 4003) logoutDeleted(deletionStore.get());
        else logoutLocal('登录已失效，请重新登录 Session ended, please log in again');
      })
      .on('$restricted', onAccountRestricted)
      .on('$suspended', onSuspended)
      .on('$refused', () => {
        // api() logs out on a 401; anything else just means the server is unreachable.
        api('GET', '/api/me').catch(() => {});
      })
      .on('chat.message', (m) => {
        if (acceptMessage(m)) afterMessagesChanged(m.conversation_id);
      })
      .on('chat.read', (d) => applyRead(d.conversation_id, d.user_id, d.seq))
      .on('chat.typing', (d) => {
        if (d.user_id === meId()) return;
        const c = state.convs.get(d.conversation_id);
        if (!c) return;
        c.typingUntil = Date.now() + TYPING_SHOW_MS;
        schedule('convs', 'pane');
        setTimeout(() => schedule('convs', 'pane'), TYPING_SHOW_MS + 50);
      })
      .on('presence', (d) => {
        setPresence(d.user_id, d.online, d.last_seen_at);
        schedule('convs', 'pane', 'sellers');
      })
      .on('session.ready', (d) => {
        // Published while this socket was away: the event did not reach us, the version does.
        const changed = state.policyVersion && d.policy_version && d.policy_version !== state.policyVersion;
        state.policyVersion = d.policy_version || null;
        if (changed) onPolicyChanged(d.policy_version);
        // Changes made while this socket was away reach it only through a fresh list; the
        // policy banner needs it even with the settings closed (a version published meanwhile).
        loadConsents();
        schedule('settings');
      })
      .on('consent.changed', onConsentChanged)
      .on('consent.policy_changed', (d) => onPolicyChanged(d.policy_version))
      .on('account.standing', (d) => {
        if (d.standing) setStanding(d.standing);
        refreshMe();
      })
      .on('chat.removed', onMessageRemoved)
      .on('chat.recalled', (d) => applyRecalled(d.conversation_id, d.seq))
      .on('moderation.warning', (d) => {
        showAppNotice('审核员警告 Warning from a moderator: ' + (d.reason || ''), { warn: true });
      })
      .on('moderation.muted', (d) => {
        const until = d.until - state.clockOffset;
        noteMuted(until, d.reason);
        showAppNotice(`你已被禁言，${fmtChinaTime(until)} 后可发言。 A moderator muted you until ${fmtChinaTime(until)}.` +
          (d.reason ? ' 原因 Reason: ' + d.reason : ''), { warn: true });
      })
      .on('moderation.lifted', (d) => {
        liftMute();
        showAppNotice('审核员解除了对您的处罚，您可以正常使用了。 A moderator lifted your sanction.' +
          (d.reason ? ' 原因 Reason: ' + d.reason : ''));
      })
      .on('moderation.decided', onModerationDecided);
  }

  // ---------------------------------------------------------------- rendering

  const dirty = new Set();
  let renderQueued = false;

  // Bursts (a sync page of 200 messages) collapse into one repaint.
  function schedule(...parts) {
    for (const p of parts) dirty.add(p);
    if (renderQueued) return;
    renderQueued = true;
    setTimeout(() => {
      renderQueued = false;
      const parts = new Set(dirty);
      dirty.clear();
      if (!state.me) return;
      if (parts.has('convs')) renderConvList();
      if (parts.has('pane')) renderPane();
      if (parts.has('messages')) renderMessages();
      if (parts.has('sellers')) renderSellers();
      if (parts.has('settings')) {
        renderPolicyBanner();
        renderSettings();
      }
    }, 0);
  }

  function renderStatus(s, delay) {
    const node = $('conn-status');
    node.className = 'conn-status ' + s;
    // Chinese only: a phone's top bar has room for a few characters (the English is the title).
    if (s === 'open') {
      node.textContent = '● 已连接';
      node.title = 'connected';
    } else if (s === 'connecting') {
      node.textContent = '○ 连接中…';
      node.title = 'connecting';
    } else {
      node.textContent = `○ 已断开 · ${Math.ceil(delay / 1000)} 秒后重连`;
      node.title = '点击立即重连 (offline: click to reconnect now)';
    }
  }

  function renderProfile() {
    const me = state.me;
    if (!me) return;
    $('me-nickname').textContent = me.nickname;
    $('me-phone').textContent = me.phone_masked || '';
    $('me-id').textContent = String(me.id);
    $('me-roles').textContent = (me.roles || []).join(', ');
    $('profile-nickname').value = me.nickname || '';
    $('profile-intro').value = me.intro || '';
    const review = Object.entries(state.pendingReview).map(([field, text]) =>
      `${PROFILE_FIELD[field] ? PROFILE_FIELD[field].zh + ' ' + PROFILE_FIELD[field].en : field}: “${text}”`);
    $('profile-review').hidden = !review.length;
    $('profile-review').textContent = review.length ? '审核中 Under review — ' + review.join(' · ') : '';
    renderProfileAppeals();
    $('current-password-label').hidden = !me.has_password;
    $('new-password-title').textContent = me.has_password ? '新密码 New password' : '设置密码 Set password';
  }

  // A rejected nickname or introduction, with its appeal, beside the field it was for.
  function renderProfileAppeals() {
    const box = $('profile-appeals');
    if (!box) return;
    const all = [...(state.appealable ? state.appealable.values() : []),
      ...(state.underAppeal ? state.underAppeal.values() : [])];
    const items = all.filter((i, at) => PROFILE_FIELD[i.kind] && all.findIndex((j) => j.item_id === i.item_id) === at);
    box.replaceChildren(...items.map((i) => el('li', { class: 'note review-note', 'data-item': i.item_id },
      el('span', { text: `${PROFILE_FIELD[i.kind].zh}“${i.content}”未通过审核 ` +
        `The ${PROFILE_FIELD[i.kind].en} “${i.content}” was rejected ` +
        (i.reason ? `（原因 Reason: ${i.reason}） ` : '') }),
      state.appealed.has(i.item_id)
        ? el('span', { class: 'review-tag', text: '已申诉 Appealed' })
        : el('button', { type: 'button', class: 'link', text: '申诉 Appeal', onclick: () => appealDecision(i.item_id) }))));
    box.hidden = !items.length;
  }

  function sortedConvs() {
    const when = (c) => c.info.last_message_at || c.info.created_at || 0;
    return [...state.convs.values()].filter((c) => c.info).sort((a, b) => when(b) - when(a));
  }

  function renderConvList() {
    const items = sortedConvs();
    const now = Date.now();
    $('conv-list').replaceChildren(...items.map((c) => convItem(c, now)));
    $('conv-empty').hidden = items.length > 0;
    $('conv-more-btn').hidden = !state.listMore;
    const unread = items.reduce((n, c) => n + (c.info.unread || 0), 0);
    document.title = (unread ? `(${unread}) ` : '') + '多些 Duoxie';
  }

  function convItem(c, now) {
    const info = c.info;
    const online = presenceOf(info.peer.id).online;
    const last = info.last_message;
    let preview;
    if (c.typingUntil > now) preview = '正在输入 typing…';
    else if (last && last.kind === 'recalled') preview = recalledText(last);
    else if (last) preview = (last.sender_id === meId() ? '我 Me: ' : '') + messageText(last);
    else preview = '暂无消息 no messages';
    const open = () => openConv(c.id);
    return el('li', {
      class: 'conv-item' + (c.id === state.activeId ? ' active' : ''),
      tabindex: 0,
      role: 'button',
      onclick: open,
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(); } },
    },
    el('span', { class: 'dot' + (online ? ' online' : ''), title: online ? 'online' : 'offline' }),
    el('div', { class: 'conv-main' },
      el('div', { class: 'conv-line' },
        el('span', { class: 'conv-name', text: info.peer.nickname }),
        info.listing_ref ? el('span', { class: 'tag', text: info.listing_ref }) : null,
        el('span', { class: 'conv-time', text: fmtTime(info.last_message_at) })),
      el('div', { class: 'conv-line' },
        el('span', { class: 'conv-preview' + (c.typingUntil > now ? ' typing' : ''), text: preview }),
        info.unread > 0 ? el('span', { class: 'badge', text: info.unread > 99 ? '99+' : String(info.unread) }) : null)));
  }

  function presenceText(userId) {
    const p = presenceOf(userId);
    if (p.online) return '在线 online';
    if (p.last_seen_at) return '最后在线 last seen ' + fmtTime(p.last_seen_at);
    return '离线 offline';
  }

  function renderPane() {
    const settings = state.settingsOpen;
    const c = settings ? null : activeConv();
    document.body.classList.toggle('conv-open', !!c);
    document.body.classList.toggle('settings-open', settings);
    $('pane-empty').hidden = !!c || settings;
    $('pane-conv').hidden = !c;
    $('pane-settings').hidden = !settings;
    $('settings-btn').classList.toggle('active', settings);
    $('settings-btn').setAttribute('aria-pressed', settings ? 'true' : 'false');
    if (!c) return;
    const info = c.info;
    const peer = info.peer;
    const online = presenceOf(peer.id).online;
    $('peer-name').textContent = peer.nickname;
    $('peer-id').textContent = '#' + peer.id;
    $('peer-dot').className = 'dot' + (online ? ' online' : '');
    $('conv-listing').hidden = !info.listing_ref;
    $('conv-listing').textContent = info.listing_ref || '';
    $('peer-presence').textContent = presenceText(peer.id);
    $('peer-typing').hidden = !(c.typingUntil > Date.now());
    const blocked = state.blocked.has(peer.id);
    $('block-btn').textContent = blocked ? '取消屏蔽 Unblock' : '屏蔽 Block';
    $('block-btn').classList.toggle('danger', !blocked);
    renderPeerProfile(peer);
    renderMute();
  }

  function renderMessages() {
    const c = activeConv();
    const box = $('messages');
    const list = $('message-list');
    if (!c) {
      list.replaceChildren();
      return;
    }
    const fromBottom = box.scrollHeight - box.scrollTop;
    const nearBottom = fromBottom - box.clientHeight < 80;

    const peerRead = c.info.peer_last_read_seq || 0;
    const rows = [...c.msgs.values()].sort((a, b) => a.seq - b.seq).map((m) => messageItem(m, peerRead));
    for (const p of c.pending) rows.push(pendingItem(c, p));
    if (!rows.length && c.historyLoaded) {
      rows.push(el('li', { class: 'empty muted', text: '还没有消息，打个招呼吧 No messages yet, say hi' }));
    }
    list.replaceChildren(...rows);

    const older = $('older-btn');
    older.hidden = !(c.historyLoaded && c.minSeq > 1);
    older.disabled = c.loadingOlder;
    older.textContent = c.loadingOlder ? '加载中 Loading…' : '加载更早 Load older';

    const intent = state.scrollIntent;
    state.scrollIntent = null;
    if (intent === 'keep') box.scrollTop = box.scrollHeight - fromBottom;
    else if (intent === 'bottom' || nearBottom) box.scrollTop = box.scrollHeight;
    state.stickToBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    scheduleRecallExpiry(c);
  }

  function messageItem(m, peerRead) {
    const mine = m.sender_id === meId();
    // Recalled: a centred line in place of the message, on both sides; nothing else is left.
    if (m.kind === 'recalled') {
      return el('li', { class: 'msg notice recalled', 'data-seq': m.seq },
        el('span', { class: 'notice-text', text: recalledText(m), title: fmtFull(m.created_at) }));
    }
    let bubble;
    if (m.kind === 'photo') bubble = el('div', { class: 'bubble photo-bubble' }, photoView(m.text));
    else if (m.kind === 'removed') bubble = el('div', { class: 'bubble removed', text: REMOVED_TEXT });
    else bubble = el('div', { class: 'bubble', text: messageText(m) });
    // A report attaches the message as it is now; one's own and removed ones are not reportable.
    const report = !mine && m.kind !== 'removed'
      ? el('button', { type: 'button', class: 'link report-link', text: '举报 Report',
        title: '举报这条消息 Report this message to moderators', onclick: () => reportMessage(m) })
      : null;
    // 撤回: one's own text or photo, within the recall window.
    const recalling = state.recalling.has(m.conversation_id + ':' + m.seq);
    const recall = canRecall(m)
      ? el('button', { type: 'button', class: 'link recall-link', text: recalling ? '撤回中…' : '撤回 Recall',
        title: '撤回这条消息（发送后 2 分钟内） Recall this message (within 2 minutes of sending)',
        disabled: recalling, onclick: () => recallMessage(m) })
      : null;
    // One's own removed message carries the decision: the appeal is offered on it, also after
    // a reload (the server refuses it once the window has passed, or once appealed).
    const removedMine = mine && m.kind === 'removed' && m.removed_item_id != null;
    const appeal = removedMine && canAppeal(m.removed_item_id)
      ? el('button', { type: 'button', class: 'link', text: '申诉 Appeal',
        title: '对移除这条消息的决定提出申诉 Appeal the removal of this message',
        onclick: () => appealDecision(m.removed_item_id) })
      : removedMine && state.appealed.has(m.removed_item_id)
        ? el('span', { class: 'review-tag', text: '已申诉 Appealed' }) : null;
    return el('li', { class: 'msg' + (mine ? ' mine' : ''), 'data-seq': m.seq },
      bubble,
      el('div', { class: 'meta' },
        el('time', { text: fmtTime(m.created_at), title: fmtFull(m.created_at) }),
        mine && m.seq <= peerRead ? el('span', { class: 'read', text: '已读 read' }) : null,
        recall, report, appeal));
  }

  function pendingItem(c, p) {
    if (p.kind === 'photo') return pendingPhotoItem(c, p);
    const labels = {
      sending: '发送中 sending…',
      waiting: '等待连接 waiting for connection…',
      failed: '发送失败 failed: ' + errorText(p.error),
    };
    labels.held = '审核中：通过后才会发送给对方 In review: sent once a moderator approves it';
    labels.rejected = '未通过审核，未发送 Rejected by moderation, not sent' +
      (p.error && p.error.message ? ': ' + p.error.message : '');
    const retry = () => sendPending(c, p);
    // Held and rejected texts wait for the moderator or the user, and a refusal (blocked, muted,
    // refused content…) would only come again: a retry is for the network and the server's hiccups.
    const retryable = p.state === 'waiting' || (p.state === 'failed' && isTransient(p.error));
    return el('li', { class: 'msg mine pending ' + p.state },
      el('div', { class: 'bubble', text: p.text },
        p.state === 'held' ? el('span', { class: 'review-tag', text: '审核中 In review' }) : null),
      el('div', { class: 'meta' },
        el('span', { class: p.state === 'failed' || p.state === 'rejected' ? 'error' : '', text: labels[p.state] }),
        retryable ? el('button', { type: 'button', class: 'link', text: '重试 Retry', onclick: retry }) : null,
        p.state === 'rejected' && canAppeal(p.item_id)
          ? el('button', { type: 'button', class: 'link', text: '申诉 Appeal', onclick: () => appealDecision(p.item_id) }) : null,
        p.state === 'rejected' && state.appealed.has(p.item_id)
          ? el('span', { class: 'review-tag', text: '已申诉 Appealed' }) : null,
        ['failed', 'rejected'].includes(p.state) ? el('button', { type: 'button', class: 'link', text: '删除 Discard', onclick: () => discardPending(c, p) }) : null));
  }

  function pendingPhotoItem(c, p) {
    const link = (text, onclick) => el('button', { type: 'button', class: 'link', text, onclick });
    const discard = link('删除 Discard', () => discardPending(c, p));
    let status;
    let actions = [];
    switch (p.state) {
      case 'uploading':
        status = '上传中 uploading…';
        break;
      case 'sending':
        status = '发送中 sending…';
        break;
      case 'waiting':
        status = '等待连接 waiting for connection…';
        actions = [link('重试 Retry', () => sendPhoto(c, p))];
        break;
      case 'held':
        status = '审核中：通过后才会发送给对方 In review: sent once a moderator approves it';
        break;
      case 'rejected':
        status = '未通过审核，未发送 Rejected by moderation, not sent' + (p.error && p.error.message ? ': ' + p.error.message : '');
        actions = [canAppeal(p.item_id) ? link('申诉 Appeal', () => appealDecision(p.item_id))
          : state.appealed.has(p.item_id) ? el('span', { class: 'review-tag', text: '已申诉 Appealed' }) : null, discard];
        break;
      case 'consent':
        status = '发送图片需要“相册”权限 Sending a photo needs the photo album permission';
        actions = [
          el('button', { type: 'button', class: 'primary small-btn', text: '允许并发送 Allow and send',
            onclick: () => grantAndSendPhoto(c, p) }),
          discard,
        ];
        break;
      default:
        status = '发送失败 failed: ' + errorText(p.error);
        actions = [isTransient(p.error) ? link('重试 Retry', () => sendPhoto(c, p)) : null, discard];
    }
    // A file the server does not take as a picture is not drawn as a broken one.
    const notImage = p.state === 'failed' && p.error &&
      ['unsupported_media', 'media_type_mismatch', 'invalid_media'].includes(p.error.code);
    const picture = notImage ? photoPlaceholder(ONLY_IMAGES_TEXT)
      : p.localUrl || p.media_id ? photoView(p.media_id, p.localUrl) : null;
    return el('li', { class: 'msg mine pending photo ' + p.state },
      el('div', { class: 'bubble photo-bubble' }, picture,
        p.state === 'held' ? el('span', { class: 'review-tag', text: '审核中 In review' }) : null,
        p.state === 'rejected' ? el('span', { class: 'review-tag rejected', text: '未通过 Rejected' }) : null),
      el('div', { class: 'meta' + (p.state === 'consent' ? ' consent' : '') },
        el('span', { class: p.state === 'failed' || p.state === 'rejected' ? 'error' : '', text: status }), ...actions));
  }

  function renderSettings() {
    if (!state.settingsOpen) return;
    const cs = state.consents;
    $('policy-version').textContent = (cs && cs.policy_version) || state.policyVersion || '…';
    renderAccount();
    renderWards();
    renderConsents(cs);
    renderHistory(cs);
  }

  function renderConsents(cs) {
    const list = $('consent-list');
    const note = $('policy-changed-note');
    const live = $('consent-live');
    if (!cs) {
      note.hidden = true;
      live.hidden = true;
      $('legal-status').hidden = true;
      const err = state.consentsError;
      list.replaceChildren(el('li', { class: 'small ' + (err ? 'error' : 'muted') },
        err ? errorText(err) + ' ' : '加载中 Loading…',
        err ? el('button', { type: 'button', class: 'link', text: '重试 Retry', onclick: loadConsents }) : null));
      return;
    }
    // Re-rendering replaces the switches; keep the keyboard where it was.
    const focused = document.activeElement && list.contains(document.activeElement)
      ? document.activeElement.getAttribute('data-permission') : null;
    const current = new Map((cs.current || []).map((c) => [c.permission, c]));
    const latest = latestRecords(cs.history);
    // The agreement and the policy are not switches: only the device permissions are listed.
    list.replaceChildren(...PERMISSIONS.map((p) =>
      consentItem(p, current.get(p.id), latest.get(p.id), cs.policy_version)));
    renderLegalStatus(cs);
    if (focused) {
      const again = list.querySelector(`input[data-permission="${focused}"]`);
      if (again) again.focus();
    }

    const stale = (cs.current || []).filter((c) => c.needs_acceptance && !isDocument(c.permission)).length;
    note.hidden = !stale;
    note.textContent = `隐私政策已更新至版本 ${cs.policy_version}：${stale} 项权限需要您重新同意后才会生效。 ` +
      `The privacy policy changed (version ${cs.policy_version}): ${stale} permission(s) must be ` +
      'accepted again before they count.';

    const remote = state.lastRemoteChange;
    live.hidden = !remote;
    if (remote) {
      const r = remote.record;
      live.textContent = `其他设备刚刚更改 Changed on another device (${fmtTime(remote.at)}): ` +
        `${permissionInfo(r.permission).label} ` +
        (isDocument(r.permission) ? '已同意 accepted' : r.granted ? '已授权 granted' : '已撤回 withdrawn') + ` · ${r.device}`;
    }
  }

  function consentItem(p, cur, latest, policyVersion) {
    cur = cur || { granted: false, needs_acceptance: false };
    const busy = state.consentBusy.has(p.id);
    const on = busy ? state.consentBusy.get(p.id) : !!cur.granted;
    const purpose = (latest && latest.receipt && latest.receipt.claims && latest.receipt.claims.purpose) || p.purpose;
    let status;
    let cls = 'muted';
    if (busy) {
      status = on ? '授权中 Granting…' : '撤回中 Withdrawing…';
    } else if (cur.granted) {
      status = '已授权 Granted · ' + fmtTime(cur.since) + ' · v' + cur.policy_version;
      cls = 'ok';
    } else if (cur.needs_acceptance) {
      status = `隐私政策已更新（版本 ${policyVersion}），需重新同意 Privacy policy changed (version ${policyVersion}): ` +
        `accept again · 原同意于版本 granted under v${cur.policy_version}`;
      cls = 'attention';
    } else if (latest && !latest.granted) {
      status = '已撤回 Withdrawn · ' + fmtTime(latest.at);
    } else {
      status = '未授权 Not granted';
    }
    const toggle = el('input', {
      type: 'checkbox',
      role: 'switch',
      class: 'switch',
      checked: on,
      disabled: busy,
      'data-permission': p.id,
      'aria-label': p.label,
      onchange: (e) => setConsent(p.id, e.target.checked),
    });
    return el('li', { class: 'consent-item' + (cur.needs_acceptance ? ' needs-acceptance' : '') },
      el('div', { class: 'consent-main' },
        el('div', { class: 'consent-name', text: p.label }),
        el('div', { class: 'small muted', text: purpose }),
        el('div', { class: 'small ' + cls, text: status })),
      el('label', { class: 'switch-label' },
        toggle,
        el('span', { class: 'small', text: on ? '开 On' : '关 Off' })));
  }

  function renderHistory(cs) {
    const records = cs ? cs.history.slice().reverse() : []; // newest first
    $('history-count').textContent = String(records.length);
    $('history-empty').hidden = !cs || records.length > 0;
    // A long ledger is only built while the list is unfolded.
    if (!$('history-panel').open) {
      $('history-list').replaceChildren();
      return;
    }
    $('history-list').replaceChildren(...records.map(historyItem));
  }

  function historyItem(r) {
    const open = state.openReceipts.has(r.id);
    const toggle = () => {
      if (open) state.openReceipts.delete(r.id);
      else state.openReceipts.add(r.id);
      schedule('settings');
    };
    return el('li', { class: 'history-item' },
      el('div', { class: 'history-line' },
        el('strong', { text: permissionInfo(r.permission).label }),
        el('span', {
          class: 'tag ' + (r.granted ? 'granted' : 'withdrawn'),
          text: isDocument(r.permission) && r.granted ? '同意 accepted' : r.granted ? '授权 granted' : '撤回 withdrawn',
        }),
        el('time', { class: 'history-time muted small', text: fmtFull(r.at) })),
      el('div', { class: 'small muted', text: `设备 device: ${r.device || '—'} · 政策版本 policy v${r.policy_version}` +
        (r.actor && r.actor !== 'user' ? ` · ${r.actor}` : '') }),
      el('button', {
        type: 'button',
        class: 'link small',
        'aria-expanded': open ? 'true' : 'false',
        text: (open ? '▾' : '▸') + ' 回执 Receipt',
        onclick: toggle,
      }),
      open ? receiptPanel(r) : null);
  }

  function receiptPanel(r) {
    const receipt = r.receipt;
    if (!receipt || !receipt.jws) return el('p', { class: 'small muted', text: '无回执 No receipt' });
    const header = jwsHeader(receipt.jws);
    const box = el('textarea', { class: 'jws', rows: 3, readonly: true, spellcheck: 'false', 'aria-label': 'JWS', text: receipt.jws });
    const copyBtn = el('button', { type: 'button', class: 'secondary small-btn', text: '复制 Copy' });
    copyBtn.addEventListener('click', async () => {
      const ok = await copyText(receipt.jws, box);
      copyBtn.textContent = ok ? '已复制 Copied' : '请手动复制 Copy by hand';
      setTimeout(() => { copyBtn.textContent = '复制 Copy'; }, 2000);
    });
    const name = 'duoxie-receipt-' + ((receipt.claims && receipt.claims.receipt_id) || r.id) + '.jws';
    const verdict = state.verdicts.get(r.id);
    const view = verdict ? verdictView(verdict) : null;
    return el('div', { class: 'receipt' },
      el('pre', { class: 'claims', text: JSON.stringify(receipt.claims, null, 2) }),
      header ? el('div', { class: 'small muted', text: `JWS · alg ${header.alg} · kid ${header.kid}` }) : null,
      box,
      el('div', { class: 'receipt-actions' },
        copyBtn,
        el('button', {
          type: 'button',
          class: 'secondary small-btn',
          text: '下载 Download',
          onclick: () => downloadFile(name, receipt.jws, 'application/jose'),
        }),
        el('button', {
          type: 'button',
          class: 'secondary small-btn',
          text: '验证 Verify',
          disabled: !!(verdict && verdict.pending),
          onclick: () => verifyRecord(r),
        }),
        view ? el('span', { class: 'small verdict ' + view.cls, role: 'status', text: view.text }) : null));
  }

  function renderSellers() {
    const users = state.sellers.filter((u) => u.id !== meId());
    $('seller-list').replaceChildren(...users.map((u) => {
      const online = presenceOf(u.id).online;
      return el('li', { class: 'user-item' },
        el('span', { class: 'dot' + (online ? ' online' : '') }),
        el('div', { class: 'user-main' },
          el('div', {},
            el('span', { class: 'user-name', text: u.nickname }),
            el('span', { class: 'muted small', text: ' #' + u.id })),
          u.intro ? el('div', { class: 'muted small clip', text: u.intro }) : null,
          el('div', { class: 'muted small', text: presenceText(u.id) })),
        el('button', {
          type: 'button',
          class: 'secondary small-btn',
          text: '聊天 Chat',
          onclick: () => openChatWith(u.id).catch(showAppError),
        }));
    }));
    $('seller-empty').hidden = users.length > 0;
  }

  async function loadSellers() {
    try {
      const res = await api('GET', '/api/users?role=seller&limit=50');
      state.sellers = res.users || [];
      for (const u of state.sellers) {
        if (!state.presence.has(u.id)) setPresence(u.id, false, u.last_seen_at);
      }
      renderSellers();
      queryPresence(state.sellers.map((u) => u.id));
    } catch (err) {
      if (err.code !== 'unauthorized') showAppError(err);
    }
  }

  async function loadSessions() {
    const list = $('session-list');
    try {
      const res = await api('GET', '/api/me/sessions');
      list.replaceChildren(...(res.sessions || []).map((s) => el('li', { class: 'session-item' },
        el('div', { class: 'session-main' },
          el('div', {},
            el('strong', { text: s.device || '未知设备 unknown device' }),
            s.current ? el('span', { class: 'tag', text: '本机 this device' }) : null),
          el('div', { class: 'muted small', text: '登录 signed in ' + fmtTime(s.created_at) + ' · 活动 last used ' + fmtTime(s.last_used_at) }),
          el('div', { class: 'muted small', text: '过期 expires ' + fmtTime(s.expires_at) })),
        el('button', {
          type: 'button',
          class: 'secondary small-btn danger',
          text: '注销 Revoke',
          onclick: () => revokeSession(s),
        }))));
    } catch (err) {
      if (err.code !== 'unauthorized') showAppError(err);
    }
  }

  async function revokeSession(s) {
    const what = s.current ? '退出本机？ Log out this device?' : `注销 “${s.device}”？ Revoke this session?`;
    if (!window.confirm(what)) return;
    try {
      await api('DELETE', '/api/me/sessions/' + encodeURIComponent(s.id));
      if (s.current) logoutLocal();
      else loadSessions();
    } catch (err) {
      if (err.code !== 'unauthorized') showAppError(err);
    }
  }

  let appErrorTimer = null;
  function showAppError(err) {
    noteError(err);
    const node = $('app-error');
    node.textContent = errorText(err);
    node.hidden = false;
    clearTimeout(appErrorTimer);
    appErrorTimer = setTimeout(() => { node.hidden = true; }, 8000);
  }

  function showConvError(err) {
    noteError(err);
    $('conv-error').textContent = errorText(err);
    $('conv-error').hidden = false;
  }

  function hideConvError() {
    $('conv-error').hidden = true;
  }

  // ---------------------------------------------------------------- session lifecycle

  function showLogin(message) {
    $('app-view').hidden = true;
    $('login-view').hidden = false;
    document.body.classList.remove('conv-open', 'settings-open', 'overlay-open');
    $('standing-overlay').hidden = true;
    document.title = '多些 Duoxie';
    setLoginError(message ? { message } : null);
    loadLoginPolicy();
  }

  function setLoginError(err) {
    $('login-error').hidden = !err;
    $('login-error').textContent = err ? errorText(err) : '';
  }

  // notice: something the user must read (the account deletion), not a passing status.
  function setLoginInfo(text, notice) {
    $('login-info').hidden = !text;
    $('login-info').textContent = text || '';
    $('login-info').classList.toggle('notice', !!(text && notice));
  }

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  function startSession(token, me) {
    if (state.socket) state.socket.stop();
    resetState();
    state.token = token;
    state.me = me;
    tokenStore.set(token);

    $('login-view').hidden = true;
    $('app-view').hidden = false;
    setLoginError(null);
    setLoginInfo(null);
    $('dev-code-note').hidden = true;
    // The next login page asks again (the box is never ticked in advance).
    $('policy-agree').checked = false;
    $('policy-agree-row').classList.remove('attention');
    $('profile-msg').hidden = true;
    $('session-list').replaceChildren();
    // A login ends any deletion this browser asked for (the server cancels it).
    deletionStore.clear();
    $('app-notice').hidden = true;
    $('settings-error').hidden = true;
    $('export-msg').hidden = true;
    $('deletion-confirm').value = '';
    $('deletion-btn').disabled = true;
    $('receipt-verify-input').value = '';
    $('receipt-verify-result').textContent = '';
    $('history-panel').open = false;
    $('phone-new').value = '';
    resetPhoneForms();
    $('wards-msg').hidden = true;
    $('guardian-phone').value = '';
    $('age-birth-date').value = '';
    $('age-bracket').value = '';
    resetGuardianForms();
    renderProfile();
    renderStanding();
    applyMeMute(me);
    // 'settings' also repaints the policy banner: hidden until this account's ledger is read.
    schedule('convs', 'pane', 'messages', 'sellers', 'settings');

    const socket = new Socket(wsUrl(), token);
    state.socket = socket;
    bindSocket(socket);
    socket.start();
    loadSellers();
    // The policy banner's ledger (session.ready reads it again on every connection).
    loadConsents();
    if ($('sessions-panel').open) loadSessions();
  }

  // Forgets the login in this tab, and in the others through the storage event.
  function logoutLocal(message) {
    if (state.socket) state.socket.stop();
    if (state.token && tokenStore.get() === state.token) tokenStore.clear();
    resetState();
    showLogin(message);
  }

  async function logout() {
    // Stop first so the server's 4001 for this very socket is not reported as an error.
    if (state.socket) state.socket.stop();
    try {
      await api('POST', '/api/auth/logout');
    } catch (_) {
      // Even if the server cannot be reached, this browser forgets the token.
    }
    logoutLocal();
  }

  // Resumes a stored login; keeps retrying while the server is unreachable.
  async function resume(token, attempt = 0) {
    state.token = token;
    try {
      const me = await api('GET', '/api/me');
      if (state.token !== token) return;
      startSession(token, me);
    } catch (err) {
      if (state.token !== token) return;
      if (err.code === 'unauthorized' || err.status === 401) {
        tokenStore.clear();
        state.token = null;
        showLogin('登录已失效，请重新登录 Session ended, please log in again');
        return;
      }
      showLogin();
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
      setLoginInfo(`${errorText(err)} — ${Math.ceil(delay / 1000)} s 后重试 retrying`);
      setTimeout(() => {
        if (state.token === token && !state.me) resume(token, attempt + 1);
      }, delay);
    }
  }

  // ---------------------------------------------------------------- wiring

  function busy(button, fn) {
    return async (...args) => {
      if (button.disabled) return;
      button.disabled = true;
      try { await fn(...args); } finally { button.disabled = false; }
    };
  }

  function wireLogin() {
    const showTab = (password) => {
      $('tab-code').classList.toggle('active', !password);
      $('tab-password').classList.toggle('active', password);
      $('code-form').hidden = password;
      $('password-form').hidden = !password;
      setLoginError(null);
    };
    $('tab-code').addEventListener('click', () => showTab(false));
    $('tab-password').addEventListener('click', () => showTab(true));

    const sendBtn = $('send-code-btn');
    const cooldown = cooldownButton(sendBtn);
    pairAgeInputs($('code-birth-date'), $('code-age-bracket'));

    sendBtn.addEventListener('click', busy(sendBtn, async () => {
      setLoginError(null);
      setLoginInfo(null);
      $('dev-code-note').hidden = true;
      const phone = normalizePhone($('code-phone').value);
      if (!phone) {
        setLoginError({ message: '请输入手机号 Enter your phone number' });
        return;
      }
      try {
        const res = await api('POST', '/api/auth/code', { phone });
        const minutes = res.expires_in_ms ? Math.round(res.expires_in_ms / 60000) : null;
        setLoginInfo('验证码已发送 Code sent' + (minutes ? ` (${minutes} min)` : ''));
        if (res.dev_code) {
          $('code-code').value = res.dev_code;
          $('dev-code-note').hidden = false;
        }
        $('code-code').focus();
      } catch (err) {
        setLoginError(err);
        if (err.retry_after_ms) setTimeout(() => cooldown(err.retry_after_ms), 0);
      }
    }));

    $('policy-agree').addEventListener('change', () => {
      if (!$('policy-agree').checked) return;
      $('policy-agree-row').classList.remove('attention');
      if ($('login-error').textContent === POLICY_HINT_FULL) setLoginError(null);
    });
    $('policy-retry-btn').addEventListener('click', loadLoginPolicy);

    const codeForm = $('code-form');
    const codeSubmit = codeForm.querySelector('button[type=submit]');
    codeForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(codeSubmit, async () => {
        setLoginError(null);
        // Nothing is sent before the box is ticked and the version in force is known.
        if (!policyAgreed()) return;
        const phone = normalizePhone($('code-phone').value);
        const code = $('code-code').value.trim();
        if (!code) {
          setLoginError({ message: '请输入验证码 Enter the code' });
          return;
        }
        // Registration records the age; the server ignores it for an account that declared one.
        const age = readAge($('code-birth-date'), $('code-age-bracket'));
        if (age.error) {
          setLoginError(age.error);
          $('code-birth-date').focus();
          return;
        }
        try {
          // A code login may register: it carries the acceptance of the version shown.
          const res = await api('POST', '/api/auth/login', Object.assign(
            { phone, code, device: deviceLabel(), accepted_policy_version: legal.version }, age.value));
          $('code-code').value = '';
          $('code-birth-date').value = '';
          $('code-age-bracket').value = '';
          startSession(res.token, res.user);
          if (res.deletion_cancelled) showDeletionCancelled();
        } catch (err) {
          onLoginRefused(err);
        }
      })().then(renderLoginPolicy);
    });

    const pwForm = $('password-form');
    const pwSubmit = pwForm.querySelector('button[type=submit]');
    pwForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(pwSubmit, async () => {
        setLoginError(null);
        if (!policyAgreed()) return;
        const phone = normalizePhone($('pw-phone').value);
        const password = $('pw-password').value;
        const accepted = legal.version;
        try {
          // The server asks nothing of a password login; the box ticked for this version is
          // recorded after it if the account has not accepted that version yet.
          const res = await api('POST', '/api/auth/login', { phone, password, device: deviceLabel() });
          $('pw-password').value = '';
          startSession(res.token, res.user);
          state.loginAccepted = accepted;
          if (res.deletion_cancelled) showDeletionCancelled();
        } catch (err) {
          onLoginRefused(err);
        }
      })().then(renderLoginPolicy);
    });
  }

  // The login page's agreement box: ticked, and the version in force known. Otherwise says why.
  function policyAgreed() {
    if (!legal.version) {
      renderLoginPolicy();
      setLoginError({ message: '《用户协议》和《隐私政策》尚未加载，暂时不能登录 ' +
        'The User Agreement and the Privacy Policy are not loaded yet: you cannot log in yet' });
      return false;
    }
    if ($('policy-agree').checked) return true;
    askToAgree();
    return false;
  }

  function askToAgree() {
    setLoginError({ code: 'policy_not_accepted' });
    $('policy-agree-row').classList.remove('attention');
    void $('policy-agree-row').offsetWidth; // restarts the highlight
    $('policy-agree-row').classList.add('attention');
    $('policy-agree').focus();
  }

  function onLoginRefused(err) {
    if (err.code !== 'policy_not_accepted') {
      setLoginError(err);
      return;
    }
    // A version published since the page loaded (or none sent): read and tick again.
    $('policy-agree').checked = false;
    askToAgree();
    loadLoginPolicy();
  }

  function showDeletionCancelled() {
    showAppNotice('已取消注销：此次登录撤销了您账号的注销申请。 ' +
      'Your pending account deletion was cancelled by this login.');
  }

  function profileMessage(text, isError) {
    const node = $('profile-msg');
    node.textContent = text;
    node.className = 'small ' + (isError ? 'error' : 'ok');
    node.hidden = false;
  }

  function wireApp() {
    $('logout-btn').addEventListener('click', logout);
    $('conn-status').addEventListener('click', () => { if (state.socket) state.socket.reconnectNow(); });

    const profileForm = $('profile-form');
    profileForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(profileForm.querySelector('button[type=submit]'), async () => {
        const nickname = $('profile-nickname').value.trim();
        const intro = $('profile-intro').value.trim();
        // Only what changed: every field sent is screened again.
        const body = {};
        if (state.me && nickname !== (state.me.nickname || '')) body.nickname = nickname;
        // null is the protocol's way to clear intro.
        if (state.me && intro !== (state.me.intro || '')) body.intro = intro || null;
        if (!Object.keys(body).length) {
          profileMessage('没有改动 Nothing changed', false);
          return;
        }
        try {
          const me = await api('PATCH', '/api/me', body);
          const held = me.pending_review || [];
          delete me.pending_review;
          state.me = Object.assign({}, me, { standing: me.standing || (state.me && state.me.standing) });
          for (const field of Object.keys(body)) {
            if (held.includes(field)) state.pendingReview[field] = body[field] || '';
            else delete state.pendingReview[field];
          }
          renderProfile();
          if (held.length) {
            const names = held.map((f) => (PROFILE_FIELD[f] ? PROFILE_FIELD[f].zh : f)).join('、');
            const en = held.map((f) => (PROFILE_FIELD[f] ? PROFILE_FIELD[f].en : f)).join(' and ');
            profileMessage(`已提交。新的${names}正在审核中，通过后才会显示，在此之前保持原样。 ` +
              `Sent. Your new ${en} is under review: it shows once a moderator approves it, the old one stays until then.`, false);
          } else {
            profileMessage('已保存 Saved', false);
          }
        } catch (err) {
          if (isRestriction(err)) noteRestriction(err);
          profileMessage(errorText(err), true);
        }
      })();
    });

    const pwForm = $('password-set-form');
    pwForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(pwForm.querySelector('button[type=submit]'), async () => {
        const body = { password: $('new-password').value };
        if (state.me && state.me.has_password) body.current_password = $('current-password').value;
        try {
          await api('POST', '/api/me/password', body);
          $('new-password').value = '';
          $('current-password').value = '';
          if (state.me) state.me.has_password = true;
          renderProfile();
          profileMessage('密码已保存 Password saved', false);
        } catch (err) {
          profileMessage(errorText(err), true);
        }
      })();
    });

    $('conv-more-btn').addEventListener('click', loadMoreConversations);

    const openForm = $('open-form');
    openForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(openForm.querySelector('button[type=submit]'), async () => {
        const peerId = Number($('open-user-id').value);
        const listing = $('open-listing').value.trim();
        if (!Number.isInteger(peerId) || peerId <= 0) {
          showAppError({ message: '请输入用户 ID Enter a user id' });
          return;
        }
        try {
          await openChatWith(peerId, listing || undefined);
          $('open-user-id').value = '';
          $('open-listing').value = '';
        } catch (err) {
          showAppError(err);
        }
      })();
    });

    $('sellers-refresh').addEventListener('click', loadSellers);
    $('sessions-refresh').addEventListener('click', loadSessions);
    $('sessions-panel').addEventListener('toggle', () => {
      if ($('sessions-panel').open) loadSessions();
    });

    $('settings-btn').addEventListener('click', () => {
      if (state.settingsOpen) closeSettings();
      else openSettings();
    });
    $('profile-settings-btn').addEventListener('click', openSettings);
    $('settings-close').addEventListener('click', closeSettings);
    $('app-notice-close').addEventListener('click', () => { $('app-notice').hidden = true; });
    $('policy-accept-btn').addEventListener('click', () => { acceptDocuments(); });
    $('app-notice-action').addEventListener('click', () => {
      const action = noticeAction;
      $('app-notice').hidden = true;
      if (action) action.onclick();
    });

    // Age declaration and guardian consent (the overlay), the banner that stays behind it.
    pairAgeInputs($('age-birth-date'), $('age-bracket'));
    $('standing-banner-btn').addEventListener('click', openStandingPanel);
    $('account-standing-btn').addEventListener('click', openStandingPanel);
    $('standing-dismiss-x').addEventListener('click', dismissStandingPanel);
    for (const b of document.querySelectorAll('.standing-later')) b.addEventListener('click', dismissStandingPanel);
    $('standing-overlay').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') dismissStandingPanel();
    });
    const ageForm = $('age-form');
    ageForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('age-submit'), declareAge)();
    });
    guardianCooldown = cooldownButton($('guardian-send-btn'));
    $('guardian-code-form').addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('guardian-send-btn'), requestGuardianCode)();
    });
    $('guardian-verify-form').addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('guardian-verify-btn'), verifyGuardian)();
    });

    // Phone number rebinding.
    phoneCooldown = cooldownButton($('phone-send-btn'));
    $('phone-form').addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('phone-send-btn'), requestPhoneCodes)();
    });
    $('phone-verify-form').addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('phone-confirm-btn'), confirmPhoneChange)();
    });
    $('phone-cancel-btn').addEventListener('click', () => resetPhoneForms());
    $('history-panel').addEventListener('toggle', () => schedule('settings'));

    const verifyForm = $('receipt-verify-form');
    verifyForm.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(verifyForm.querySelector('button[type=submit]'), async () => {
        const out = $('receipt-verify-result');
        const jws = $('receipt-verify-input').value.replace(/\s/g, '');
        if (!jws) {
          out.className = 'small verdict error';
          out.textContent = '请粘贴回执 Paste a receipt (JWS)';
          return;
        }
        let view;
        let claims = null;
        try {
          const verdict = await verifyReceipt(jws);
          claims = verdict.claims;
          view = verdictView(Object.assign({ checked_at: Date.now() }, verdict));
        } catch (err) {
          if (err.code === 'unauthorized') return;
          view = verdictView({ error: err });
        }
        out.className = 'small verdict ' + view.cls;
        out.textContent = view.text + (claims
          ? ` — ${permissionInfo(claims.permission).label} ${claims.action} ${fmtFull(claims.consent_timestamp)} · v${claims.policy_version}`
          : '');
      })();
    });

    const exportBtn = $('export-btn');
    exportBtn.addEventListener('click', busy(exportBtn, exportData));

    $('deletion-confirm').addEventListener('input', () => {
      $('deletion-btn').disabled = !deletionConfirmed();
    });
    $('deletion-form').addEventListener('submit', (e) => {
      e.preventDefault();
      busy($('deletion-btn'), requestDeletion)();
    });

    $('back-btn').addEventListener('click', closeConv);
    $('older-btn').addEventListener('click', loadOlder);
    $('block-btn').addEventListener('click', toggleBlock);
    $('peer-profile-btn').addEventListener('click', togglePeerProfile);
    $('peer-profile-close').addEventListener('click', togglePeerProfile);
    $('report-user-btn').addEventListener('click', () => {
      const c = activeConv();
      if (c) reportUser(c.info.peer.id, c.info.peer.nickname);
    });
    $('photo-btn').addEventListener('click', pickPhoto);
    $('photo-input').addEventListener('change', onPhotoPicked);
    $('messages').addEventListener('scroll', () => {
      const box = $('messages');
      state.stickToBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    }, { passive: true });
    $('lightbox').addEventListener('click', (e) => {
      if (e.target.id !== 'lightbox-img') closeLightbox();
    });
    $('lightbox').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') closeLightbox();
    });

    const composer = $('composer');
    const box = $('composer-text');
    composer.addEventListener('submit', (e) => {
      e.preventDefault();
      submitComposer();
    });
    box.addEventListener('keydown', (e) => {
      // Enter while an IME (pinyin) is composing picks a candidate; it must not send.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitComposer();
      }
    });
    box.addEventListener('input', () => {
      if (box.value.trim()) sendTyping();
    });
  }

  function wireWindow() {
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') markRead();
    });
    window.addEventListener('focus', markRead);
    window.addEventListener('online', () => { if (state.socket) state.socket.reconnectNow(); });
    // Another tab logged in or out: follow it so all tabs show the same account.
    window.addEventListener('storage', (e) => {
      if (e.key === DELETION_KEY) {
        // The tab that asked for the deletion knows the date; one already logged out by 4003 not.
        if (e.newValue && !state.token && !$('login-view').hidden) setLoginInfo(deletionText(Number(e.newValue)), true);
        return;
      }
      if (e.key !== TOKEN_KEY) return;
      if (!e.newValue) {
        if (state.deleting) return; // requestDeletion reports it when the server answers
        const due = deletionStore.get();
        if (!state.token) return;
        if (due) logoutDeleted(due);
        else logoutLocal('已在其他标签页退出 Logged out in another tab');
      } else if (e.newValue !== state.token) {
        if (state.socket) state.socket.stop();
        resetState();
        resume(e.newValue);
      }
    });
  }

  function boot() {
    wireLegal();
    wireFormDialogs();
    wireLogin();
    wireApp();
    wireWindow();
    const token = tokenStore.get();
    if (token) resume(token);
    else showLogin();
  }

  boot();
})();
