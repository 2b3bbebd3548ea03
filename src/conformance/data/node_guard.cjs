// Network guard of the conformance suite, preloaded into every Node.js process a worker check
// starts (NODE_OPTIONS=--require <this file>; a CommonJS preload also runs before an ES module
// entry). Why: workers written with node-telegram-bot-api, telegraf or grammY talk to
// https://api.telegram.org by default, and a worker started with a real token would otherwise
// poll the production bot's updates during a test run.
//
// - Requests for the Telegram Bot API host (http/https.request and .get, fetch, and libraries on
//   top of them: node-fetch, axios, got, request) are re-targeted to the fake Bot API of the
//   check (plain HTTP on loopback, same /bot<token>/<method> path).
// - Any other connection that is not loopback (or an allowed host) is refused before a DNS
//   lookup or a connect: net/tls sockets, fetch, dns lookups and resolves, UDP sends.
// - On loopback, the usual ports of servers no check starts (a developer's Redis, PostgreSQL,
//   ...) are refused too, and so are Unix sockets named like theirs: their data is not the test run's.
// - Every decision is appended to a JSON-lines record (one object per line) that the suite
//   reads after the run: "start" (a process loaded the guard), "routed", "refused", "loopback",
//   with the host, the API used and the first file:line of the stack outside the guard and
//   node's internals (outside node_modules when the stack has such a frame).
// - Child processes get the guard even when the parent passes an environment without it.
//
// Configuration (set by the suite, never by the spec): CONFORMANCE_NODE_GUARD_TELEGRAM (the
// fake's http://127.0.0.1:<port>, empty: Telegram is refused too), CONFORMANCE_NODE_GUARD_ALLOW
// (comma-separated extra hosts, and socket paths starting with /), CONFORMANCE_NODE_GUARD_PROTECT
// (comma-separated loopback ports refused), CONFORMANCE_NODE_GUARD_SOCKETS (comma-separated name
// patterns of data servers' Unix sockets, * a wildcard), CONFORMANCE_NODE_GUARD_RECORD (the record file).
// Not a sandbox against hostile code: a process can restore what is patched here, and native
// addons open sockets below JavaScript.
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const http = require('node:http');
const https = require('node:https');
const dns = require('node:dns');
const dgram = require('node:dgram');
const childProcess = require('node:child_process');
const { syncBuiltinESMExports } = require('node:module');
const { fileURLToPath } = require('node:url');

const GUARD_FILE = __filename;
const ENV_KEYS = ['CONFORMANCE_NODE_GUARD_TELEGRAM', 'CONFORMANCE_NODE_GUARD_ALLOW', 'CONFORMANCE_NODE_GUARD_PROTECT',
  'CONFORMANCE_NODE_GUARD_SOCKETS', 'CONFORMANCE_NODE_GUARD_RECORD'];
const CONFIG = Object.fromEntries(ENV_KEYS.map((key) => [key, process.env[key] || '']));
const TELEGRAM_HOSTS = new Set(['api.telegram.org']);
const TELEGRAM = CONFIG.CONFORMANCE_NODE_GUARD_TELEGRAM ? new URL(CONFIG.CONFORMANCE_NODE_GUARD_TELEGRAM) : null;
const ALLOW_ENTRIES = CONFIG.CONFORMANCE_NODE_GUARD_ALLOW.split(',').filter(Boolean);
const ALLOWED = new Set(ALLOW_ENTRIES.filter((h) => !h.startsWith('/')).map((h) => bareHost(h)));
const ALLOWED_SOCKETS = new Set(ALLOW_ENTRIES.filter((h) => h.startsWith('/')));
const SOCKET_PATTERNS = CONFIG.CONFORMANCE_NODE_GUARD_SOCKETS.split(',').filter(Boolean).map((glob) => new RegExp(
  `^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`));
const PROTECTED = new Set(CONFIG.CONFORMANCE_NODE_GUARD_PROTECT.split(',').map(Number).filter(Boolean));
const RECORD = CONFIG.CONFORMANCE_NODE_GUARD_RECORD;
const REQUIRE_OPTION = `--require ${JSON.stringify(GUARD_FILE)}`;

if (!globalThis.__conformanceNodeGuard) {
  globalThis.__conformanceNodeGuard = true;
  install();
}

function bareHost(host) {
  let text = String(host || '').trim().toLowerCase();
  if (text.startsWith('[') && text.includes(']')) text = text.slice(1, text.indexOf(']'));
  return text.endsWith('.') ? text.slice(0, -1) : text;
}

function isLoopback(host) {
  const h = bareHost(host);
  if (h === '' || h === 'localhost' || h.endsWith('.localhost') || h === '::1' || h === '0.0.0.0' || h === '::') {
    return true;
  }
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (h.startsWith('::ffff:')) return isLoopback(h.slice(7));
  return false;
}

const isTelegram = (host) => TELEGRAM_HOSTS.has(bareHost(host));
const isAllowed = (host) => isLoopback(host) || ALLOWED.has(bareHost(host));
const isProtected = (host, port) => isLoopback(host) && PROTECTED.has(Number(port));
const isServiceSocket = (path) => typeof path === 'string' && !ALLOWED_SOCKETS.has(path)
  && SOCKET_PATTERNS.some((pattern) => pattern.test(path.slice(path.lastIndexOf('/') + 1)));

function record(event) {
  if (!RECORD) return;
  try {
    fs.appendFileSync(RECORD, `${JSON.stringify({ pid: process.pid, ...event })}\n`);
  } catch {
    // The record is evidence for the suite, never a reason to break the worker.
  }
}

/** The first stack frame outside this file and node's internals: {file, line}. */
function callSite() {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 100;
  const stack = new Error().stack || '';
  Error.stackTraceLimit = limit;
  const frames = [];
  for (const text of stack.split('\n').slice(1)) {
    const match = /(?:\(|\s)((?:file:\/\/)?\/[^()]*?):(\d+):\d+\)?$/.exec(text.trim());
    if (!match) continue;
    let file = match[1];
    if (file.startsWith('file://')) {
      try { file = fileURLToPath(file); } catch { continue; }
    }
    if (file === GUARD_FILE) continue;
    frames.push({ file, line: Number(match[2]) });
  }
  return frames.find((f) => !f.file.split('/').includes('node_modules')) || frames[0] || null;
}

function refusal(host, port, via, reason) {
  const where = callSite();
  const service = reason === 'service' || isProtected(host, port);
  const name = String(host).startsWith('unix:') ? String(host) : bareHost(host); // a socket path keeps its case
  record({ event: 'refused', host: name, port: port ? Number(port) : null, via, site: where,
    ...(service ? { reason: 'service' } : {}) });
  const shown = port ? `${name}:${port}` : name;
  const at = where ? ` from ${where.file}:${where.line}` : '';
  const why = service ? 'a server the check did not start' : 'a test run stays on loopback';
  process.stderr.write(`conformance guard: refused ${via} to ${shown}${at} (${why})\n`);
  const err = new Error(`connect ECONNREFUSED ${shown}: refused by the conformance guard (${service ? `${why})`
    : `${why}; api.telegram.org goes to the fake Bot API)`}`);
  err.code = 'ECONNREFUSED';
  err.errno = -111;
  err.syscall = 'connect';
  err.host = bareHost(host);
  if (port) err.port = Number(port);
  return err;
}

function routed(host, port, via) {
  record({ event: 'routed', host: bareHost(host), port: port ? Number(port) : null, via, site: callSite() });
}

// -- sockets: the gate every TCP connection passes ----------------------------------------------
function socketTarget(args) {
  // Socket.prototype.connect(options[, cb]) | (port[, host][, cb]) | (path[, cb]) | ([options, cb]) (net.connect)
  let first = args[0];
  if (Array.isArray(first)) first = first[0];
  if (first && typeof first === 'object') {
    if (first.path) return { path: first.path };
    return { host: first.host || 'localhost', port: first.port };
  }
  if (typeof first === 'string' && !/^\d+$/.test(first)) return { path: first };
  return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first };
}

function withTarget(args, host, port) {
  // The same call with host/port replaced (net.connect passes a normalized [options, cb] array).
  const first = args[0];
  if (Array.isArray(first)) {
    const copy = [{ ...first[0], host, port }, first[1]];
    for (const symbol of Object.getOwnPropertySymbols(first)) copy[symbol] = first[symbol];
    return [copy, ...args.slice(1)];
  }
  if (first && typeof first === 'object') return [{ ...first, host, port }, ...args.slice(1)];
  const cb = args.find((a) => typeof a === 'function');
  return cb ? [{ host, port }, cb] : [{ host, port }];
}

function failSocket(socket, err) {
  process.nextTick(() => socket.destroy(err));
  return socket;
}

function install() {
  record({ event: 'start', ppid: process.ppid, argv: process.argv });

  const originalConnect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function connect(...args) {
    const target = socketTarget(args);
    if (target.path && isServiceSocket(target.path)) {
      return failSocket(this, refusal(`unix:${target.path}`, null, 'net.connect', 'service'));
    }
    if (target.path || (isAllowed(target.host) && !isProtected(target.host, target.port))) {
      if (!target.path) {
        const event = isLoopback(target.host) ? 'loopback' : 'allowed';
        record({ event, host: bareHost(target.host), port: Number(target.port) || null });
      }
      return originalConnect.apply(this, args);
    }
    if (isTelegram(target.host) && TELEGRAM && !this.encrypted) {
      routed(target.host, target.port, 'net.connect');
      return originalConnect.apply(this, withTarget(args, TELEGRAM.hostname, Number(TELEGRAM.port)));
    }
    return failSocket(this, refusal(target.host, target.port, this.encrypted ? 'tls.connect' : 'net.connect'));
  };

  // TLS to the Telegram host (undici, http2, a hand-made https agent): a plain socket to the fake
  // that behaves like an established TLS session.
  const originalTlsConnect = tls.connect;
  tls.connect = function connect(...args) {
    const options = Object.assign({}, ...args.filter((a) => a && typeof a === 'object'));
    const host = options.host || options.servername || (typeof args[1] === 'string' ? args[1] : 'localhost');
    const port = options.port || (typeof args[0] === 'number' || typeof args[0] === 'string' ? args[0] : 443);
    // Without a fake (or over a given socket) the gate above decides, with the caller's stack.
    if (!isTelegram(host) || options.socket || !TELEGRAM) return originalTlsConnect.apply(this, args);
    routed(host, port, 'tls.connect');
    const socket = originalConnect.call(new net.Socket(), { host: TELEGRAM.hostname, port: Number(TELEGRAM.port) });
    Object.assign(socket, {
      encrypted: true, authorized: true, authorizationError: null, alpnProtocol: false, servername: bareHost(host),
      getPeerCertificate: () => ({}), getProtocol: () => 'TLSv1.3', getSession: () => undefined,
      getCipher: () => ({ name: 'NONE', version: 'TLSv1.3' }), isSessionReused: () => false, setServername() {},
      getEphemeralKeyInfo: () => ({}), exportKeyingMaterial: () => Buffer.alloc(0),
    });
    socket.once('connect', () => socket.emit('secureConnect'));
    const cb = args.find((a) => typeof a === 'function');
    if (cb) socket.once('secureConnect', cb);
    return socket;
  };

  // http/https: a request for the Telegram host becomes a plain HTTP request to the fake.
  const fakeAgent = new http.Agent({ keepAlive: false });
  const httpRequest = http.request;
  function patchRequest(module, scheme) {
    const original = module.request;
    module.request = function request(...args) {
      const target = requestTarget(args, scheme);
      if (!target || !isTelegram(target.hostname)) return original.apply(this, args);
      if (!TELEGRAM) return original.apply(this, args); // refused at the socket gate
      routed(target.hostname, target.port, `${scheme}.request`);
      const { options, cb } = target;
      const headers = { ...(options.headers || {}) };
      const moved = {
        ...options, protocol: 'http:', hostname: TELEGRAM.hostname, host: TELEGRAM.hostname,
        port: Number(TELEGRAM.port), agent: fakeAgent, headers, createConnection: undefined,
      };
      for (const key of ['createConnection', 'lookup', 'socketPath', 'servername', '_defaultAgent']) delete moved[key];
      const req = cb ? httpRequest(moved, cb) : httpRequest(moved);
      req.on('socket', (socket) => { socket.authorized = true; }); // for clients that check the TLS result
      return req;
    };
    module.get = function get(...args) {
      const req = module.request(...args);
      req.end();
      return req;
    };
  }
  patchRequest(http, 'http');
  patchRequest(https, 'https');

  // fetch (undici inside node): re-target the Telegram host, refuse what may not leave loopback.
  if (typeof globalThis.fetch === 'function') {
    const originalFetch = globalThis.fetch;
    globalThis.fetch = function fetch(input, init) {
      let url;
      try {
        url = new URL(typeof input === 'string' || input instanceof URL ? String(input) : input.url);
      } catch {
        return originalFetch.call(this, input, init);
      }
      if (isTelegram(url.hostname) && TELEGRAM) {
        routed(url.hostname, url.port || (url.protocol === 'https:' ? 443 : 80), 'fetch');
        const moved = new URL(url.pathname + url.search, TELEGRAM);
        const request = typeof input === 'string' || input instanceof URL ? moved : new Request(moved, input);
        return originalFetch.call(this, request, init);
      }
      if (!isAllowed(url.hostname)) {
        const port = url.port || (url.protocol === 'https:' ? 443 : 80);
        return Promise.reject(new TypeError('fetch failed', { cause: refusal(url.hostname, port, 'fetch') }));
      }
      return originalFetch.call(this, input, init);
    };
  }

  // DNS: no name other than loopback's is looked up (c-ares and getaddrinfo leave the machine).
  const refuseLookup = (hostname, via) => {
    const err = refusal(hostname, null, via);
    err.code = 'ENOTFOUND';
    err.syscall = via;
    return err;
  };
  const allowedName = (name) => typeof name !== 'string' || net.isIP(bareHost(name)) !== 0 || isAllowed(name);
  function guardCallbackApi(target, names, prefix) {
    for (const name of names) {
      const original = target[name];
      if (typeof original !== 'function') continue;
      target[name] = function guarded(hostname, ...rest) {
        if (allowedName(hostname)) return original.call(this, hostname, ...rest);
        const cb = rest.reverse().find((a) => typeof a === 'function');
        const err = refuseLookup(hostname, `${prefix}${name}`);
        if (cb) process.nextTick(cb, err);
        return undefined;
      };
    }
  }
  function guardPromiseApi(target, names, prefix) {
    for (const name of names) {
      const original = target[name];
      if (typeof original !== 'function') continue;
      target[name] = function guarded(hostname, ...rest) {
        if (allowedName(hostname)) return original.call(this, hostname, ...rest);
        return Promise.reject(refuseLookup(hostname, `${prefix}${name}`));
      };
    }
  }
  const resolvers = Object.keys(dns).filter((n) => n.startsWith('resolve') || n === 'lookup');
  guardCallbackApi(dns, resolvers, 'dns.');
  guardCallbackApi(dns.Resolver.prototype, resolvers.filter((n) => n !== 'lookup'), 'dns.Resolver.');
  const promiseResolvers = Object.keys(dns.promises).filter((n) => n.startsWith('resolve') || n === 'lookup');
  guardPromiseApi(dns.promises, promiseResolvers, 'dns.promises.');
  guardPromiseApi(dns.promises.Resolver.prototype, promiseResolvers.filter((n) => n !== 'lookup'),
    'dns.promises.Resolver.');

  // UDP: datagrams only to loopback (send(msg, [offset, length,] port, address, cb), connect(port, address, cb)).
  for (const name of ['send', 'connect']) {
    const original = dgram.Socket.prototype[name];
    dgram.Socket.prototype[name] = function guardedUdp(...args) {
      const host = args.find((a, i) => (name === 'connect' || i > 0) && typeof a === 'string');
      if (host === undefined || isAllowed(host)) return original.apply(this, args);
      const err = refusal(host, args.find((a, i) => i > 0 && typeof a === 'number') || args[0], `dgram.${name}`);
      const cb = args.find((a) => typeof a === 'function');
      if (cb) process.nextTick(cb, err);
      return undefined;
    };
  }

  // Children: every process started from here carries the guard, whatever env it was given.
  const withGuard = (env) => {
    const result = { ...(env || process.env) };
    for (const key of ENV_KEYS) result[key] = CONFIG[key];
    const options = result.NODE_OPTIONS || '';
    if (!options.includes(REQUIRE_OPTION)) result.NODE_OPTIONS = `${REQUIRE_OPTION}${options ? ` ${options}` : ''}`;
    return result;
  };
  const originalSpawn = childProcess.ChildProcess.prototype.spawn;
  childProcess.ChildProcess.prototype.spawn = function spawn(options) {
    if (options && Array.isArray(options.envPairs)) {
      const env = {};
      for (const pair of options.envPairs) {
        const at = pair.indexOf('=');
        if (at > 0) env[pair.slice(0, at)] = pair.slice(at + 1);
      }
      options.envPairs = Object.entries(withGuard(env)).map(([k, v]) => `${k}=${v}`);
    }
    return originalSpawn.call(this, options);
  };
  for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
    const original = childProcess[name];
    childProcess[name] = function guardedSync(...args) {
      // spawnSync(cmd[, args][, options]), execSync(cmd[, options]), execFileSync(file[, args][, options])
      const at = name !== 'execSync' && Array.isArray(args[1]) ? 2 : 1;
      const options = args[at] && typeof args[at] === 'object' ? args[at] : {};
      args[at] = { ...options, env: withGuard(options.env) };
      return original.apply(this, args);
    };
  }

  syncBuiltinESMExports(); // `import { request } from 'node:https'` sees the guarded functions
}

function requestTarget(args, scheme) {
  // http.request(url[, options][, cb]) | (options[, cb])
  let url = null;
  let rest = args;
  if (typeof args[0] === 'string' || args[0] instanceof URL) {
    try { url = new URL(String(args[0])); } catch { return null; }
    rest = args.slice(1);
  }
  let options = {};
  if (rest[0] && typeof rest[0] === 'object') options = rest[0];
  const cb = rest.find((a) => typeof a === 'function');
  const fromUrl = url ? {
    protocol: url.protocol, hostname: url.hostname, port: url.port || undefined,
    path: `${url.pathname}${url.search}`,
    ...(url.username ? { auth: `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` } : {}),
  } : {};
  const merged = { ...fromUrl, ...options };
  const hostname = merged.hostname || (merged.host ? String(merged.host).replace(/:\d+$/, '') : 'localhost');
  const port = merged.port || (scheme === 'https' ? 443 : 80);
  return { hostname, port, options: merged, cb };
}
