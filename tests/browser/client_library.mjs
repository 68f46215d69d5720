// End-to-end, in a real browser at phone size: the client library (static/js/client.js) and its
// text tables (static/js/i18n.js, static/js/locales/*.js), imported inside the server's page.
//
//  1. The modules load from /static/js/; both locales have the same keys, every error code of
//     docs/protocol.md ("Error codes") has a Chinese and an English text, the brand is 多些.
//  2. Library self-checks against a scripted socket inside the page (no server): recovery pages
//     through more:true and delivers in order, once, with live messages and duplicates in
//     between; gaps; session.resync; send() retries with the same client_id; replies matched
//     by id out of order; ClientError fields; the offline queue; every close code's behaviour;
//     a refused handshake; the frame limit; pacing; events and '*'.
//  3. Two users log in through the library (dev codes; age bracket "adult" for a new account).
//  4. The buyer opens a conversation with the seller (chat.open); the seller lists it.
//  5. Messages both ways, sent concurrently; every ack matched to its command by id.
//  6. The buyer's connection drops (an abnormal close through the socket adapter, then no
//     network); the seller sends while the buyer is away, and again while it reconnects; the
//     buyer's own send made offline goes out after the reconnect. Every message arrives
//     exactly once, in seq order, on both sides; the missed ones come through chat.sync.
//  7. errorText() of real server errors (REST and WebSocket) in zh-CN and en; the choice of
//     language is remembered; applyI18n fills data-i18n attributes.
//  8. logout(): the socket closes without a reconnect, the token is forgotten and revoked.
//
// Run by hand (the server with DUOXIE_AUTH_DEV_CODES=true, DUOXIE_AUTH_CODE_RESEND_MS=0):
//   DUOXIE_BASE_URL=http://127.0.0.1:18300 node client_library.mjs
// Optional: DUOXIE_BUYER_PHONE, DUOXIE_SELLER_PHONE (existing or new accounts; random new numbers
// otherwise), DUOXIE_ARTIFACTS (screenshots and logs on failure), DUOXIE_CLIENT_FROM_DISK=1
// (serve static/js/ from this checkout through the browser, for a server built before
// /static/js/ was served). Prints `ok: <step>` / `FAIL: <step>: <reason>`, then
// `PASS: client_library` (exit 0) or `FAILED: …` (exit 1).
//
// Imported, `run({base, buyerPhone, sellerPhone, artifacts, fromDisk})` does the same and
// resolves `{ok, failed}` without exiting; `libraryChecks(url)` is the self-check of step 2.
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Run, StepError, env, fail, waitUntil, oneLine } from './lib.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const STATIC = join(ROOT, 'static');

const CJK = /[\u3400-\u9fff]/;

// ---------------------------------------------------------------- docs/protocol.md

/** The codes of the "Error codes" table of docs/protocol.md. */
export function protocolErrorCodes() {
  const text = readFileSync(join(ROOT, 'docs', 'protocol.md'), 'utf8');
  const at = text.indexOf('\n## Error codes');
  if (at < 0) throw new Error('docs/protocol.md has no "## Error codes" section');
  const rest = text.slice(at + 1);
  const end = rest.indexOf('\n## ', 3);
  const section = end < 0 ? rest : rest.slice(0, end);
  const codes = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-z_]+)`\s*\|\s*\d{3}\s*\|/.exec(line);
    if (m) codes.push(m[1]);
  }
  if (codes.length < 20) throw new Error(`only ${codes.length} codes found in docs/protocol.md's error table`);
  return codes;
}

// ---------------------------------------------------------------- step 2: in-page self-checks

/**
 * Self-checks of the library against a scripted socket (no server). Runs in the page
 * (page.evaluate(libraryChecks, '/static/js/client.js')) or in Node (a file URL). Must stay
 * self-contained: Playwright sends its source to the page. Resolves [{name, ok, detail}].
 */
export async function libraryChecks(clientUrl) {
  const m = await import(clientUrl);
  const results = [];
  const assert = (cond, msg) => { if (!cond) throw new Error(msg); };
  const eq = (a, b, msg) => assert(JSON.stringify(a) === JSON.stringify(b), `${msg}: got ${JSON.stringify(a)}, want ${JSON.stringify(b)}`);
  const until = (what, cond, ms = 4000) => new Promise((resolve, reject) => {
    const t0 = Date.now();
    const poll = () => {
      let v = null;
      try { v = cond(); } catch (_) { v = null; }
      if (v) return resolve(v);
      if (Date.now() - t0 > ms) return reject(new Error('timed out waiting for ' + what));
      setTimeout(poll, 5);
    };
    poll();
  });
  const check = async (name, fn) => {
    const clients = [];
    try {
      await fn(clients);
      results.push({ name, ok: true });
    } catch (err) {
      results.push({ name, ok: false, detail: String((err && err.message) || err) });
    } finally {
      for (const c of clients) c.destroy();
    }
  };

  // A scripted server: each conversation a stream 1, 2, 3, …; chat.sync answers pages of
  // `page` messages with more:true; chat.send commits once per client_id and publishes.
  function world() {
    const w = { streams: new Map(), sockets: [], down: false, page: 3, sent: [], hook: null, byClientId: new Map() };
    w.add = (conv, text, sender = 2) => {
      const s = w.streams.get(conv) || [];
      w.streams.set(conv, s);
      const msg = { conversation_id: conv, seq: s.length + 1, sender_id: sender, client_id: `srv-${conv}-${s.length + 1}`, kind: 'text', text, created_at: Date.now() };
      s.push(msg);
      return msg;
    };
    w.sock = () => w.sockets[w.sockets.length - 1];
    w.frame = (sock, f) => { if (sock && sock.open && sock.onmessage) sock.onmessage(JSON.stringify(f)); };
    w.live = (msg, sock = w.sock()) => w.frame(sock, { type: 'chat.message', seq: msg.seq, data: msg });
    w.reply = (sock, id, data) => w.frame(sock, { re: id, ok: true, data });
    w.error = (sock, id, error) => w.frame(sock, { re: id, ok: false, error });
    w.sentOf = (type) => w.sent.filter((f) => f.type === type);
    w.factory = (url, protocols) => {
      const sock = {
        open: false, url, protocols, onopen: null, onmessage: null, onclose: null, onerror: null,
        send(text) {
          if (!sock.open) throw new Error('not open');
          const f = JSON.parse(text);
          w.sent.push(f);
          if (w.hook && w.hook(sock, f)) return;
          w.handle(sock, f);
        },
        close() { sock.open = false; },
        drop(code, reason = '') { sock.open = false; if (sock.onclose) sock.onclose({ code, reason }); },
      };
      w.sockets.push(sock);
      setTimeout(() => {
        if (w.down) {
          if (sock.onerror) sock.onerror();
          if (sock.onclose) sock.onclose({ code: 1006, reason: '' });
          return;
        }
        sock.open = true;
        if (sock.onopen) sock.onopen();
        w.frame(sock, { type: 'session.ready', data: { user_id: 1, policy_version: '1' } });
      }, 1);
      return sock;
    };
    w.handle = (sock, f) => setTimeout(() => {
      if (f.type === 'chat.sync') {
        const results = Object.entries(f.data.cursors).map(([k, after]) => {
          const rest = (w.streams.get(Number(k)) || []).filter((x) => x.seq > after);
          return { conversation_id: Number(k), messages: rest.slice(0, w.page), more: rest.length > w.page };
        });
        w.reply(sock, f.id, { results });
      } else if (f.type === 'chat.send') {
        let msg = w.byClientId.get(f.data.client_id);
        const duplicate = !!msg;
        if (!msg) {
          msg = w.add(f.data.conversation_id, f.data.text, 1);
          msg.client_id = f.data.client_id;
          w.byClientId.set(f.data.client_id, msg);
          w.live(msg, sock);
        }
        w.reply(sock, f.id, { message: msg, duplicate });
      } else if (f.type === 'echo') {
        w.reply(sock, f.id, { n: f.data.n });
      } else if (f.type === 'fail') {
        w.error(sock, f.id, f.data.error);
      } else {
        w.error(sock, f.id, { code: 'unknown_type', message: 'unknown' });
      }
    }, 1);
    return w;
  }

  function client(clients, w, extra = {}) {
    const storage = m.memoryStorage();
    storage.setItem(m.TOKEN_KEY, 'tok-test');
    const c = m.createClient(Object.assign({
      baseUrl: 'http://fake.invalid', socketFactory: w.factory, storage, browserEvents: false,
      reconnectBaseMs: 20, reconnectMaxMs: 80, gapSyncDelayMs: 20, floodBackoffMs: 150,
      http: async () => ({ status: 200, header: () => null, body: '{"id":1}' }),
    }, extra));
    c.storage = storage;
    c.got = [];
    c.log = [];
    c.on('chat.message', (d, meta) => c.got.push([d.conversation_id, d.seq, !!meta.recovered]));
    for (const e of ['connecting', 'online', 'offline', 'closed', 'auth_expired', 'account_closed', 'suspended', 'restricted', 'too_many_sockets', 'synced', 'sync_failed', 'logged_out']) {
      c.on(e, (d) => c.log.push(e + (d && d.code ? ':' + d.code : '')));
    }
    clients.push(c);
    return c;
  }
  const seqs = (c, conv) => c.got.filter((g) => g[0] === conv).map((g) => g[1]);
  const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

  await check('authenticates with the subprotocols duoxie.v1 and auth.<token>', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    eq(w.sockets[0].protocols, ['duoxie.v1', 'auth.tok-test'], 'protocols');
    assert(w.sockets[0].url === 'ws://fake.invalid/ws', 'ws url ' + w.sockets[0].url);
  });

  await check('recovery pages through more:true and delivers in order, once, with live messages and duplicates in between', async (clients) => {
    const w = world();
    for (let i = 1; i <= 12; i++) w.add(7, 'm' + i);
    w.add(8, 'a'); w.add(8, 'b');
    const c = client(clients, w);
    c.setCursor(7, 0);
    c.setCursor(8, 1);
    let first = true;
    w.hook = (sock, f) => {
      if (f.type !== 'chat.sync' || !first) return false;
      first = false;
      // Live frames before the first page: ahead of the cursor, out of order, one repeated.
      const s = w.streams.get(7);
      w.live(s[11]); w.live(s[10]); w.live(s[4]); w.live(s[11]);
      w.handle(sock, f);
      return true;
    };
    let atSynced = null;
    c.once('synced', () => { atSynced = seqs(c, 7).slice(); });
    c.connect();
    await until('synced', () => atSynced);
    // The recovery itself pages to the end (not the gap syncs that would get there later).
    eq(atSynced, range(1, 12), 'conversation 7 when synced fires');
    eq(seqs(c, 8), [2], 'conversation 8');
    assert(w.sentOf('chat.sync').length >= 4, 'paged with several chat.sync, sent ' + w.sentOf('chat.sync').length);
    assert(c.got.filter((g) => g[0] === 7 && g[1] <= 4).every((g) => g[2]), 'synced ones are marked recovered');
    // Late duplicates (a live repeat, a sync that answers again) change nothing.
    w.live(w.streams.get(7)[2]);
    w.live(w.streams.get(7)[11]);
    c.setCursor(7, 5); // behind the cursor: ignored
    await c.sync();
    await c.sync();
    eq(seqs(c, 7), range(1, 12), 'conversation 7 after late duplicates');
    eq([c.getCursor(7), c._convs.get(7).pending.size], [12, 0], 'cursor, nothing held back');
  });

  await check('a live message past a gap waits; the gap is filled by chat.sync of that conversation', async (clients) => {
    const w = world();
    for (let i = 1; i <= 3; i++) w.add(5, 'm' + i);
    const c = client(clients, w);
    c.setCursor(5, 3);
    c.connect();
    await until('synced', () => c.log.includes('synced'));
    w.add(5, 'm4'); w.add(5, 'm5');
    const syncsBefore = w.sentOf('chat.sync').length;
    w.live(w.streams.get(5)[4]); // 5 arrives, 4 was "dropped"
    await until('4 and 5', () => seqs(c, 5).length === 2);
    eq(seqs(c, 5), [4, 5], 'delivered');
    const s = w.sentOf('chat.sync').slice(syncsBefore);
    assert(s.length >= 1 && s[0].data.cursors['5'] === 3, 'gap sync from cursor 3: ' + JSON.stringify(s.map((x) => x.data)));
  });

  await check('session.resync runs chat.sync of every tracked conversation', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.setCursor(1, 0); c.setCursor(2, 0); c.setCursor(3, 0);
    c.connect();
    await until('synced', () => c.log.includes('synced'));
    const before = w.sentOf('chat.sync').length;
    w.add(2, 'missed while the bus was down');
    w.frame(w.sock(), { type: 'session.resync', data: { reason: 'bus_recovered' } });
    await until('the missed message', () => seqs(c, 2).length === 1);
    const after = w.sentOf('chat.sync').slice(before);
    eq(Object.keys(after[0].data.cursors).sort(), ['1', '2', '3'], 'cursors');
  });

  await check('send() keeps its client_id across a lost reply and a reconnect; the message is delivered once', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    let dropped = false;
    w.hook = (sock, f) => {
      if (f.type !== 'chat.send' || dropped) return false;
      dropped = true;
      const msg = w.add(9, f.data.text, 1); // committed, but the reply never arrives
      msg.client_id = f.data.client_id;
      w.byClientId.set(f.data.client_id, msg);
      setTimeout(() => sock.drop(1006), 1);
      return true;
    };
    const res = await c.send(9, 'hello');
    const sends = w.sentOf('chat.send');
    eq(sends.length, 2, 'chat.send frames');
    assert(sends[0].data.client_id === sends[1].data.client_id, 'same client_id on the retry');
    assert(sends[0].id !== sends[1].id, 'a new command id on the new socket');
    assert(res.duplicate === true && res.message.client_id === sends[0].data.client_id, 'the retry answered the original');
    eq(seqs(c, 9), [1], 'delivered once');
  });

  await check('send() retries a command that timed out with the same client_id', async (clients) => {
    const w = world();
    const c = client(clients, w, { requestTimeoutMs: 60 });
    c.connect();
    await until('online', () => c.state === 'online');
    let swallowed = false;
    w.hook = (sock, f) => {
      if (f.type !== 'chat.send' || swallowed) return false;
      swallowed = true; // no reply at all: the command times out
      return true;
    };
    const res = await c.send(3, 'are you there?');
    const sends = w.sentOf('chat.send');
    eq(sends.length, 2, 'chat.send frames');
    assert(sends[0].data.client_id === sends[1].data.client_id, 'same client_id after the timeout');
    assert(res.message.client_id === sends[0].data.client_id && res.duplicate === false, 'answered');
    eq(seqs(c, 3), [1], 'delivered once');
  });

  await check('replies are matched to their commands by id, whatever their order', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    const held = [];
    w.hook = (sock, f) => {
      if (f.type !== 'echo') return false;
      held.push(f);
      if (held.length === 3) for (const x of held.slice().reverse()) w.reply(sock, x.id, { n: x.data.n });
      return true;
    };
    const got = await Promise.all([1, 2, 3].map((n) => c.request('echo', { n })));
    eq(got.map((g) => g.n), [1, 2, 3], 'each reply with its command');
    eq(new Set(held.map((f) => f.id)).size, 3, 'distinct ids');
  });

  await check('an error reply is a ClientError with code, message, status, retryAfterMs, field', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    const e1 = await c.request('fail', { error: { code: 'rate_limited', message: 'slow down', retry_after_ms: 1500 } }).catch((e) => e);
    assert(e1 instanceof m.ClientError, 'ClientError');
    eq([e1.code, e1.message, e1.status, e1.retryAfterMs, e1.command], ['rate_limited', 'slow down', 429, 1500, 'fail'], 'fields');
    const e2 = await c.request('fail', { error: { code: 'invalid_field', message: 'text: empty', field: 'text' } }).catch((e) => e);
    eq([e2.code, e2.field, e2.status, e2.retryAfterMs], ['invalid_field', 'text', 400, null], 'fields');
  });

  await check('offline: wait:false rejects at once; waiting commands go on the next connection; the queue is bounded', async (clients) => {
    const w = world();
    const c = client(clients, w, { queueLimit: 3, reconnectBaseMs: 5000, reconnectMaxMs: 5000 });
    c.connect();
    await until('online', () => c.state === 'online');
    w.down = true;
    w.sock().drop(1006);
    await until('offline', () => c.state === 'offline');
    const now = await c.request('echo', { n: 0 }, { wait: false }).catch((e) => e);
    eq([now.code, now instanceof m.ClientError], ['offline', true], 'wait:false');
    const waiting = [1, 2, 3].map((n) => c.request('echo', { n }));
    const over = await c.request('echo', { n: 4 }).catch((e) => e);
    eq(over.code, 'offline', 'the fourth waiting command');
    w.down = false;
    c.reconnectNow();
    eq((await Promise.all(waiting)).map((r) => r.n), [1, 2, 3], 'sent after the reconnect, in order');
  });

  await check('a command in flight when the socket drops: read-only ones go again, others reject disconnected', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    let dropped = false;
    w.hook = (sock, f) => {
      if (dropped || f.type === 'chat.sync') return false;
      if (f.type === 'mod.claim') return true; // never answered: the drop decides
      if (f.type === 'chat.list') {
        dropped = true;
        setTimeout(() => sock.drop(1011), 1);
        return true;
      }
      return false;
    };
    const claim = c.request('mod.claim', { item_id: 1 }).catch((e) => e);
    const list = c.request('chat.list', {});
    eq((await claim).code, 'disconnected', 'mod.claim');
    const again = await list.catch((e) => e);
    assert(again && again.code === 'unknown_type' && w.sentOf('chat.list').length === 2, 'chat.list sent again: ' + JSON.stringify(again));
  });

  const closeCase = async (clients, code) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    c.log.length = 0;
    w.sock().drop(code, 'test');
    return { w, c };
  };
  for (const [code, event, forgets] of [[4001, 'auth_expired', true], [4003, 'account_closed', true], [4005, 'suspended', true], [4010, 'too_many_sockets', false]]) {
    await check(`close ${code}: ${event}, no reconnect, the token is ${forgets ? 'forgotten' : 'kept'}`, async (clients) => {
      const { c } = await closeCase(clients, code);
      eq(c.log, ['closed:' + code, event + ':' + code], 'events');
      eq([c.state, c.loggedIn, !!c.storage.getItem(m.TOKEN_KEY)], ['closed', !forgets, !forgets], 'state, token');
      const e = await c.request('echo', { n: 1 }).catch((x) => x);
      eq(e.code, 'offline', 'a command after it');
    });
  }
  for (const [code, extra] of [[1001, ''], [1011, ''], [4002, ''], [4009, ''], [4004, 'restricted'], [4008, 'flood']]) {
    await check(`close ${code}: reconnects${extra === 'restricted' ? ' (and says restricted)' : extra === 'flood' ? ' after the flood back-off' : ''}`, async (clients) => {
      const { w, c } = await closeCase(clients, code);
      const t0 = Date.now();
      await until('online again', () => c.state === 'online' && w.sockets.length === 2);
      assert(c.log[0] === 'offline:' + code, 'offline first: ' + c.log.join(','));
      if (extra === 'restricted') assert(c.log.includes('restricted:4004'), 'restricted event: ' + c.log.join(','));
      if (extra === 'flood') assert(Date.now() - t0 >= 140, 'waited ' + (Date.now() - t0) + ' ms');
      assert(c.loggedIn, 'token kept');
    });
  }

  await check('a refused handshake (no open, then 1006): /api/me answers 401, auth_expired, no reconnect loop', async (clients) => {
    const w = world();
    w.down = true;
    const c = client(clients, w, {
      http: async () => ({ status: 401, header: () => null, body: '{"error":{"code":"unauthorized","message":"token revoked"}}' }),
    });
    c.connect();
    await until('auth_expired', () => c.log.includes('auth_expired:401'));
    eq([c.state, c.loggedIn], ['closed', false], 'state, token');
  });

  await check('a command above the frame limit is refused locally, never sent', async (clients) => {
    const w = world();
    const c = client(clients, w);
    c.connect();
    await until('online', () => c.state === 'online');
    const e = await c.request('echo', { s: 'x'.repeat(70000) }).catch((x) => x);
    eq(e.code, 'frame_too_large', 'code');
    eq(w.sentOf('echo').length, 0, 'frames sent');
  });

  await check('outgoing frames are paced (token bucket)', async (clients) => {
    const w = world();
    const c = client(clients, w, { rateBurst: 5, ratePerSec: 400 });
    c.connect();
    await until('synced', () => c.log.includes('synced'));
    // No timing: however full the bucket is after the sync's own frames, twenty commands
    // issued at once never go out beyond the burst, and all of them are answered in the end.
    const before = w.sentOf('echo').length;
    const all = Promise.all(Array.from({ length: 20 }, (_, n) => c.request('echo', { n })));
    all.catch(() => {}); // a failed check below must not leave it unhandled
    const atOnce = w.sentOf('echo').length - before;
    assert(atOnce <= 5, `sent at once: got ${atOnce}, want at most the burst of 5`);
    eq((await all).length, 20, 'all answered');
  });

  await check('server events reach on(type) and on("*"); off() stops them; setCursor only moves forward', async (clients) => {
    const w = world();
    const c = client(clients, w);
    const seen = [];
    const h = (d, meta) => seen.push(['presence', d.user_id, meta.type]);
    c.on('presence', h);
    c.on('*', (d, meta) => seen.push(['*', meta.type]));
    c.connect();
    await until('online', () => c.state === 'online');
    w.frame(w.sock(), { type: 'presence', data: { user_id: 2, online: true } });
    c.off('presence', h);
    w.frame(w.sock(), { type: 'presence', data: { user_id: 3, online: false } });
    eq(seen, [['*', 'session.ready'], ['presence', 2, 'presence'], ['*', 'presence'], ['*', 'presence']], 'deliveries');
    eq([c.setCursor(4, 10), c.setCursor(4, 3), c.getCursor(4), c.cursors()['4']], [10, 10, 10, 10], 'cursor');
  });

  return results;
}

// ---------------------------------------------------------------- the scenario

// In the page: the shared client with a socket adapter that can cut the network.
function installHarness({ reconnectBaseMs, reconnectMaxMs }) {
  return (async () => {
    const m = await import('/static/js/client.js');
    const i18n = await import('/static/js/i18n.js');
    const net = { down: false, current: null, opened: 0, refused: 0 };
    const factory = (url, protocols) => {
      if (net.down) {
        // No network: the connection fails without ever opening, as a browser reports it.
        net.refused += 1;
        const dead = { onopen: null, onmessage: null, onclose: null, onerror: null, send() { throw new Error('down'); }, close() {} };
        setTimeout(() => {
          if (dead.onerror) dead.onerror();
          if (dead.onclose) dead.onclose({ code: 1006, reason: '' });
        }, 30);
        return dead;
      }
      const real = m.browserSocketFactory(url, protocols);
      const proxy = {
        onopen: null, onmessage: null, onclose: null, onerror: null,
        send: (text) => real.send(text),
        close: (code, reason) => real.close(code, reason),
        // The network dies under the socket: the library hears an abnormal close (1006) and
        // nothing more from it; whatever the server still sends to it is lost.
        cut() {
          real.onopen = real.onmessage = real.onclose = real.onerror = null;
          real.close(1000, 'test cut');
          if (proxy.onclose) proxy.onclose({ code: 1006, reason: '' });
        },
      };
      real.onopen = () => proxy.onopen && proxy.onopen();
      real.onmessage = (data) => proxy.onmessage && proxy.onmessage(data);
      real.onclose = (evt) => proxy.onclose && proxy.onclose(evt);
      real.onerror = () => proxy.onerror && proxy.onerror();
      net.current = proxy;
      net.opened += 1;
      return proxy;
    };
    const client = m.createClient({ socketFactory: factory, reconnectBaseMs, reconnectMaxMs });
    const t = { m, i18n, client, net, msgs: [], states: [] };
    client.on('chat.message', (msg, meta) => t.msgs.push({
      conversation_id: msg.conversation_id, seq: msg.seq, text: msg.text, client_id: msg.client_id,
      sender_id: msg.sender_id, recovered: !!meta.recovered,
    }));
    for (const s of ['connecting', 'online', 'offline', 'closed', 'synced', 'sync_failed', 'auth_expired', 'logged_out', 'restricted', 'suspended', 'account_closed', 'too_many_sockets']) {
      client.on(s, (d) => t.states.push({ s, code: (d && d.code) || null, at: Date.now() }));
    }
    window.__dx = t;
    return client.state;
  })();
}

// The protocol frames a page's sockets carried, complete (lib.mjs keeps only summaries).
function frameLog(page) {
  const log = { sent: [], replies: new Map() };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      try {
        const frame = JSON.parse(String(f.payload));
        if (frame && frame.id) log.sent.push(frame);
      } catch (_) { /* not ours */ }
    });
    ws.on('framereceived', (f) => {
      try {
        const frame = JSON.parse(String(f.payload));
        if (frame && frame.re != null) log.replies.set(frame.re, frame);
      } catch (_) { /* not ours */ }
    });
  });
  return log;
}

function randomPhone(prefix) {
  let digits = '';
  for (let i = 0; i < 8; i++) digits += Math.floor(Math.random() * 10);
  return prefix + digits;
}

/**
 * Runs the scenario. Resolves {ok, failed: [step names]}; prints ok/FAIL lines as it goes.
 * @param {{base: string, buyerPhone?: string, sellerPhone?: string, artifacts?: string|null, fromDisk?: boolean}} opts
 */
export async function run({ base, buyerPhone, sellerPhone, artifacts = null, fromDisk = false } = {}) {
  if (!base) throw new Error('run({base}): the server URL is required');
  base = base.replace(/\/+$/, '');
  buyerPhone = buyerPhone || randomPhone('199');
  sellerPhone = sellerPhone || randomPhone('198');
  const r = new Run({ artifacts });
  class Abort extends Error {}

  // A step later steps depend on: a failure saves the artifacts and ends the run.
  const step = async (name, fn) => {
    r.current = name;
    try {
      const v = await fn();
      console.log(`ok: ${name}`);
      return v;
    } catch (err) {
      const reason = err instanceof StepError ? err.message : oneLine((err && (err.stack || err.message)) || String(err));
      console.log(`FAIL: ${name}: ${reason}`);
      r.failed.push(name);
      await r.saveFailure(name);
      throw new Abort(name);
    }
  };

  const codes = protocolErrorCodes();
  const library = []; // console messages that came from static/js/

  try {
    await r.launch();
    const buyer = await r.newPhonePage('buyer');
    const seller = await r.newPhonePage('seller');
    const frames = new Map();
    for (const e of [buyer, seller]) {
      frames.set(e, frameLog(e.page));
      e.page.on('console', (msg) => {
        const url = (msg.location() && msg.location().url) || '';
        if (url.includes('/static/js/')) library.push(`${e.label} [console.${msg.type()}] ${oneLine(msg.text())}`);
      });
      if (fromDisk) {
        await e.page.context().route('**/static/js/**', async (route) => {
          const path = decodeURIComponent(new URL(route.request().url()).pathname.replace(/^\/static\//, ''));
          const file = normalize(join(STATIC, path));
          if (!file.startsWith(STATIC + sep) || !existsSync(file)) return route.fulfill({ status: 404, body: '' });
          return route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: readFileSync(file, 'utf8') });
        });
      }
    }
    const bp = buyer.page;
    const sp = seller.page;
    const dx = (page, fn, arg) => page.evaluate(fn, arg);

    // 1
    await step('1. the library and its tables load from /static/js/; both locales cover every key and every error code', async () => {
      for (const e of [buyer, seller]) {
        await e.page.goto(base + '/', { waitUntil: 'domcontentloaded' });
        const res = await e.page.request.get(base + '/static/js/client.js').catch(() => null);
        if (!fromDisk && (!res || !res.ok())) fail(`GET /static/js/client.js answered ${res ? res.status() : 'nothing'} (set DUOXIE_CLIENT_FROM_DISK=1 for a server that does not serve static/js/ yet)`);
        const state = await dx(e.page, installHarness, { reconnectBaseMs: 250, reconnectMaxMs: 1500 });
        if (state !== 'idle') fail(`a fresh client is ${state}, not idle`);
      }
      const tables = await dx(bp, async (errorCodes) => {
        const { i18n } = window.__dx;
        // The merged tables: the core one and every page's part (locales/*.js).
        const zh = i18n.tableOf('zh-CN');
        const en = i18n.tableOf('en');
        const zk = Object.keys(zh);
        const ek = Object.keys(en).filter((k) => !k.includes('#'));
        const cjk = /[\u3400-\u9fff]/;
        return {
          onlyZh: zk.filter((k) => !(k in en)),
          onlyEn: ek.filter((k) => !(k in zh)),
          nonString: [...zk.filter((k) => typeof zh[k] !== 'string'), ...ek.filter((k) => typeof en[k] !== 'string')],
          missingError: errorCodes.filter((c) => !(('error.' + c) in zh) || !(('error.' + c) in en)),
          zhWithoutChinese: errorCodes.filter((c) => !cjk.test(zh['error.' + c] || '')),
          enWithChinese: Object.entries(en).filter(([, v]) => cjk.test(v) && !/[《》]/.test(v)).map(([k]) => k),
          notInLibraryList: errorCodes.filter((c) => !i18n.PROTOCOL_ERROR_CODES.includes(c)),
          brand: [zh['brand.name'], en['brand.name']],
          wrongBrand: Object.entries(zh).filter(([, v]) => v.includes('多谢')).map(([k]) => k),
          tabs: ['tab.messages', 'tab.live', 'tab.community', 'tab.me'].map((k) => [zh[k], en[k]]),
          reasons: ['fake_goods', 'fraud', 'harassment', 'off_platform', 'other'].map((k) => zh['reason.' + k]),
          legal: [zh['legal.user_agreement'], zh['legal.privacy_policy']],
          recall: [zh['chat.recall'], zh['chat.recalled_self'], zh['chat.recalled_peer']],
          size: zk.length,
        };
      }, codes);
      const problems = [];
      if (tables.onlyZh.length) problems.push('keys only in zh-CN: ' + tables.onlyZh.join(', '));
      if (tables.onlyEn.length) problems.push('keys only in en: ' + tables.onlyEn.join(', '));
      if (tables.nonString.length) problems.push('values that are not strings: ' + tables.nonString.join(', '));
      if (tables.missingError.length) problems.push('error codes of docs/protocol.md without a text: ' + tables.missingError.join(', '));
      if (tables.zhWithoutChinese.length) problems.push('zh-CN error texts without Chinese: ' + tables.zhWithoutChinese.join(', '));
      if (tables.enWithChinese.length) problems.push('en texts with Chinese: ' + tables.enWithChinese.join(', '));
      if (tables.notInLibraryList.length) problems.push('codes missing from i18n.PROTOCOL_ERROR_CODES: ' + tables.notInLibraryList.join(', '));
      if (tables.wrongBrand.length) problems.push('多谢 instead of the brand 多些 in: ' + tables.wrongBrand.join(', '));
      if (JSON.stringify(tables.brand) !== JSON.stringify(['多些', 'Duoxie'])) problems.push('brand: ' + tables.brand.join(' / '));
      if (JSON.stringify(tables.tabs) !== JSON.stringify([['消息', 'Messages'], ['直播', 'Live'], ['社区', 'Community'], ['我的', 'Me']])) problems.push('tab bar: ' + JSON.stringify(tables.tabs));
      if (tables.reasons.join(',') !== '假货,诈骗,骚扰,站外交易,其他') problems.push('reasons: ' + tables.reasons.join(','));
      if (tables.legal.join('') !== '《用户协议》《隐私政策》') problems.push('legal: ' + tables.legal.join(''));
      if (tables.recall.join('|') !== '撤回|你撤回了一条消息|对方撤回了一条消息') problems.push('recall: ' + tables.recall.join('|'));
      if (problems.length) fail(problems.join('; '));
      console.log(`  ${tables.size} keys per locale; ${codes.length} error codes from docs/protocol.md, each with zh-CN and en text`);
    });

    // 2
    await step('2. library self-checks against a scripted socket (order, dedupe, paging, gaps, retries, close codes, queue)', async () => {
      const results = await dx(bp, libraryChecks, '/static/js/client.js');
      for (const x of results) console.log(`  ${x.ok ? 'ok' : 'FAIL'}: ${x.name}${x.ok ? '' : ' — ' + x.detail}`);
      const bad = results.filter((x) => !x.ok);
      if (!results.length) fail('no self-check ran');
      if (bad.length) fail(`${bad.length} of ${results.length} self-checks failed: ${bad.map((x) => x.name).join('; ')}`);
    });

    // 3
    const users = {};
    await step('3. both users log in through the library (dev code; age bracket for a new account) and come online', async () => {
      for (const [label, e, phone] of [['buyer', buyer, buyerPhone], ['seller', seller, sellerPhone]]) {
        const out = await dx(e.page, async (p) => {
          const { client } = window.__dx;
          const sent = await client.requestCode(p);
          if (!sent.dev_code) return { error: 'the code answer has no dev_code: run the server with DUOXIE_AUTH_DEV_CODES=true' };
          const fields = { phone: p, code: sent.dev_code, age_bracket: 'adult' };
          let res;
          try {
            res = await client.login(fields);
          } catch (err) {
            // A server that requires the user agreement and privacy policy in force to be accepted
            // at a code login (policy_not_accepted, refused before the code is spent): accept the
            // version GET /api/legal/privacy_policy shows, as the login page does.
            if (err.code !== 'policy_not_accepted') throw err;
            const policy = await client.api('GET', '/api/legal/privacy_policy', undefined, { auth: false });
            res = await client.login(Object.assign(fields, { accepted_policy_version: policy.version }));
          }
          return {
            id: res.user && res.user.id,
            standing: res.user && res.user.standing,
            tokenInAnswer: 'token' in res,
            stored: !!localStorage.getItem('duoxie.token'),
            loggedIn: client.loggedIn,
          };
        }, phone).catch((err) => ({ error: oneLine(err.message) }));
        if (out.error) fail(`${label}: ${out.error}`);
        if (out.tokenInAnswer) fail(`${label}: login() hands the token to the page`);
        if (!out.stored || !out.loggedIn) fail(`${label}: the token was not kept`);
        if (out.standing && out.standing !== 'full') fail(`${label}: standing ${out.standing} (the test accounts must be adults)`);
        users[label] = out;
        await waitUntil(`${label} online and synced`, () => dx(e.page, () =>
          window.__dx.client.state === 'online' && window.__dx.states.some((s) => s.s === 'synced')),
        { describe: () => dx(e.page, () => JSON.stringify(window.__dx.states.slice(-5))) });
      }
      console.log(`  buyer #${users.buyer.id}, seller #${users.seller.id}`);
    });

    // 4
    let convId = null;
    await step('4. the buyer opens a conversation with the seller (chat.open); the seller lists it; both track it', async () => {
      const opened = await dx(bp, async (peer) => {
        const { client } = window.__dx;
        const res = await client.request('chat.open', { peer_id: peer, listing_ref: 'jade-bangle-' + Date.now().toString(36) });
        return { id: res.conversation.id, last_seq: res.conversation.last_seq, cursor: client.getCursor(res.conversation.id) };
      }, users.seller.id);
      convId = opened.id;
      if (opened.cursor !== (opened.last_seq || 0)) fail(`buyer's cursor ${opened.cursor}, last_seq ${opened.last_seq}`);
      const listed = await dx(sp, async (id) => {
        const { client } = window.__dx;
        const res = await client.request('chat.list', { limit: 50 });
        return { found: res.conversations.some((c) => c.id === id), cursor: client.getCursor(id) };
      }, convId);
      if (!listed.found) fail(`conversation #${convId} not in the seller's chat.list`);
      if (listed.cursor !== 0) fail(`seller's cursor ${listed.cursor}, want 0 for a new conversation`);
      console.log(`  conversation #${convId}`);
    });

    const acks = []; // every committed message: {client_id, seq, text, from}
    const sendAll = async (entry, from, texts, { concurrent = true } = {}) => {
      const out = await dx(entry.page, async ({ id, list, together }) => {
        const { client } = window.__dx;
        const ids = list.map(() => client.newClientId());
        const one = (text, i) => client.send(id, text, ids[i]).then((r) => ({
          client_id: ids[i], got: r.message && r.message.client_id, seq: r.message && r.message.seq,
          text: r.message && r.message.text, held: !!r.held, duplicate: !!r.duplicate,
        }), (e) => ({ client_id: ids[i], error: e.code + ': ' + e.message }));
        if (together) return Promise.all(list.map(one));
        const res = [];
        for (let i = 0; i < list.length; i++) res.push(await one(list[i], i));
        return res;
      }, { id: convId, list: texts, together: concurrent });
      for (const a of out) {
        if (a.error) fail(`${from} send failed: ${a.error}`);
        if (a.held) fail(`${from}: "${a.text}" was held by moderation`);
        if (a.got !== a.client_id) fail(`${from}: reply for client_id ${a.client_id} carries ${a.got}`);
        if (!(a.seq > 0)) fail(`${from}: no seq in the reply for ${a.client_id}`);
        acks.push(Object.assign({ from }, a));
      }
      return out;
    };

    // The acks of chat.send, matched to the command they answer by its id, in the frame log.
    const checkAcksById = (entry, sent) => {
      const log = frames.get(entry);
      for (const a of sent) {
        const cmds = log.sent.filter((f) => f.type === 'chat.send' && f.data && f.data.client_id === a.client_id);
        if (!cmds.length) fail(`${entry.label}: no chat.send frame with client_id ${a.client_id}`);
        const answered = cmds.map((c) => log.replies.get(c.id)).filter(Boolean);
        if (!answered.length) fail(`${entry.label}: no reply whose re is the id of the chat.send of ${a.client_id} (${cmds.map((c) => c.id).join(', ')})`);
        const last = answered[answered.length - 1];
        if (!last.ok || !last.data || !last.data.message || last.data.message.client_id !== a.client_id || last.data.message.seq !== a.seq) {
          fail(`${entry.label}: reply ${last.re} does not answer client_id ${a.client_id} with seq ${a.seq}: ${oneLine(JSON.stringify(last)).slice(0, 300)}`);
        }
      }
      const ids = log.sent.map((f) => f.id);
      if (new Set(ids).size !== ids.length) fail(`${entry.label}: a command id was used twice on the wire`);
    };

    // Every message of the conversation exactly once, in seq order, matching the acks.
    const checkStream = async (entry, what) => {
      const expected = acks.slice().sort((a, b) => a.seq - b.seq).map((a) => [a.seq, a.text]);
      await waitUntil(`${entry.label} to hold all ${expected.length} messages (${what})`, async () =>
        (await dx(entry.page, (id) => window.__dx.msgs.filter((m) => m.conversation_id === id).length, convId)) >= expected.length,
      { describe: async () => 'got seqs ' + JSON.stringify(await dx(entry.page, (id) => window.__dx.msgs.filter((m) => m.conversation_id === id).map((m) => m.seq), convId)) });
      const got = await dx(entry.page, (id) => window.__dx.msgs.filter((m) => m.conversation_id === id), convId);
      const seqList = got.map((m) => m.seq);
      const dup = seqList.filter((s, i) => seqList.indexOf(s) !== i);
      if (dup.length) fail(`${entry.label}: delivered twice: seq ${dup.join(', ')}`);
      for (let i = 1; i < seqList.length; i++) {
        if (seqList[i] !== seqList[i - 1] + 1) fail(`${entry.label}: out of order or with a hole: ${seqList.join(',')}`);
      }
      const pairs = got.map((m) => [m.seq, m.text]);
      if (JSON.stringify(pairs) !== JSON.stringify(expected)) {
        fail(`${entry.label}: got ${oneLine(JSON.stringify(pairs))}, want ${oneLine(JSON.stringify(expected))}`);
      }
      return got;
    };

    // 5
    await step('5. messages both ways, sent concurrently; each ack matched to its command by id; both sides get all, once, in order', async () => {
      const b = await sendAll(buyer, 'buyer', ['你好，这只翡翠手镯还在吗？', '买家消息 B2', '买家消息 B3']);
      const s = await sendAll(seller, 'seller', ['在的，欢迎咨询', '卖家消息 S2', '卖家消息 S3']);
      checkAcksById(buyer, b);
      checkAcksById(seller, s);
      await checkStream(buyer, 'live');
      await checkStream(seller, 'live');
    });

    // 6
    await step('6. the buyer drops offline (abnormal close, no network) while the seller sends; after the reconnect every message arrives once, in order', async () => {
      const before = await dx(bp, (id) => window.__dx.client.getCursor(id), convId);
      const offline = await dx(bp, (id) => {
        const t = window.__dx;
        t.net.down = true;
        t.net.current.cut();
        const state = t.client.state;
        // Made while offline: waits for the connection and goes out after the reconnect.
        t.offlineSend = { clientId: t.client.newClientId() };
        t.offlineSend.promise = t.client.send(id, '离线时写的消息', t.offlineSend.clientId).then(
          (r) => { t.offlineSend.reply = { seq: r.message.seq, client_id: r.message.client_id, text: r.message.text, held: !!r.held }; },
          (e) => { t.offlineSend.error = e.code; });
        return t.client.request('chat.list', {}, { wait: false }).then(
          () => ({ state, immediate: 'answered' }),
          (e) => ({ state, immediate: e.code, isClientError: e instanceof t.m.ClientError }));
      }, convId);
      if (offline.state !== 'offline') fail(`after the cut the client is ${offline.state}, not offline`);
      if (offline.immediate !== 'offline' || !offline.isClientError) fail(`request(…, {wait:false}) while offline: ${JSON.stringify(offline)}`);

      // The seller sends while the buyer is away: acks by id, nothing reaches the buyer.
      const during = await sendAll(seller, 'seller', ['卖家消息 S4', '卖家消息 S5', '卖家消息 S6', '卖家消息 S7'], { concurrent: false });
      checkAcksById(seller, during);
      await waitUntil('the buyer to try reconnecting without network', () => dx(bp, () => window.__dx.net.refused >= 1));
      const stillOld = await dx(bp, (id) => window.__dx.msgs.filter((m) => m.conversation_id === id).length, convId);
      if (stillOld !== 6) fail(`the buyer got messages while offline (${stillOld})`);

      // The network comes back; the seller sends a burst while the buyer reconnects and syncs.
      const [, burst] = await Promise.all([
        dx(bp, () => { window.__dx.net.down = false; window.__dx.client.reconnectNow(); }),
        sendAll(seller, 'seller', ['卖家消息 S8', '卖家消息 S9', '卖家消息 S10']),
      ]);
      checkAcksById(seller, burst);
      await waitUntil('the buyer online again', () => dx(bp, () => window.__dx.client.state === 'online'));
      await waitUntil('the buyer\'s offline send to be answered', () => dx(bp, () => !!(window.__dx.offlineSend.reply || window.__dx.offlineSend.error)));
      const os = await dx(bp, () => window.__dx.offlineSend);
      if (os.error) fail('the send made offline failed: ' + os.error);
      if (os.reply.client_id !== os.clientId || os.reply.held) fail('the send made offline: ' + JSON.stringify(os.reply));
      acks.push({ from: 'buyer', client_id: os.clientId, seq: os.reply.seq, text: os.reply.text });
      checkAcksById(buyer, [{ client_id: os.clientId, seq: os.reply.seq }]);

      const got = await checkStream(buyer, 'after the reconnect');
      await checkStream(seller, 'after the buyer\'s reconnect');
      const missed = got.filter((m) => during.some((d) => d.seq === m.seq));
      if (!missed.every((m) => m.recovered)) fail('messages sent while the buyer was away did not come through chat.sync: ' + JSON.stringify(missed));
      const log = frames.get(buyer);
      const syncs = log.sent.filter((f) => f.type === 'chat.sync' && f.data && f.data.cursors && String(convId) in f.data.cursors);
      if (!syncs.some((f) => f.data.cursors[String(convId)] === before)) {
        fail(`no chat.sync from the cursor held before the drop (${before}): ${oneLine(JSON.stringify(syncs.map((f) => f.data.cursors)))}`);
      }
      const states = await dx(bp, () => window.__dx.states.map((s) => s.s));
      console.log(`  buyer states: ${states.join(' → ')}`);
      console.log(`  ${got.length} messages, seq 1–${got[got.length - 1].seq}, ${missed.length} recovered by chat.sync`);
    });

    // 7
    await step('7. errorText() of real server errors in zh-CN and en; the language is remembered; applyI18n fills the DOM', async () => {
      const out = await dx(bp, async (id) => {
        const { client, i18n, m } = window.__dx;
        const both = (err) => {
          i18n.setLocale('zh-CN');
          const zh = i18n.errorText(err);
          const fallbackZh = i18n.errorText('no_such_code');
          i18n.setLocale('en');
          const en = i18n.errorText(err);
          const stored = localStorage.getItem('duoxie.locale');
          i18n.setLocale('zh-CN');
          return { code: err.code, status: err.status, message: err.message, field: err.field || null, isClientError: err instanceof m.ClientError, zh, en, stored, fallbackZh };
        };
        const errors = [];
        await client.api('GET', '/api/users/abc').then(() => errors.push({ none: 'GET /api/users/abc' }), (e) => errors.push(both(e)));
        await client.request('chat.send', { conversation_id: id, client_id: client.newClientId(), text: '长'.repeat(4001) })
          .then(() => errors.push({ none: 'chat.send of 4001 characters' }), (e) => errors.push(both(e)));
        await client.request('chat.send', { conversation_id: id, client_id: client.newClientId() })
          .then(() => errors.push({ none: 'chat.send without text or media' }), (e) => errors.push(both(e)));
        const node = document.createElement('div');
        node.innerHTML = '<span data-i18n="tab.messages"></span><input data-i18n-placeholder="chat.input_placeholder">' +
          '<button data-i18n="action.send" data-i18n-title="brand.name" data-i18n-aria-label="chat.send_photo"></button>';
        let changed = 0;
        const stop = i18n.onLocaleChange(() => { changed += 1; });
        i18n.setLocale('en');
        i18n.applyI18n(node);
        const enDom = [node.querySelector('span').textContent, node.querySelector('input').placeholder,
          node.querySelector('button').textContent, node.querySelector('button').title, node.querySelector('button').getAttribute('aria-label')];
        i18n.setLocale('zh-CN');
        i18n.applyI18n(node);
        const zhDom = [node.querySelector('span').textContent, node.querySelector('input').placeholder,
          node.querySelector('button').textContent, node.querySelector('button').title, node.querySelector('button').getAttribute('aria-label')];
        stop();
        return { errors, enDom, zhDom, changed, locale: i18n.getLocale(), stored: localStorage.getItem('duoxie.locale') };
      }, convId);
      const want = [['not_found', 404], ['text_too_long', 400], ['invalid_field', 400]];
      out.errors.forEach((e, i) => {
        if (e.none) fail(`no error from ${e.none}`);
        const [code, status] = want[i];
        if (e.code !== code || e.status !== status || !e.isClientError) fail(`error ${i + 1}: ${JSON.stringify({ code: e.code, status: e.status, isClientError: e.isClientError })}, want ${code} ${status}`);
        if (!CJK.test(e.zh)) fail(`zh-CN text of ${code} has no Chinese: "${e.zh}"`);
        if (CJK.test(e.en) || !/[a-z]{3}/i.test(e.en)) fail(`en text of ${code}: "${e.en}"`);
        if (e.zh === e.en || e.zh === e.fallbackZh) fail(`${code}: texts not specific: "${e.zh}" / "${e.en}"`);
        if (e.message && (e.zh.includes(e.message) || e.en.includes(e.message))) fail(`${code}: the server's developer message is shown to users`);
        if (e.stored !== 'en') fail(`setLocale('en') was not remembered (stored ${e.stored})`);
        console.log(`  ${code}${e.field ? ' (' + e.field + ')' : ''}: "${e.zh}" / "${e.en}"`);
      });
      if (JSON.stringify(out.enDom) !== JSON.stringify(['Messages', 'Type a message…', 'Send', 'Duoxie', 'Send a photo'])) fail('applyI18n en: ' + JSON.stringify(out.enDom));
      if (JSON.stringify(out.zhDom) !== JSON.stringify(['消息', '输入消息…', '发送', '多些', '发送图片'])) fail('applyI18n zh-CN: ' + JSON.stringify(out.zhDom));
      if (out.changed !== 2 || out.locale !== 'zh-CN' || out.stored !== 'zh-CN') fail(`onLocaleChange ${out.changed}, locale ${out.locale}, stored ${out.stored}`);
    });

    // 8
    await step('8. logout(): the socket closes without a reconnect, the token is forgotten and revoked', async () => {
      const out = await dx(bp, async () => {
        const t = window.__dx;
        const token = localStorage.getItem('duoxie.token');
        const mark = t.states.length;
        await t.client.logout();
        const after = t.states.slice(mark).map((s) => s.s);
        const res = await fetch('/api/me', { headers: { Authorization: 'Bearer ' + token } });
        return { after, state: t.client.state, stored: localStorage.getItem('duoxie.token'), loggedIn: t.client.loggedIn, oldTokenStatus: res.status };
      });
      if (out.state !== 'closed' || out.stored !== null || out.loggedIn) fail(`after logout: ${JSON.stringify(out)}`);
      if (!out.after.includes('logged_out') || out.after.includes('offline') || out.after.includes('auth_expired')) fail('events after logout: ' + out.after.join(', '));
      if (out.oldTokenStatus !== 401) fail(`the old token still answers ${out.oldTokenStatus} on /api/me`);
      await waitUntil('the buyer\'s socket to be gone for good', () => dx(bp, () => window.__dx.client.state === 'closed'));
    });

    await r.check('9. the library wrote nothing to the console', async () => {
      if (library.length) fail(library.join(' | '));
      for (const e of [buyer, seller]) {
        const mine = e.errors.filter((x) => x.includes('/static/js/'));
        if (mine.length) fail(`${e.label}: ${mine.join(' | ')}`);
      }
    });
  } catch (err) {
    if (!(err instanceof Abort)) {
      console.log(`FAIL: ${r.current || 'setup'}: ${oneLine((err && (err.stack || err.message)) || err)}`);
      r.failed.push(r.current || 'setup');
      await r.saveFailure(r.current || 'setup');
    }
  } finally {
    await r.close();
  }
  const ok = r.failed.length === 0;
  console.log(ok ? 'PASS: client_library' : `FAILED: client_library: ${r.failed.join('; ')}`);
  return { ok, failed: r.failed.slice() };
}

// ---------------------------------------------------------------- as a script

const main = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href;
if (main) {
  const result = await run({
    base: env('DUOXIE_BASE_URL'),
    buyerPhone: env('DUOXIE_BUYER_PHONE', { required: false }),
    sellerPhone: env('DUOXIE_SELLER_PHONE', { required: false }),
    artifacts: env('DUOXIE_ARTIFACTS', { required: false }),
    fromDisk: /^(1|true|yes)$/i.test(env('DUOXIE_CLIENT_FROM_DISK', { required: false }) || ''),
  });
  process.exit(result.ok ? 0 : 1);
}
