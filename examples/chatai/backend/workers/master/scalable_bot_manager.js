// Bot manager: forks one Telegram worker per token in BOT_TOKENS, restarts crashes with backoff, serves /health.
'use strict';

const { fork } = require('node:child_process');
const http = require('node:http');
const path = require('node:path');

const WORKER_SCRIPT = path.join(__dirname, '..', 'telegram', 'bot_worker.js');
const TOKENS = (process.env.BOT_TOKENS || '').split(',').map((t) => t.trim()).filter(Boolean);
const PORT = Number.parseInt(process.env.MASTER_PORT || '0', 10) || 0;
const HOST = process.env.MASTER_HOST || '127.0.0.1';
const GRACE_MS = Number.parseInt(process.env.MASTER_SHUTDOWN_GRACE_MS || '10000', 10);
const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 60_000;
const STABLE_AFTER_MS = 60_000; // A worker that ran this long resets its backoff.

let shuttingDown = false;
const slots = TOKENS.map((token, index) => ({
  index, token, child: null, startedAt: 0, restarts: 0, backoff: MIN_BACKOFF_MS, timer: null,
}));

function log(message) {
  console.log(`${new Date().toISOString()} INFO master: ${message}`);
}

const isAlive = (child) => Boolean(child) && child.exitCode === null && child.signalCode === null;

function start(slot) {
  slot.timer = null;
  const env = { ...process.env, BOT_TOKEN: slot.token, BOT_INDEX: String(slot.index) };
  delete env.BOT_TOKENS; // Each worker only sees its own token.
  const child = fork(WORKER_SCRIPT, [], { env, stdio: 'inherit' });
  slot.child = child;
  slot.startedAt = Date.now();
  log(`worker #${slot.index} started pid=${child.pid}`);
  child.on('error', (err) => log(`worker #${slot.index} error: ${err.message}`));
  child.on('exit', (code, signal) => onExit(slot, child, code, signal));
}

function onExit(slot, child, code, signal) {
  log(`worker #${slot.index} pid=${child.pid} exited code=${code} signal=${signal}`);
  if (shuttingDown || slot.child !== child) return;
  if (Date.now() - slot.startedAt >= STABLE_AFTER_MS) slot.backoff = MIN_BACKOFF_MS;
  const delay = slot.backoff;
  slot.backoff = Math.min(slot.backoff * 2, MAX_BACKOFF_MS);
  slot.restarts += 1;
  log(`restarting worker #${slot.index} in ${delay}ms`);
  slot.timer = setTimeout(() => start(slot), delay);
}

function healthBody() {
  const workers = slots.map((s) => ({
    index: s.index,
    pid: s.child ? s.child.pid : null,
    alive: isAlive(s.child),
    restarts: s.restarts,
    uptime_s: isAlive(s.child) ? Math.round((Date.now() - s.startedAt) / 1000) : 0,
  }));
  return { status: workers.every((w) => w.alive) ? 'ok' : 'degraded', workers };
}

const server = http.createServer((req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (req.method !== 'GET' || req.url.split('?')[0] !== '/health') return send(404, { error: 'not found' });
  const body = healthBody();
  return send(body.status === 'ok' ? 200 : 503, body);
});

function waitForExit(child, ms) {
  if (!isAlive(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    child.once('exit', () => { clearTimeout(timer); resolve(); });
  });
}

async function shutdown(signal) {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${signal} received, stopping ${slots.length} worker(s)`);
  server.close();
  server.closeAllConnections();
  const children = slots.map((s) => { clearTimeout(s.timer); return s.child; }).filter(isAlive);
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((child) => waitForExit(child, GRACE_MS)));
  const stragglers = children.filter(isAlive);
  for (const child of stragglers) {
    log(`pid=${child.pid} ignored SIGTERM, sending SIGKILL`);
    child.kill('SIGKILL');
  }
  await Promise.all(stragglers.map((child) => waitForExit(child, 2000)));
  log('shutdown complete');
  process.exit(0);
}

function main() {
  if (TOKENS.length === 0) {
    console.error('master: BOT_TOKENS is empty; set a comma-separated list of bot tokens');
    process.exit(1);
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  server.listen(PORT, HOST, () => {
    console.log(`master ready port=${server.address().port}`);
    slots.forEach(start);
  });
}

main();
