// Duoxie moderation console. Plain script, no build step; the contract is docs/protocol.md
// (mod.* commands and events) and docs/moderation.md. Stands alone: nothing is shared with
// app.js except the stored login (the same localStorage key, so both share one device session).
'use strict';

(() => {
  const TOKEN_KEY = 'duoxie.token'; // the key app.js stores its token under
  const WS_PROTOCOL = 'duoxie.v1';
  const RECONNECT_BASE_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const STABLE_CONNECTION_MS = 10000;
  const REQUEST_TIMEOUT_MS = 15000;
  // Videos up to this size load by themselves; larger ones wait for a click.
  const AUTO_VIDEO_BYTES = 20 * 1024 * 1024;
  const LEASE_LOW_MS = 60000;
  const ACTED_KEEP = 20;
  // Only these same-origin paths ever get the bearer token attached (never a URL from elsewhere).
  const MEDIA_PATH = /^\/api\/media\/[0-9A-Za-z_-]+(\/content)?(\?size=\d+)?$/;

  // Every label the operators see is Chinese (zh-CN); unknown server codes are shown as sent.
  const KIND_LABELS = {
    nickname: '昵称',
    intro: '简介',
    media: '图片',
    report_message: '举报消息',
    report_user: '举报用户',
    report_media: '举报图片',
    chat_text: '聊天文字',
    appeal: '申诉',
  };
  // A report's kind of wrong (ModItem.category, set by report.create), in filter order.
  const CATEGORIES = [
    ['fake_goods', '假货'],
    ['fraud', '诈骗'],
    ['harassment', '骚扰'],
    ['off_platform', '站外交易'],
    ['other', '其他'],
  ];
  const CATEGORY_LABELS = Object.fromEntries(CATEGORIES);
  // The finding "contact: <kind>" of the contact-details rule (src/moderation/policy.rs).
  const CONTACT_LABELS = {
    wechat: '微信',
    phone: '手机号',
    'phone number': '手机号',
    mobile: '手机号',
    qq: 'QQ',
    link: '链接',
    url: '链接',
  };
  const ROLE_LABELS = {
    buyer: '买家',
    seller: '卖家',
    appraiser: '鉴定师',
    moderator: '审核员',
    admin: '管理员',
  };
  const MEDIA_PURPOSE_LABELS = {
    chat_photo: '聊天图片',
    post_photo: '商品图片',
    post_video: '商品视频',
    avatar: '头像',
    image_search: '以图搜图',
  };
  const MEDIA_SOURCE_LABELS = { camera: '拍摄', album: '相册' };
  const MEDIA_STATUS_LABELS = { approved: '已通过', in_review: '审核中', rejected: '未通过' };
  const MEDIA_ID = /^[0-9a-f]{32}$/i;
  const MEDIA_CONTENT = /^\/api\/media\/([0-9a-f]{32})\/content$/i;
  // What approve and reject mean depends on the item: for a report, approving dismisses it and
  // rejecting upholds it (the content goes); for an appeal, approving restores the original.
  const DECISION_LABELS = {
    report_message: {
      approve: '驳回举报（消息保留）',
      reject: '举报成立：删除消息',
    },
    report_user: {
      approve: '驳回举报（资料保留）',
      reject: '举报成立：重置昵称、头像和简介',
    },
    media_report: {
      approve: '驳回举报（图片保留）',
      reject: '举报成立：隐藏',
      reject_and_block: '隐藏并拉黑图片',
    },
    appeal: {
      approve: '申诉成立：恢复原内容',
      reject: '驳回申诉：维持原决定',
    },
  };
  const ACTION_LABELS = {
    approve: '通过',
    reject: '拒绝',
    reject_and_block: '拒绝并拉黑图片',
    warn: '警告',
    mute: '禁言',
    suspend: '封禁',
    lift: '解除处罚',
  };
  const NOT_AVAILABLE = '此服务器尚不支持此功能';
  // A login with a code accepts the user agreement and the privacy policy of the version in force.
  const DOC_TITLES = { user_agreement: '多些用户协议', privacy_policy: '多些隐私政策' };
  const POLICY_HINT = '请先阅读并同意《用户协议》和《隐私政策》';

  // ---------------------------------------------------------------- small helpers

  const $ = (id) => document.getElementById(id);

  // Server and user data only ever go in as text nodes or attribute values, never as markup.
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

  // 45秒, 3分20秒, 2小时05分, 3天4小时.
  function fmtDuration(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + '秒';
    const m = Math.floor(s / 60);
    if (m < 60) return m + '分' + pad2(s % 60) + '秒';
    const h = Math.floor(m / 60);
    if (h < 24) return h + '小时' + pad2(m % 60) + '分';
    return Math.floor(h / 24) + '天' + (h % 24) + '小时';
  }

  // A lease countdown: 4:05.
  function fmtClock(ms) {
    const s = Math.max(0, Math.ceil(ms / 1000));
    return Math.floor(s / 60) + ':' + pad2(s % 60);
  }

  function fmtFull(ms) {
    if (!ms) return '';
    const d = new Date(ms);
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' +
      pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  // Today: 14:03:09; earlier: 11-28 14:03.
  function fmtShort(ms) {
    if (!ms) return '';
    const full = fmtFull(ms);
    return new Date(ms).toDateString() === new Date().toDateString() ? full.slice(11) : full.slice(5, 16);
  }

  function fmtBytes(n) {
    if (!(n >= 0)) return '';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(0) + ' KB';
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  function deviceLabel() {
    const ua = navigator.userAgent || '';
    const browser =
      /Edg\//.test(ua) ? 'Edge' :
      /Firefox\//.test(ua) ? 'Firefox' :
      /Chrome\//.test(ua) ? 'Chrome' :
      /Safari\//.test(ua) ? 'Safari' : '浏览器';
    return browser + '（多些审核台）';
  }

  function normalizePhone(raw) {
    return raw.replace(/[\s-]/g, '');
  }

  // Every code of the closed list (docs/protocol.md, "Error codes"), plus the client's own.
  const ERROR_ZH = {
    bad_request: '请求格式有误',
    invalid_field: '输入有误',
    invalid_phone: '手机号无效',
    text_too_long: '文字太长',
    frame_too_large: '内容太多，无法发送',
    binary_not_supported: '不支持的数据格式',
    unknown_type: '此服务器不支持该操作',
    unauthorized: '登录已失效',
    auth_required: '请先登录',
    already_authenticated: '已登录',
    invalid_code: '验证码错误',
    code_expired: '验证码已过期，请重新获取',
    too_many_attempts: '尝试次数过多，请重新获取验证码',
    code_cooldown: '验证码发送太频繁，请稍后再试',
    invalid_credentials: '手机号或密码错误',
    forbidden: '无权操作',
    not_found: '不存在或已删除',
    blocked: '已被对方屏蔽',
    age_required: '此账号尚未填写年龄',
    guardian_required: '需要监护人同意',
    content_rejected: '内容未通过审核规则',
    muted: '此账号已被禁言',
    suspended: '此账号已被封禁',
    conflict: '状态已变化（已被他人认领或处理）',
    recall_expired: '已超过撤回时间',
    file_too_large: '文件太大',
    quota_exceeded: '存储空间已满',
    headers_too_large: '请求头过大',
    image_too_large: '图片尺寸太大',
    unsupported_media: '不支持的文件格式',
    media_type_mismatch: '文件类型与内容不符',
    invalid_media: '文件已损坏或不完整',
    invalid_receipt: '回执无效',
    consent_required: '需要用户授权',
    rate_limited: '操作太频繁，请稍后再试',
    unavailable: '服务暂时不可用，请稍后再试',
    internal: '服务器出错了，请稍后再试',
    network: '无法连接服务器',
    disconnected: '连接已断开',
    timeout: '服务器未响应',
  };

  // Codes whose Chinese says it all: the server's English message is not repeated after them.
  const ERROR_ZH_COMPLETE = new Set(['invalid_phone', 'unauthorized', 'auth_required', 'invalid_code',
    'code_expired', 'too_many_attempts', 'code_cooldown', 'invalid_credentials', 'rate_limited',
    'unavailable', 'internal', 'network', 'disconnected', 'timeout', 'muted', 'suspended']);
  const FIELD_ZH = {
    phone: '手机号', code: '验证码', reason: '原因', user_id: '用户 ID', item_id: '条目',
    duration_ms: '时长', action: '操作', decision: '处理结果', limit: '条数', category: '举报类型',
  };

  // Chinese first. Where the server's own `message` says more than the Chinese for its code
  // (which field, whose item, why it is forbidden) it follows in brackets; an unknown code is
  // shown as it came.
  function errorText(err) {
    if (!err) return '未知错误';
    if (err.code === 'policy_not_accepted') return POLICY_HINT;
    const http = /^http_(\d+)$/.exec(err.code || '');
    const zh = ERROR_ZH[err.code] || (http ? `服务器错误（HTTP ${http[1]}）` : '');
    const detail = err.message && err.message !== err.code && err.message !== zh &&
      !ERROR_ZH_COMPLETE.has(err.code) && !/^HTTP \d+$/.test(err.message) ? err.message : '';
    let text = zh ? (detail ? `${zh}（${detail}）` : zh) : (detail || err.code || String(err));
    if (err.field) text += `［${FIELD_ZH[err.field] || '字段 ' + err.field}］`;
    if (err.retry_after_ms) text += `（${Math.ceil(err.retry_after_ms / 1000)} 秒后可重试）`;
    return text;
  }

  function busy(button, fn) {
    return async (...args) => {
      if (button.disabled) return;
      button.disabled = true;
      try { await fn(...args); } finally { button.disabled = false; }
    };
  }

  // ---------------------------------------------------------------- token storage

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

  // ---------------------------------------------------------------- REST

  class ApiError extends Error {
    constructor(body, status) {
      super(body.message || body.code || 'error');
      Object.assign(this, body);
      this.status = status;
    }
  }

  async function readError(res) {
    let payload = null;
    try { payload = JSON.parse(await res.text()); } catch (_) { payload = null; }
    return new ApiError((payload && payload.error) || { code: 'http_' + res.status, message: 'HTTP ' + res.status }, res.status);
  }

  async function api(method, path, body) {
    const token = state.token;
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (_) {
      throw new ApiError({ code: 'network', message: '' }, 0);
    }
    if (!res.ok) {
      const err = await readError(res);
      if (err.code === 'unauthorized' && token && token === state.token) {
        logoutLocal('登录已失效，请重新登录');
      }
      throw err;
    }
    const text = await res.text();
    if (!text) return {};
    try { return JSON.parse(text); } catch (_) { return {}; }
  }

  // The bytes of a media path, with the bearer token (an <img src> could not send it).
  async function fetchMediaBlob(path) {
    if (!MEDIA_PATH.test(path)) throw new ApiError({ code: 'invalid_field', message: '无法识别的媒体地址 ' + path }, 0);
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: 'Bearer ' + state.token }, cache: 'no-store' });
    } catch (_) {
      throw new ApiError({ code: 'network', message: '' }, 0);
    }
    if (!res.ok) throw await readError(res);
    return res.blob();
  }

  // ---------------------------------------------------------------- WebSocket

  function wsError(code, message) {
    return { code, message };
  }

  // One logical connection that survives drops: reconnects with backoff, and fails in-flight
  // requests with code "disconnected".
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
      this.frameAuth = false; // first-frame auth when the token cannot be a subprotocol name
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
      ws.onerror = () => { /* a close event follows with the code */ };
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
            this.emit('$revoked', 4001, '');
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
      if (ev.code === 4001 || ev.code === 4003 || ev.code === 4005) {
        this.stop();
        this.emit('$revoked', ev.code, ev.reason || '');
        return;
      }
      if (everOpened && Date.now() - this.openedAt >= STABLE_CONNECTION_MS) this.attempt = 0;
      if (!everOpened) this.emit('$refused');
      this.scheduleReconnect();
    }

    scheduleReconnect() {
      if (this.stopped) return;
      const ceiling = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** this.attempt);
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
        w.reject(wsError('disconnected', ''));
      }
    }

    request(type, data = {}, { beforeReady = false, timeoutMs = REQUEST_TIMEOUT_MS } = {}) {
      return new Promise((resolve, reject) => {
        const ws = this.ws;
        if (!ws || ws.readyState !== WebSocket.OPEN || (!this.ready && !beforeReady)) {
          reject(wsError('disconnected', ''));
          return;
        }
        const id = 'c' + this.nextId++;
        const timer = setTimeout(() => {
          if (this.waiting.delete(id)) reject(wsError('timeout', ''));
        }, timeoutMs);
        this.waiting.set(id, { resolve, reject, timer });
        try {
          ws.send(JSON.stringify({ id, type, data }));
        } catch (_) {
          clearTimeout(timer);
          this.waiting.delete(id);
          reject(wsError('disconnected', ''));
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
        if (!w) return;
        this.waiting.delete(frame.re);
        clearTimeout(w.timer);
        if (frame.ok) w.resolve(frame.data || {});
        else w.reject(frame.error || wsError('internal', ''));
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
    sessionReady: false, // session.ready seen on the current connection
    subscribedConn: false, // mod.subscribe sent on the current connection
    subscribed: false, // the console view holds a queue
    forbidden: false,
    items: new Map(), // item id → ModItem (open ones only)
    decided: new Set(), // ids seen decided: a late duplicate mod.item must not bring one back
    leaseMs: null,
    syncing: false,
    resyncAgain: false,
    buffered: [], // console events that arrived while a queue snapshot was in flight
    offset: null, // estimate of server clock − local clock, from fresh server timestamps
    cards: new Map(), // item id → card refs
    drafts: new Map(), // item id → decision reason being typed
    msgs: new Map(), // item id → { text, cls }
    pending: new Set(), // item ids with a command in flight
    media: new Map(), // item id → { url, disposed }
    users: new Map(), // user id → Promise<PublicUser|null>
    actUnavailable: false,
    auditUnavailable: false,
    auditLoaded: false,
    acted: [],
    category: '', // the category filter: '' (全部) or a category code
  };

  function meId() {
    return state.me ? state.me.id : null;
  }

  // Each sample is a server time that was "now" when sent, so sample − local arrival time is
  // never above the true offset: the largest sample is the best estimate.
  function noteServerTime(serverMs) {
    if (typeof serverMs !== 'number' || !isFinite(serverMs)) return;
    const sample = serverMs - Date.now();
    if (state.offset == null || sample > state.offset) state.offset = sample;
  }

  function serverNow() {
    return Date.now() + (state.offset || 0);
  }

  function isMine(item) {
    return item.state === 'claimed' && item.claimed_by != null && item.claimed_by === meId();
  }

  // ---------------------------------------------------------------- views

  function showView(name) {
    $('login-view').hidden = name !== 'login';
    $('app-view').hidden = name === 'login';
  }

  function setLoginError(err) {
    $('login-error').hidden = !err;
    $('login-error').textContent = err ? errorText(err) : '';
  }

  function setLoginInfo(text) {
    $('login-info').hidden = !text;
    $('login-info').textContent = text || '';
  }

  function showBanner(text, info) {
    const b = $('banner');
    b.hidden = !text;
    b.textContent = text || '';
    b.classList.toggle('info-banner', !!info);
  }

  function showLogin(message) {
    showView('login');
    setLoginInfo(message || null);
    $('login-phone').focus();
    loadLoginPolicy();
  }

  // ---------------------------------------------------------------- 用户协议 and 隐私政策

  const legal = {
    version: null, // the version in force, from GET /api/legal/privacy_policy on the login page
    error: null, // that fetch failed: no login can be sent
    gen: 0,
    texts: new Map(), // "<document>@<version>" → {document, version, title, text}
    dialogGen: 0,
    returnFocus: null,
  };

  async function fetchLegal(doc, version) {
    const key = doc + '@' + (version || '');
    if (version && legal.texts.has(key)) return legal.texts.get(key);
    const res = await api('GET', '/api/legal/' + encodeURIComponent(doc) +
      (version ? '?version=' + encodeURIComponent(version) : ''));
    legal.texts.set(res.document + '@' + res.version, res);
    return res;
  }

  // Each time the login page shows: the login sends this version as accepted_policy_version.
  async function loadLoginPolicy() {
    const gen = ++legal.gen;
    legal.error = null;
    renderLoginPolicy();
    try {
      const res = await fetchLegal('privacy_policy');
      if (gen !== legal.gen) return;
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
    const submit = $('login-form').querySelector('button[type=submit]');
    submit.disabled = !ready;
    submit.title = ready ? '' : (legal.error ? '无法加载《用户协议》和《隐私政策》'
      : '正在加载《用户协议》和《隐私政策》…');
    $('policy-agree-row').dataset.version = legal.version || '';
    $('policy-agree-error').hidden = !legal.error;
    $('policy-agree-error-text').textContent = legal.error
      ? '无法加载《用户协议》和《隐私政策》，加载成功前暂时不能登录。（' + errorText(legal.error) + '）'
      : '';
  }

  function askToAgree() {
    setLoginError({ code: 'policy_not_accepted' });
    $('policy-agree-row').classList.remove('attention');
    void $('policy-agree-row').offsetWidth; // restarts the highlight
    $('policy-agree-row').classList.add('attention');
    $('policy-agree').focus();
  }

  async function openLegal(doc) {
    const box = $('legal-dialog');
    const title = DOC_TITLES[doc] || DOC_TITLES.privacy_policy;
    const version = legal.version;
    if (box.hidden) legal.returnFocus = document.activeElement;
    const gen = ++legal.dialogGen;
    $('legal-title').textContent = title;
    $('legal-version').textContent = version ? '版本 ' + version : '';
    $('legal-body').textContent = '加载中…';
    $('legal-body').scrollTop = 0;
    $('legal-error').hidden = true;
    box.dataset.doc = doc;
    box.hidden = false;
    document.body.classList.add('legal-open');
    box.querySelector('.legal-card').focus();
    try {
      const res = await fetchLegal(doc, version);
      if (gen !== legal.dialogGen || box.hidden) return;
      $('legal-title').textContent = res.title || title;
      $('legal-version').textContent = '版本 ' + res.version;
      // Verbatim, but without the blank lines some texts open with.
      $('legal-body').textContent = (res.text || '').replace(/^\s*\n/, '');
      $('legal-body').scrollTop = 0;
    } catch (err) {
      if (gen !== legal.dialogGen || box.hidden) return;
      $('legal-body').textContent = '';
      $('legal-error').replaceChildren('无法加载全文：' + errorText(err) + ' ',
        el('button', { type: 'button', class: 'link-btn', text: '重试', onclick: () => openLegal(doc) }));
      $('legal-error').hidden = false;
    }
  }

  function closeLegal() {
    const box = $('legal-dialog');
    if (!box || box.hidden) return;
    legal.dialogGen += 1;
    box.hidden = true;
    document.body.classList.remove('legal-open');
    const back = legal.returnFocus;
    legal.returnFocus = null;
    if (back && document.contains(back) && typeof back.focus === 'function') back.focus();
  }

  function wireLegal() {
    document.addEventListener('click', (e) => {
      const link = e.target.closest && e.target.closest('.legal-link');
      if (!link) return;
      e.preventDefault();
      openLegal(link.dataset.doc);
    });
    $('legal-close').addEventListener('click', closeLegal);
    $('legal-dialog').addEventListener('click', (e) => {
      if (e.target === $('legal-dialog')) closeLegal();
    });
    // The keyboard stays in the dialog; Escape closes it.
    $('legal-dialog').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        closeLegal();
        return;
      }
      if (e.key !== 'Tab') return;
      const stops = [...$('legal-dialog').querySelectorAll('button, [tabindex="0"]')]
        .filter((n) => !n.disabled && n.getClientRects().length);
      if (!stops.length) return;
      const first = stops[0];
      const last = stops[stops.length - 1];
      const at = document.activeElement;
      if (e.shiftKey && (at === first || at === $('legal-dialog').querySelector('.legal-card'))) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && at === last) {
        e.preventDefault();
        first.focus();
      }
    });
    $('policy-agree').addEventListener('change', () => {
      if (!$('policy-agree').checked) return;
      $('policy-agree-row').classList.remove('attention');
      if ($('login-error').textContent === POLICY_HINT) setLoginError(null);
    });
    $('policy-retry-btn').addEventListener('click', loadLoginPolicy);
  }

  let flashTimer = null;
  function flash(text, isError) {
    const f = $('queue-flash');
    f.textContent = text;
    f.hidden = false;
    f.classList.toggle('error', !!isError);
    f.classList.toggle('ok', !isError);
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { f.hidden = true; }, 8000);
  }

  // The status keeps its words at every width (the dot is drawn by CSS, .conn::before).
  function setConn(kind, delay) {
    const c = $('conn-status');
    c.classList.toggle('open', kind === 'open');
    c.classList.toggle('down', kind === 'waiting');
    c.classList.toggle('idle', kind !== 'open' && kind !== 'connecting' && kind !== 'waiting');
    c.dataset.state = kind;
    if (kind === 'open') {
      c.textContent = '已连接';
      c.title = '实时连接正常';
    } else if (kind === 'connecting') {
      c.textContent = '连接中…';
      c.title = '正在连接服务器';
    } else if (kind === 'waiting') {
      c.textContent = '重新连接中…';
      c.title = `连接已断开，${Math.ceil(delay / 1000)} 秒后自动重连；点击立即重连`;
    } else {
      c.textContent = kind;
      c.title = '';
    }
    const stale = kind !== 'open' && state.subscribed;
    $('queue-stale').hidden = !stale;
    $('queue').classList.toggle('stale', stale);
  }

  // ---------------------------------------------------------------- session

  function wsUrl() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  function resetState() {
    for (const id of [...state.media.keys()]) disposeMedia(id);
    state.me = null;
    state.sessionReady = false;
    state.subscribedConn = false;
    state.subscribed = false;
    state.forbidden = false;
    state.items = new Map();
    state.decided = new Set();
    state.leaseMs = null;
    state.syncing = false;
    state.resyncAgain = false;
    state.buffered = [];
    state.offset = null;
    state.cards = new Map();
    state.drafts = new Map();
    state.msgs = new Map();
    state.pending = new Set();
    state.users = new Map();
    state.actUnavailable = false;
    state.auditUnavailable = false;
    state.auditLoaded = false;
    state.acted = [];
    $('queue').replaceChildren();
    $('acted-list').replaceChildren();
    $('audit-body').replaceChildren();
    $('audit-table').hidden = true;
    $('audit-msg').hidden = true;
    $('act-msg').hidden = true;
    $('act-user-info').hidden = true;
    $('console-view').hidden = true;
    $('forbidden-view').hidden = true;
    showBanner(null);
  }

  function startSession(token, me) {
    if (state.socket) state.socket.stop();
    resetState();
    state.token = token;
    state.me = me;
    tokenStore.set(token);
    showView('app');
    closeLegal();
    setLoginError(null);
    setLoginInfo(null);
    // The next login page asks again (the box is never ticked in advance).
    $('policy-agree').checked = false;
    $('policy-agree-row').classList.remove('attention');
    $('me-label').textContent = `${me.nickname || ''} · #${me.id}` +
      (me.phone_masked ? ' · ' + me.phone_masked : '') +
      (me.roles && me.roles.length ? ' · ' + rolesText(me.roles) : '');
    setConn('connecting');

    const socket = new Socket(wsUrl(), token);
    state.socket = socket;
    bindSocket(socket);
    socket.start();
  }

  function logoutLocal(message) {
    if (state.socket) state.socket.stop();
    state.socket = null;
    if (state.token && tokenStore.get() === state.token) tokenStore.clear();
    state.token = null;
    resetState();
    showLogin(message);
  }

  async function logout() {
    if (state.socket) state.socket.stop();
    try { await api('POST', '/api/auth/logout'); } catch (_) { /* forget the token anyway */ }
    logoutLocal();
  }

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
        showLogin('登录已失效，请重新登录');
        return;
      }
      showLogin();
      const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
      setLoginInfo(`${errorText(err)}，${Math.ceil(delay / 1000)} 秒后重试`);
      setTimeout(() => {
        if (state.token === token && !state.me) resume(token, attempt + 1);
      }, delay);
    }
  }

  function bindSocket(socket) {
    const live = () => socket === state.socket;
    socket
      .on('$state', (kind, delay) => {
        if (!live()) return;
        if (kind !== 'open') {
          state.sessionReady = false;
          state.subscribedConn = false;
        }
        setConn(kind, delay);
        if (state.subscribed) render(); // buttons follow the connection
      })
      .on('$open', () => { if (live()) maybeSubscribe(); })
      .on('session.ready', () => {
        if (!live()) return;
        state.sessionReady = true;
        maybeSubscribe();
      })
      .on('$revoked', (code) => {
        if (!live()) return;
        logoutLocal(code === 4003
          ? '账号正在注销，已退出登录'
          : code === 4005
            ? '此账号已被封禁，已退出登录'
            : '登录已失效，请重新登录');
      })
      // A refused handshake looks like a plain close; a dead token shows on a REST call.
      .on('$refused', () => { if (live()) api('GET', '/api/me').catch(() => {}); });
    for (const type of ['mod.item', 'mod.claimed', 'mod.released', 'mod.decided', 'mod.acted']) {
      socket.on(type, (data) => { if (live()) onConsoleEvent(type, data); });
    }
  }

  // Subscribes once per connection, after session.ready (events flow from there on).
  function maybeSubscribe() {
    const socket = state.socket;
    if (!socket || !socket.ready || !state.sessionReady || state.subscribedConn) return;
    state.subscribedConn = true;
    state.offset = null; // fresh estimate per connection
    syncQueue('mod.subscribe');
  }

  // ---------------------------------------------------------------- the queue

  // mod.subscribe (on every (re)connect) or mod.queue (a resync): the answer replaces the
  // queue; events that came in the meantime are replayed on top of it, in order.
  async function syncQueue(type) {
    const socket = state.socket;
    if (!socket) return;
    if (state.syncing) {
      state.resyncAgain = true;
      return;
    }
    state.syncing = true;
    state.buffered = [];
    try {
      const q = await socket.request(type, {});
      if (socket !== state.socket) return;
      state.leaseMs = typeof q.lease_ms === 'number' ? q.lease_ms : state.leaseMs;
      const fresh = new Map();
      for (const it of q.items || []) {
        if (it && it.id != null && !state.decided.has(it.id)) fresh.set(it.id, it);
      }
      for (const id of state.items.keys()) {
        if (!fresh.has(id)) forgetItem(id);
      }
      state.items = fresh;
      const buffered = state.buffered;
      state.buffered = [];
      state.syncing = false;
      for (const [t, d] of buffered) applyEvent(t, d);
      const first = !state.subscribed;
      state.subscribed = true;
      state.forbidden = false;
      $('forbidden-view').hidden = true;
      $('console-view').hidden = false;
      showBanner(null);
      setConn(socket.ready ? 'open' : 'connecting');
      $('h-updated').textContent = '队列同步于 ' + fmtFull(Date.now());
      if (type === 'mod.subscribe' && (first || state.auditLoaded) && !state.auditUnavailable) loadAudit();
    } catch (err) {
      if (socket !== state.socket) return;
      if (err.code === 'forbidden') {
        showForbidden(err);
      } else if (err.code === 'disconnected') {
        // The reconnect subscribes again.
      } else {
        showBanner('无法读取队列：' + errorText(err));
        if (type === 'mod.subscribe') state.subscribedConn = false;
        setTimeout(maybeSubscribe, 3000);
      }
    } finally {
      if (socket === state.socket) {
        state.syncing = false;
        state.buffered = [];
        render();
        if (state.resyncAgain) {
          state.resyncAgain = false;
          if (state.subscribed && socket.ready) syncQueue('mod.queue');
        }
      }
    }
  }

  function showForbidden(err) {
    state.forbidden = true;
    state.subscribed = false;
    if (state.socket) state.socket.stop(); // nothing else to do on this socket
    $('console-view').hidden = true;
    $('forbidden-view').hidden = false;
    $('forbidden-detail').textContent = `${state.me ? '#' + state.me.id + ' ' + (state.me.phone_masked || '') : ''} — ${errorText(err)}`;
    setConn('—');
    $('conn-status').textContent = '未订阅';
  }

  let resyncTimer = null;
  function resyncSoon() {
    clearTimeout(resyncTimer);
    resyncTimer = setTimeout(() => {
      if (state.subscribed && state.socket && state.socket.ready) syncQueue('mod.queue');
    }, 500);
  }

  function onConsoleEvent(type, d) {
    // A claim's lease start is the server's "now" at publish: it feeds the clock estimate.
    if (type === 'mod.claimed' && state.leaseMs && typeof d.until === 'number') noteServerTime(d.until - state.leaseMs);
    if (!state.subscribed && !state.syncing) return;
    if (state.syncing) {
      state.buffered.push([type, d]);
      return;
    }
    applyEvent(type, d);
    render();
  }

  function applyEvent(type, d) {
    switch (type) {
      case 'mod.item': {
        if (!d || d.id == null || state.decided.has(d.id)) return;
        // Arrives twice around a subscribe: the copy already held is as new or newer.
        if (!state.items.has(d.id) && d.state !== 'decided') state.items.set(d.id, d);
        return;
      }
      case 'mod.claimed': {
        const it = state.items.get(d.item_id);
        if (!it) {
          if (!state.decided.has(d.item_id)) resyncSoon();
          return;
        }
        it.state = 'claimed';
        it.claimed_by = d.by;
        it.claim_expires_at = d.until;
        if (d.by !== meId()) state.drafts.delete(d.item_id);
        return;
      }
      case 'mod.released': {
        const it = state.items.get(d.item_id);
        if (!it) {
          if (!state.decided.has(d.item_id)) resyncSoon();
          return;
        }
        const wasMine = isMine(it);
        it.state = 'queued';
        it.claimed_by = null;
        it.claim_expires_at = null;
        if (d.why === 'lease expired') {
          setMsg(d.item_id, wasMine
            ? '你的租约已到期，条目已回到队列'
            : '租约已到期，条目已回到队列', wasMine ? 'error' : 'info');
        } else if (!wasMine) {
          setMsg(d.item_id, null);
        }
        return;
      }
      case 'mod.decided': {
        state.decided.add(d.item_id);
        const it = state.items.get(d.item_id);
        if (it && d.by !== meId()) {
          flash(`#${d.item_id} 已由审核员 #${d.by} 处理：${ACTION_LABELS[d.decision] || d.decision}`);
        }
        state.items.delete(d.item_id);
        forgetItem(d.item_id);
        auditSoon();
        return;
      }
      case 'mod.acted': {
        addActed(d);
        auditSoon();
        return;
      }
      default:
    }
  }

  function forgetItem(id) {
    state.drafts.delete(id);
    state.msgs.delete(id);
    state.pending.delete(id);
    disposeMedia(id);
    const card = state.cards.get(id);
    if (card) {
      card.root.remove();
      state.cards.delete(id);
    }
  }

  function setMsg(id, text, cls) {
    if (text) state.msgs.set(id, { text, cls: cls || 'info' });
    else state.msgs.delete(id);
    const card = state.cards.get(id);
    if (card) paintMsg(card, id);
  }

  function paintMsg(card, id) {
    const m = state.msgs.get(id);
    card.msg.hidden = !m;
    card.msg.textContent = m ? m.text : '';
    card.msg.className = 'item-msg small ' + (m ? m.cls : '');
  }

  // ---------------------------------------------------------------- commands

  async function claim(id) {
    const socket = state.socket;
    if (!socket) return;
    state.pending.add(id);
    setMsg(id, null);
    render();
    try {
      const r = await socket.request('mod.claim', { item_id: id });
      const it = r.item;
      if (it && state.leaseMs && typeof it.claim_expires_at === 'number') noteServerTime(it.claim_expires_at - state.leaseMs);
      if (it && !state.decided.has(id) && state.items.has(id)) state.items.set(id, it);
      setMsg(id, '已认领：请在租约到期前处理', 'ok');
    } catch (err) {
      if (err.code === 'conflict') {
        setMsg(id, '认领失败：其他审核员已认领或已处理。' + errorText(err), 'error');
        // The mod.claimed / mod.decided event normally follows; resync if it does not.
        setTimeout(() => {
          const it = state.items.get(id);
          if (it && it.state === 'queued') resyncSoon();
        }, 2000);
      } else if (err.code === 'not_found') {
        state.items.delete(id);
        forgetItem(id);
        flash(`#${id} 已不存在`, true);
      } else {
        setMsg(id, '认领失败：' + errorText(err), 'error');
      }
    } finally {
      state.pending.delete(id);
      render();
    }
  }

  async function release(id) {
    const socket = state.socket;
    if (!socket) return;
    state.pending.add(id);
    render();
    try {
      const r = await socket.request('mod.release', { item_id: id });
      if (r.item && state.items.has(id)) state.items.set(id, r.item);
      setMsg(id, '已放回队列', 'info');
    } catch (err) {
      setMsg(id, '放回失败：' + errorText(err), 'error');
    } finally {
      state.pending.delete(id);
      render();
    }
  }

  async function decide(id, decision) {
    const socket = state.socket;
    const card = state.cards.get(id);
    if (!socket || !card) return;
    const reason = (state.drafts.get(id) || '').trim();
    if (decision !== 'approve' && !reason) {
      setMsg(id, isReport(state.items.get(id) || {}) ? '举报成立必须填写原因' : '拒绝必须填写原因', 'error');
      card.reason.focus();
      return;
    }
    const data = { item_id: id, decision };
    if (reason) data.reason = reason;
    state.pending.add(id);
    render();
    const it = state.items.get(id);
    const label = it ? decisionLabels(it)[decision] : (ACTION_LABELS[decision] || decision);
    try {
      await socket.request('mod.decide', data);
      state.decided.add(id);
      state.items.delete(id);
      forgetItem(id);
      flash(`#${id} 已处理（${label}）`);
      auditSoon();
    } catch (err) {
      const hint = err.code === 'conflict'
        ? '你的认领已失效（租约到期或被放回）。'
        : '处理失败：';
      setMsg(id, hint + errorText(err), 'error');
    } finally {
      state.pending.delete(id);
      render();
    }
  }

  // ---------------------------------------------------------------- item kinds

  // A report (of a message, a user or a picture) carries its reporter's reason as "report: …".
  function isReport(item) {
    return item.kind === 'report_message' || item.kind === 'report_user' || item.kind === 'report_media' ||
      (item.reasons || []).some((r) => /^report:/.test(r));
  }

  function decisionLabels(item) {
    const key = item.kind === 'report_media' || (item.kind === 'media' && isReport(item)) ? 'media_report' : item.kind;
    return Object.assign({
      approve: '通过',
      reject: '拒绝',
      reject_and_block: '拒绝并拉黑图片',
    }, DECISION_LABELS[key] || {});
  }

  function fact(label, value, cls) {
    return [el('dt', { text: label }), el('dd', { class: cls || '', text: value })];
  }

  // report_user: the profile as it was when reported (a JSON snapshot).
  function profileSnapshot(item) {
    let snap = null;
    try { snap = JSON.parse(item.content); } catch (_) { snap = null; }
    if (!snap || typeof snap !== 'object') {
      return [el('p', { class: 'content-text', text: item.content || '（空）' })];
    }
    const nodes = [el('dl', { class: 'snapshot' },
      ...fact('昵称', snap.nickname || ''),
      ...fact('简介', snap.intro || '（无）', snap.intro ? 'content-text' : 'muted'),
      ...fact('头像', snap.avatar || '（无）', snap.avatar ? '' : 'muted'))];
    const avatarId = typeof snap.avatar === 'string' &&
      (MEDIA_ID.test(snap.avatar) ? snap.avatar : (snap.avatar.match(MEDIA_CONTENT) || [])[1]);
    if (avatarId) nodes.push(mediaBox(item, avatarId));
    return nodes;
  }

  // The body of a card: what the moderator judges.
  function itemContent(item) {
    const ref = el('p', { class: 'small muted ref' });
    switch (item.kind) {
      case 'media':
      case 'report_media':
        return [mediaBox(item, item.content_ref)];
      case 'report_message': {
        const [conv, seq] = (item.content_ref || '').split(':');
        ref.textContent = `会话 #${conv || '?'} · 第 ${seq || '?'} 条消息 · 发送者 #${item.subject_id}`;
        // A photo message's text is its media id: show the picture (staff may see it).
        if (MEDIA_ID.test(item.content || '')) {
          return [ref, el('p', { class: 'small muted', text: '图片消息' }), mediaBox(item, item.content)];
        }
        return [ref, el('p', { class: 'content-text', text: item.content || '（空）' })];
      }
      case 'report_user':
        ref.textContent = '被举报时的资料';
        return [ref, ...profileSnapshot(item)];
      case 'appeal': {
        ref.textContent = `申诉针对条目 #${item.content_ref} · 被拒绝的内容：`;
        const m = (item.content || '').match(MEDIA_CONTENT);
        if (m) return [ref, mediaBox(item, m[1])];
        return [ref, el('p', { class: 'content-text', text: item.content || '（空）' })];
      }
      default:
        return [el('p', { class: 'content-text', text: item.content || '（空）' })];
    }
  }

  // ---------------------------------------------------------------- categories and reasons

  function rolesText(roles) {
    return roles.map((r) => ROLE_LABELS[r] || r).join('、');
  }

  // What a card is filed under in the category filter: a report's category; '' for a report
  // queued before categories existed (shown as 未分类, listed under 全部 only); null otherwise.
  function categoryOf(item) {
    if (item.category) return item.category;
    return isReport(item) ? '' : null;
  }

  function categoryChip(code) {
    return el('span', { class: 'category-chip', 'data-category': code || 'none', title: '举报类型',
      text: code ? CATEGORY_LABELS[code] || code : '未分类' });
  }

  const CONTENT_KIND = /^[a-z_]+$/;

  // One finding of the server (ModItem.reasons: src/moderation/policy.rs, reports.rs,
  // media) as a Chinese tag and what follows it; a form not known here is shown as it came.
  function parseReason(raw) {
    const text = String(raw == null ? '' : raw).trim();
    let m = /^keyword\s*[:：]\s*([\s\S]*)$/i.exec(text);
    if (m) return { kind: 'keyword', tag: '关键词', detail: m[1] };
    m = /^contact\s*[:：]\s*([\s\S]*)$/i.exec(text);
    if (m) {
      const what = m[1].trim();
      const label = CONTACT_LABELS[what.toLowerCase()] || what;
      return { kind: 'contact', tag: label ? '联系方式·' + label : '联系方式', detail: '' };
    }
    m = /^report\s*[:：]\s*([\s\S]*)$/i.exec(text);
    if (m) return { kind: 'report', tag: '举报', detail: m[1] };
    m = /^appeal of an? (\S+) decision\s*[:：]\s*([\s\S]*)$/i.exec(text);
    if (m) {
      const of = CONTENT_KIND.test(m[1]) ? KIND_LABELS[m[1]] || m[1] : m[1];
      return { kind: 'appeal', tag: '申诉', note: `针对「${of}」的审核决定`, detail: m[2] };
    }
    m = /^appeal\s*[:：]\s*([\s\S]*)$/i.exec(text);
    if (m) return { kind: 'appeal', tag: '申诉', detail: m[1] };
    // "resembles a blocklisted image (34 of 256 bits apart)", "matches … but is too plain …".
    m = /^(?:matches|resembles) a blocklisted (?:image|picture) \((\d+) of (\d+) bits apart\)([\s\S]*)$/i.exec(text);
    if (m) {
      return { kind: 'blocklist', tag: '疑似黑名单图片',
        detail: `相差 ${m[1]}/${m[2]} 位` + (/too plain/i.test(m[3]) ? '（画面过于简单，指纹无法确认）' : '') };
    }
    m = /^blocklist\s*[:：]\s*([\s\S]*)$/i.exec(text);
    if (m) {
      const near = /^near\s+(\d+)\s*bits?\b\s*([\s\S]*)$/i.exec(m[1]);
      return { kind: 'blocklist', tag: '疑似黑名单图片', detail: near ? `相差 ${near[1]} 位` + (near[2] ? ' ' + near[2] : '') : m[1] };
    }
    if (/^blocklisted (?:image|picture)$/i.test(text)) return { kind: 'blocklist', tag: '黑名单图片', detail: '' };
    if (/^videos? (?:are|is) always reviewed$/i.test(text)) return { kind: 'video', tag: '视频', detail: '视频一律人工审核' };
    return { kind: 'unknown', tag: '', detail: text };
  }

  // The upload screening joins its findings with "; " into one reason; a reporter's or an
  // appellant's own words are never split.
  function splitReasons(reasons) {
    const out = [];
    for (const raw of reasons || []) {
      const text = String(raw == null ? '' : raw);
      if (/^(report|appeal)\b/i.test(text.trim())) out.push(text);
      else out.push(...text.split(/;\s+/).filter((part) => part.trim()));
    }
    return out;
  }

  function reasonChip(raw) {
    const r = parseReason(raw);
    return el('span', { class: 'reason-chip', 'data-reason': r.kind, 'data-raw': raw },
      r.tag ? el('span', { class: 'reason-tag', text: r.tag }) : null,
      r.note ? el('span', { class: 'reason-note', text: r.note }) : null,
      r.detail ? el('span', { class: 'reason-detail', text: r.detail }) : null);
  }

  // ---------------------------------------------------------------- media

  function disposeMedia(id) {
    const m = state.media.get(id);
    if (!m) return;
    m.disposed = true;
    if (m.url) URL.revokeObjectURL(m.url);
    state.media.delete(id);
  }

  // mediaId: the picture or video to show (a media item's content_ref, a reported photo
  // message's text, an appealed media item's URL).
  function mediaBox(item, mediaId) {
    const box = el('div', { class: 'media-box' }, el('div', { class: 'media-meta', text: '加载中…' }));
    if (!MEDIA_ID.test(mediaId || '')) {
      box.replaceChildren(el('p', { class: 'media-error', text: '无法识别的媒体：' + (mediaId || item.content || '') }));
      return box;
    }
    const entry = { url: null, disposed: false };
    disposeMedia(item.id);
    state.media.set(item.id, entry);
    loadMedia(item, mediaId, box, entry);
    return box;
  }

  async function loadMedia(item, mediaId, box, entry) {
    let view = null;
    try {
      // MediaView says picture or video, size and dimensions.
      try {
        view = await api('GET', '/api/media/' + mediaId);
      } catch (_) {
        view = null; // the bytes may still load
      }
      if (entry.disposed) return;
      // A video has no picture hash: blocklisting it would do nothing.
      const card = state.cards.get(item.id);
      if (view && view.kind === 'video' && card && card.blockBtn) card.blockBtn.hidden = true;
      if (view && view.kind === 'video' && card && card.kindBadge) {
        if (item.kind === 'media') card.kindBadge.textContent = '视频';
        else if (item.kind === 'report_media') card.kindBadge.textContent = '举报视频';
      }
      let path = `/api/media/${mediaId}/content`;
      if (view && view.kind === 'image' && Array.isArray(view.thumbnails)) {
        const big = view.thumbnails.find((t) => t.size === 1080);
        if (big && MEDIA_PATH.test(big.url)) path = big.url;
      }
      if (view && view.kind === 'video' && view.byte_size > AUTO_VIDEO_BYTES) {
        const btn = el('button', { type: 'button', class: 'secondary small-btn',
          text: `加载视频（${fmtBytes(view.byte_size)}）` });
        btn.addEventListener('click', busy(btn, () => showMedia(path, box, entry, view)));
        box.replaceChildren(btn, metaLine(view));
        return;
      }
      await showMedia(path, box, entry, view);
    } catch (err) {
      if (entry.disposed) return;
      box.replaceChildren(el('p', { class: 'media-error', text: '无法加载媒体：' + errorText(err) }),
        el('div', { class: 'media-meta', text: mediaId }));
    }
  }

  function metaLine(view) {
    if (!view) return null;
    const parts = [view.content_type, view.width && view.height ? `${view.width}×${view.height}` : null,
      fmtBytes(view.byte_size), view.source ? '来源：' + (MEDIA_SOURCE_LABELS[view.source] || view.source) : null,
      view.purpose ? MEDIA_PURPOSE_LABELS[view.purpose] || view.purpose : null,
      view.status ? '状态：' + (MEDIA_STATUS_LABELS[view.status] || view.status) : null];
    return el('div', { class: 'media-meta', text: parts.filter(Boolean).join(' · ') });
  }

  async function showMedia(path, box, entry, view) {
    try {
      const blob = await fetchMediaBlob(path);
      if (entry.disposed) return;
      if (entry.url) URL.revokeObjectURL(entry.url);
      entry.url = URL.createObjectURL(blob);
      const type = blob.type || (view && view.content_type) || '';
      const isVideo = (view && view.kind === 'video') || type.startsWith('video/');
      const node = isVideo
        ? el('video', { src: entry.url, controls: true, preload: 'metadata', playsinline: true,
          'aria-label': '待审核视频' })
        : el('img', { src: entry.url, alt: '待审核图片' });
      if (isVideo) node.muted = true;
      box.replaceChildren(node, metaLine(view) || el('div', { class: 'media-meta', text: type }));
    } catch (err) {
      if (entry.disposed) return;
      box.replaceChildren(el('p', { class: 'media-error', text: '无法加载媒体：' + errorText(err) }));
    }
  }

  // ---------------------------------------------------------------- users

  function lookupUser(id) {
    if (!state.users.has(id)) {
      const p = api('GET', '/api/users/' + encodeURIComponent(id)).catch(() => null);
      state.users.set(id, p);
    }
    return state.users.get(id);
  }

  function userLine(u) {
    if (!u) return '';
    if (u.deleted) return '已注销用户';
    const parts = [u.nickname];
    if (u.roles && u.roles.length) parts.push(rolesText(u.roles));
    if (u.created_at) parts.push('注册于 ' + fmtFull(u.created_at).slice(0, 10));
    return parts.filter(Boolean).join(' · ');
  }

  // ---------------------------------------------------------------- rendering

  function ensureCard(item) {
    let card = state.cards.get(item.id);
    if (card) return card;
    const id = item.id;
    card = {};
    card.stateBadge = el('span', { class: 'badge' });
    card.age = el('span', { class: 'age small muted' });
    card.nick = el('span', { class: 'small muted' });
    const actOn = el('button', { type: 'button', class: 'link-btn',
      text: '处理此用户', onclick: () => pickUser(item.subject_id) });
    const content = itemContent(item);
    const labels = decisionLabels(item);
    const report = isReport(item);
    const category = categoryOf(item);
    const reasons = el('div', { class: 'reasons' }, ...splitReasons(item.reasons).map(reasonChip));
    card.holder = el('div', { class: 'holder small' });
    card.msg = el('p', { class: 'item-msg small', hidden: true, role: 'status' });
    card.claimBtn = el('button', { type: 'button', class: 'primary small-btn', text: '认领',
      onclick: () => claim(id) });
    card.releaseBtn = el('button', { type: 'button', class: 'secondary small-btn', text: '放回队列',
      onclick: () => release(id) });
    card.actions = el('div', { class: 'actions' }, card.claimBtn, card.releaseBtn);
    card.reason = el('textarea', { rows: 2, maxlength: 500,
      placeholder: report
        ? '原因（举报成立时必填，被举报人会看到）'
        : '原因（拒绝时必填，作者会看到）' });
    card.reason.value = state.drafts.get(id) || '';
    card.reason.addEventListener('input', () => state.drafts.set(id, card.reason.value));
    card.approveBtn = el('button', { type: 'button', class: 'approve small-btn', text: labels.approve,
      onclick: () => decide(id, 'approve') });
    card.rejectBtn = el('button', { type: 'button', class: 'reject small-btn', text: labels.reject,
      onclick: () => decide(id, 'reject') });
    card.blockBtn = item.kind === 'media' || item.kind === 'report_media' ||
      (item.kind === 'report_message' && MEDIA_ID.test(item.content || ''))
      ? el('button', { type: 'button', class: 'block small-btn', text: labels.reject_and_block,
        title: '拒绝，并把这张图片加入黑名单（相似图片今后会被自动拒绝）',
        onclick: () => decide(id, 'reject_and_block') })
      : null;
    card.decide = el('div', { class: 'decide' }, card.reason,
      el('div', { class: 'actions' }, card.approveBtn, card.rejectBtn, card.blockBtn));
    const reportKind = /^report_/.test(item.kind);
    card.kindBadge = el('span', { class: 'badge kind' + (reportKind ? ' report' : ''), text: KIND_LABELS[item.kind] || item.kind });
    card.root = el('article', { class: 'card item' + (report ? ' report' : ''), 'data-id': id, 'data-kind': item.kind,
      'data-category': category == null ? null : category || 'none' },
      el('div', { class: 'item-head' },
        el('span', { class: 'item-id', text: '#' + id }),
        category != null ? categoryChip(category) : null,
        card.kindBadge,
        report && !reportKind ? el('span', { class: 'badge report', text: '用户举报' }) : null,
        el('span', { class: 'badge' + (item.priority === 0 ? ' p0' : ''), title: `优先级 ${item.priority}（0 最紧急）`,
          text: item.priority === 0 ? 'P0 紧急' : 'P' + item.priority }),
        card.stateBadge,
        card.age),
      el('div', { class: 'subject small' },
        el('span', { text: (report ? '被举报用户' : item.kind === 'appeal' ? '申诉人' : '作者') +
          ` #${item.subject_id}` }), card.nick, actOn),
      ...content,
      reasons,
      card.holder,
      card.msg,
      card.actions,
      card.decide);
    lookupUser(item.subject_id).then((u) => { card.nick.textContent = userLine(u); });
    state.cards.set(id, card);
    return card;
  }

  function paintCard(card, item) {
    const mine = isMine(item);
    const claimed = item.state === 'claimed';
    const pending = state.pending.has(item.id) || !(state.socket && state.socket.ready);
    card.root.classList.toggle('claimed', claimed && !mine);
    card.root.classList.toggle('mine', mine);
    card.stateBadge.className = 'badge ' + (mine ? 'state-mine' : claimed ? 'state-claimed' : '');
    card.stateBadge.textContent = mine ? '我已认领'
      : claimed ? '处理中' : '待处理';
    card.claimBtn.hidden = mine;
    card.releaseBtn.hidden = !mine;
    card.decide.hidden = !mine;
    card.claimBtn.disabled = pending;
    card.releaseBtn.disabled = pending;
    card.approveBtn.disabled = pending;
    card.rejectBtn.disabled = pending;
    if (card.blockBtn) card.blockBtn.disabled = pending;
    paintMsg(card, item.id);
    tickCard(card, item);
  }

  // The parts that change with the clock: age, lease countdown, claimability.
  function tickCard(card, item) {
    const now = serverNow();
    card.age.textContent = '已等待 ' + fmtDuration(now - item.created_at);
    card.age.title = '提交于 ' + fmtFull(item.created_at);
    if (item.state === 'claimed') {
      const left = (item.claim_expires_at || 0) - now;
      const who = isMine(item) ? '你' : `审核员 #${item.claimed_by}`;
      // The last fifth of the lease (at most a minute) shows red.
      const low = Math.min(LEASE_LOW_MS, (state.leaseMs || 300000) / 5);
      const countdown = el('span', { class: 'countdown' + (left < low ? ' low' : ''),
        text: left > 0 ? fmtClock(left) : '已到期' });
      card.holder.replaceChildren(`认领人：${who} · 租约剩余 `, countdown,
        el('span', { class: 'muted', text: `（至 ${fmtFull(item.claim_expires_at).slice(11)}）` }));
      card.holder.hidden = false;
      if (!isMine(item)) {
        // Someone else's live lease: claiming would only answer conflict.
        const expired = left <= 0;
        card.claimBtn.disabled = card.claimBtn.disabled || !expired;
        card.claimBtn.textContent = expired ? '租约已到期，认领' : '认领';
      }
    } else {
      card.holder.hidden = true;
      card.holder.replaceChildren();
      card.claimBtn.textContent = '认领';
    }
  }

  function sortedItems() {
    return [...state.items.values()].sort((a, b) => (a.priority - b.priority) || (a.id - b.id));
  }

  // The category filter above the queue: 全部 and the five categories, each with how many
  // cards it would show (under 只看我认领的 too). Purely client-side.
  function renderFilter(items) {
    const box = $('category-filter');
    if (!box.childElementCount) {
      for (const [code, label] of [['', '全部'], ...CATEGORIES]) {
        box.append(el('button', { type: 'button', class: 'filter-chip', 'data-filter': code || 'all',
          'aria-pressed': 'false', onclick: () => setCategoryFilter(code) },
        el('span', { class: 'filter-label', text: label }), el('span', { class: 'filter-count', text: '0' })));
      }
    }
    const counts = new Map([['', items.length]]);
    for (const it of items) {
      const c = categoryOf(it);
      if (c) counts.set(c, (counts.get(c) || 0) + 1);
    }
    for (const btn of box.children) {
      const code = btn.dataset.filter === 'all' ? '' : btn.dataset.filter;
      const n = counts.get(code) || 0;
      btn.setAttribute('aria-pressed', String(code === state.category));
      btn.classList.toggle('none', n === 0);
      btn.querySelector('.filter-count').textContent = String(n);
      btn.title = code ? `只看「${CATEGORY_LABELS[code]}」类举报（${n} 条）` : `显示全部条目（${n} 条）`;
    }
  }

  function setCategoryFilter(code) {
    state.category = code;
    render();
  }

  function render() {
    const queue = $('queue');
    const onlyMine = $('only-mine').checked;
    const items = sortedItems();
    const mineOrAll = onlyMine ? items.filter(isMine) : items;
    renderFilter(mineOrAll);
    const visible = state.category ? mineOrAll.filter((it) => categoryOf(it) === state.category) : mineOrAll;
    const shown = new Set(visible.map((it) => it.id));
    for (const [id, card] of state.cards) {
      if (!shown.has(id) && card.root.parentNode) card.root.remove();
    }
    visible.forEach((it, i) => {
      const card = ensureCard(it);
      paintCard(card, it);
      // Moves only the cards that are out of place, so a focused reason box keeps its focus.
      if (queue.children[i] !== card.root) queue.insertBefore(card.root, queue.children[i] || null);
    });
    $('queue-empty').hidden = !state.subscribed || visible.length > 0;
    $('queue-empty').textContent = state.category && mineOrAll.length
      ? `没有「${CATEGORY_LABELS[state.category] || state.category}」类的举报` + (onlyMine ? '（只看我认领的）' : '')
      : onlyMine && items.length ? '你没有认领中的条目' : '队列为空 🎉';
    renderHealth();
  }

  function renderHealth() {
    const items = [...state.items.values()];
    const queued = items.filter((it) => it.state !== 'claimed');
    const claimed = items.filter((it) => it.state === 'claimed');
    $('h-queued').textContent = queued.length;
    $('h-claimed').textContent = claimed.length;
    $('h-mine').textContent = claimed.filter(isMine).length;
    const byPrio = new Map();
    for (const it of items) {
      const p = byPrio.get(it.priority) || { queued: 0, claimed: 0 };
      if (it.state === 'claimed') p.claimed += 1; else p.queued += 1;
      byPrio.set(it.priority, p);
    }
    const chips = [...byPrio.entries()].sort((a, b) => a[0] - b[0]).map(([prio, c]) =>
      el('span', { class: 'prio-chip' + (prio === 0 ? ' p0' : '') }, (prio === 0 ? '紧急 P0' : 'P' + prio) + '：',
        el('b', { text: String(c.queued) }), ' 条待处理',
        c.claimed ? ' · ' : null, c.claimed ? el('b', { text: String(c.claimed) }) : null,
        c.claimed ? ' 条处理中' : null));
    $('h-priorities').replaceChildren(...chips);
    tickHealth();
    document.title = (queued.length ? `(${queued.length}) ` : '') + '多些审核台';
  }

  function tickHealth() {
    let oldest = null;
    for (const it of state.items.values()) {
      if (it.state !== 'claimed' && (oldest == null || it.created_at < oldest)) oldest = it.created_at;
    }
    const node = $('h-oldest');
    if (oldest == null) {
      node.textContent = '—';
      node.className = 'stat-num';
      node.title = '';
      return;
    }
    const age = serverNow() - oldest;
    node.textContent = fmtDuration(age);
    node.title = '提交于 ' + fmtFull(oldest);
    node.className = 'stat-num' + (age > 3600000 ? ' alert' : age > 900000 ? ' warning' : '');
  }

  function tick() {
    if (!state.subscribed) return;
    for (const [id, card] of state.cards) {
      const it = state.items.get(id);
      if (it && card.root.parentNode) {
        card.claimBtn.disabled = state.pending.has(id) || !(state.socket && state.socket.ready);
        tickCard(card, it);
      }
    }
    tickHealth();
  }

  // ---------------------------------------------------------------- user actions (mod.act)

  function pickUser(userId) {
    $('act-user').value = userId;
    showUserInfo();
    $('act-panel').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    $('act-reason').focus({ preventScroll: true });
  }

  async function showUserInfo() {
    const id = parseInt($('act-user').value, 10);
    const info = $('act-user-info');
    if (!(id > 0)) {
      info.hidden = true;
      return;
    }
    info.hidden = false;
    info.textContent = '…';
    const u = await lookupUser(id);
    if (parseInt($('act-user').value, 10) !== id) return;
    info.textContent = u ? `#${id} · ${userLine(u)}` : `#${id} · 找不到此用户`;
  }

  // A mute always has an end; a suspension may last until it is lifted.
  function syncDurationRow() {
    const action = $('act-action').value;
    $('act-duration-row').hidden = !(action === 'mute' || action === 'suspend');
    const forever = $('act-duration-forever');
    forever.hidden = action !== 'suspend';
    forever.disabled = action !== 'suspend';
    if (action !== 'suspend' && $('act-duration').value === '') $('act-duration').value = '86400000';
  }

  function actMsg(text, cls) {
    const m = $('act-msg');
    m.hidden = !text;
    m.textContent = text || '';
    m.className = 'small ' + (cls || '');
  }

  // {"id","user_id","kind","until","reason","created_by","created_at"}
  function describeSanction(s) {
    if (!s || typeof s !== 'object') return '';
    const parts = [`处罚 #${s.id}`, ACTION_LABELS[s.kind] || s.kind];
    if (s.kind !== 'warn') parts.push(s.until ? `至 ${fmtFull(s.until)}` : '直到解除');
    if (s.reason) parts.push(`原因：${s.reason}`);
    return parts.join(' · ');
  }

  async function submitAct() {
    actMsg(null);
    const userId = parseInt($('act-user').value, 10);
    if (!(userId > 0)) {
      actMsg('请输入用户 ID', 'error');
      $('act-user').focus();
      return;
    }
    const action = $('act-action').value;
    const reason = $('act-reason').value.trim();
    // Every action, a lift too, is audited with its reason (the server refuses none).
    if (!reason) {
      actMsg('请填写原因', 'error');
      $('act-reason').focus();
      return;
    }
    if (userId === meId()) {
      actMsg('不能处理自己的账号', 'error');
      return;
    }
    const data = { user_id: userId, action, reason };
    const duration = $('act-duration').value;
    if (action === 'mute' || (action === 'suspend' && duration !== '')) data.duration_ms = Number(duration);
    if (!state.socket || !state.socket.ready) {
      actMsg('未连接服务器', 'error');
      return;
    }
    try {
      const r = await state.socket.request('mod.act', data);
      state.actUnavailable = false;
      let detail = '';
      if (r.sanction) detail = ' — ' + describeSanction(r.sanction);
      else if (typeof r.lifted === 'number') {
        detail = r.lifted
          ? ` — 解除了 ${r.lifted} 项处罚`
          : ' — 没有生效中的禁言或封禁';
      }
      actMsg(`已执行：${ACTION_LABELS[action]} → #${userId}${detail}`, r.lifted === 0 ? 'info' : 'ok');
      $('act-reason').value = '';
      auditSoon();
    } catch (err) {
      if (err.code === 'unknown_type') {
        state.actUnavailable = true;
        actMsg(`${NOT_AVAILABLE}（mod.act）`, 'unavailable');
      } else {
        actMsg('执行失败：' + errorText(err), 'error');
      }
    }
  }

  function addActed(d) {
    if (!d) return;
    state.acted.unshift(d);
    state.acted.length = Math.min(state.acted.length, ACTED_KEEP);
    const list = $('acted-list');
    const line = `${fmtFull(Date.now()).slice(11)} · 审核员 #${d.by} → 用户 #${d.user_id}：` +
      (ACTION_LABELS[d.action] || d.action) + (d.until ? ` · 至 ${fmtFull(d.until)}`
        : d.action === 'suspend' ? ' · 直到解除' : '');
    list.prepend(el('li', { text: line }));
    while (list.children.length > ACTED_KEEP) list.lastChild.remove();
  }

  // ---------------------------------------------------------------- audit log (mod.audit)

  let auditTimer = null;
  function auditSoon() {
    if (!state.auditLoaded || state.auditUnavailable) return;
    clearTimeout(auditTimer);
    auditTimer = setTimeout(loadAudit, 800);
  }

  function auditMsg(text, cls) {
    const m = $('audit-msg');
    m.hidden = !text;
    m.textContent = text || '';
    m.className = 'small ' + (cls || '');
  }

  async function loadAudit() {
    const socket = state.socket;
    if (!socket || !socket.ready) {
      auditMsg('未连接服务器', 'error');
      return;
    }
    const limit = Number($('audit-limit').value) || 50;
    try {
      const r = await socket.request('mod.audit', { limit });
      if (socket !== state.socket) return;
      state.auditUnavailable = false;
      state.auditLoaded = true;
      const entries = r.entries || [];
      // data-label: the column name, shown before each cell where the rows stack (phone width).
      $('audit-body').replaceChildren(...entries.map((e) => el('tr', {},
        el('td', { class: 'when', 'data-label': '时间', text: fmtShort(e.at), title: fmtFull(e.at) }),
        el('td', { class: 'actor', 'data-label': '审核员', text: e.actor_id != null ? '#' + e.actor_id : '' }),
        el('td', { class: 'action', 'data-label': '操作', text: ACTION_LABELS[e.action] || e.action || '' }),
        el('td', { class: 'item-ref', 'data-label': '条目', text: e.item_id != null ? '#' + e.item_id : '' }),
        el('td', { class: 'target', 'data-label': '用户', text: e.target_user_id != null ? '#' + e.target_user_id : '' }),
        el('td', { class: 'reason', 'data-label': '原因', text: e.reason || '' }))));
      $('audit-table').hidden = entries.length === 0;
      auditMsg(entries.length ? `${entries.length} 条 · 更新于 ${fmtFull(Date.now()).slice(11)}` : '暂无记录', 'muted');
    } catch (err) {
      if (socket !== state.socket) return;
      if (err.code === 'unknown_type') {
        state.auditUnavailable = true;
        $('audit-table').hidden = true;
        auditMsg(`${NOT_AVAILABLE}（mod.audit）`, 'unavailable');
      } else {
        auditMsg('无法读取审计日志：' + errorText(err), 'error');
      }
    }
  }

  // ---------------------------------------------------------------- wiring

  function wireLogin() {
    const sendBtn = $('send-code-btn');
    const label = sendBtn.textContent;
    let cooldownTimer = null;
    const cooldown = (ms) => {
      clearInterval(cooldownTimer);
      const until = Date.now() + ms;
      const step = () => {
        const left = Math.ceil((until - Date.now()) / 1000);
        if (left <= 0) {
          clearInterval(cooldownTimer);
          sendBtn.disabled = false;
          sendBtn.textContent = label;
          return;
        }
        sendBtn.disabled = true;
        sendBtn.textContent = `${left} 秒后重发`;
      };
      step();
      cooldownTimer = setInterval(step, 1000);
    };

    sendBtn.addEventListener('click', busy(sendBtn, async () => {
      setLoginError(null);
      setLoginInfo(null);
      $('dev-code-note').hidden = true;
      const phone = normalizePhone($('login-phone').value);
      if (!phone) {
        setLoginError({ message: '请输入手机号' });
        return;
      }
      try {
        const res = await api('POST', '/api/auth/code', { phone });
        const minutes = res.expires_in_ms ? Math.round(res.expires_in_ms / 60000) : null;
        setLoginInfo('验证码已发送' + (minutes ? `，${minutes} 分钟内有效` : ''));
        if (res.dev_code) {
          $('login-code').value = res.dev_code;
          $('dev-code-note').textContent = `开发验证码 ${res.dev_code}（服务器开启了 DUOXIE_AUTH_DEV_CODES）`;
          $('dev-code-note').hidden = false;
        }
        $('login-code').focus();
      } catch (err) {
        setLoginError(err);
        if (err.retry_after_ms) setTimeout(() => cooldown(err.retry_after_ms), 0);
      }
    }));

    const form = $('login-form');
    const submit = form.querySelector('button[type=submit]');
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      busy(submit, async () => {
        setLoginError(null);
        // Nothing is sent before the box is ticked and the version in force is known.
        if (!legal.version) {
          renderLoginPolicy();
          setLoginError({ message: '《用户协议》和《隐私政策》尚未加载，暂时不能登录' });
          return;
        }
        if (!$('policy-agree').checked) {
          askToAgree();
          return;
        }
        const phone = normalizePhone($('login-phone').value);
        const code = $('login-code').value.trim();
        if (!code) {
          setLoginError({ message: '请输入验证码' });
          return;
        }
        try {
          const res = await api('POST', '/api/auth/login',
            { phone, code, device: deviceLabel(), accepted_policy_version: legal.version });
          $('login-code').value = '';
          $('dev-code-note').hidden = true;
          startSession(res.token, res.user);
        } catch (err) {
          if (err.code === 'policy_not_accepted') {
            // A version published since the page loaded: read and tick again.
            $('policy-agree').checked = false;
            askToAgree();
            loadLoginPolicy();
          } else {
            setLoginError(err);
          }
        }
      })().then(renderLoginPolicy);
    });
  }

  function wireApp() {
    $('logout-btn').addEventListener('click', logout);
    $('logout-btn').title = '退出此浏览器的登录（多些主客户端同样退出）';
    $('forbidden-logout').addEventListener('click', logout);
    $('conn-status').addEventListener('click', () => { if (state.socket) state.socket.reconnectNow(); });
    $('only-mine').addEventListener('change', render);

    $('act-action').addEventListener('change', syncDurationRow);
    syncDurationRow();
    $('act-lookup').addEventListener('click', showUserInfo);
    $('act-user').addEventListener('change', showUserInfo);
    const actSubmit = $('act-submit');
    $('act-form').addEventListener('submit', (e) => {
      e.preventDefault();
      busy(actSubmit, submitAct)();
    });

    const auditBtn = $('audit-refresh');
    auditBtn.addEventListener('click', busy(auditBtn, loadAudit));
    $('audit-limit').addEventListener('change', () => { if (state.auditLoaded) loadAudit(); });

    window.addEventListener('online', () => { if (state.socket) state.socket.reconnectNow(); });
    // A login or logout in another tab (this console or the main client) is followed here.
    window.addEventListener('storage', (e) => {
      if (e.key !== TOKEN_KEY && e.key !== null) return;
      const token = tokenStore.get();
      if (token === state.token) return;
      if (!token) logoutLocal('已在其他页面退出登录');
      else {
        if (state.socket) state.socket.stop();
        state.socket = null;
        resetState();
        resume(token);
      }
    });
    setInterval(tick, 1000);
  }

  function init() {
    wireLegal();
    wireLogin();
    wireApp();
    const token = tokenStore.get();
    if (token) resume(token);
    else showLogin();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
