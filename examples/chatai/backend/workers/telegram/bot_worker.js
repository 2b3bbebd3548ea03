// Telegram bot worker: long-polls getUpdates for one bot token and answers messages via the backend /api/chat.
'use strict';

const { setTimeout: sleep } = require('node:timers/promises');

const API_BASE = (process.env.TELEGRAM_API_BASE || 'https://api.telegram.org').replace(/\/+$/, '');
const BACKEND_URL = (process.env.BACKEND_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const BOT_TOKEN = process.env.BOT_TOKEN || '';
const POLL_TIMEOUT = Math.max(0, Number.parseInt(process.env.TELEGRAM_POLL_TIMEOUT || '25', 10) || 0);
const BACKEND_TIMEOUT_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;
const MAX_MESSAGE_LENGTH = 4096;

const stop = new AbortController();
let botName = process.env.BOT_INDEX ? `#${process.env.BOT_INDEX}` : '?';

function log(level, message) {
  const line = `${new Date().toISOString()} ${level} worker bot=${botName}: ${message}`;
  (level === 'ERROR' ? console.error : console.log)(line);
}

/** Error that should not be retried (e.g. the backend rejected the message). */
class PermanentError extends Error {}

async function requestJson(url, body, timeoutMs) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.any([stop.signal, AbortSignal.timeout(timeoutMs)]),
  });
  const text = await response.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`HTTP ${response.status}: non-JSON response`);
  }
  return { status: response.status, data };
}

/** Call a Bot API method; the token is in the URL, so never log the URL. */
async function telegram(method, params = {}, timeoutMs = 15_000) {
  const { status, data } = await requestJson(`${API_BASE}/bot${BOT_TOKEN}/${method}`, params, timeoutMs);
  if (!data || data.ok !== true) {
    const reason = (data && data.description) || `HTTP ${status}`;
    throw new (status >= 400 && status < 500 && status !== 429 ? PermanentError : Error)(`${method}: ${reason}`);
  }
  return data.result;
}

async function askBackend(message) {
  const payload = {
    user_id: message.from.id,
    chat_id: message.chat.id,
    text: message.text,
    username: message.from.username || message.from.first_name || null,
  };
  const { status, data } = await requestJson(`${BACKEND_URL}/api/chat`, payload, BACKEND_TIMEOUT_MS);
  if (status >= 400 && status < 500 && status !== 429) {
    throw new PermanentError(`backend rejected message: HTTP ${status}`);
  }
  if (status !== 200 || typeof data.reply !== 'string') throw new Error(`backend error: HTTP ${status}`);
  return data.reply;
}

async function handleUpdate(update) {
  const message = update.message;
  if (!message || typeof message.text !== 'string' || !message.from || !message.chat) return;
  const reply = await askBackend(message);
  for (let i = 0; i < reply.length || i === 0; i += MAX_MESSAGE_LENGTH) {
    await telegram('sendMessage', { chat_id: message.chat.id, text: reply.slice(i, i + MAX_MESSAGE_LENGTH) });
  }
  log('INFO', `answered update ${update.update_id} in chat ${message.chat.id}`);
}

/** Run `fn` until it succeeds or the worker stops, backing off exponentially on failure. */
async function withRetry(label, fn) {
  let backoff = 1000;
  while (!stop.signal.aborted) {
    try {
      return await fn();
    } catch (err) {
      if (stop.signal.aborted) break;
      log('ERROR', `${label} failed: ${describe(err)}; retrying in ${backoff}ms`);
      await sleep(backoff, undefined, { signal: stop.signal }).catch(() => {});
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }
  return undefined;
}

function describe(err) {
  const cause = err && err.cause ? ` (${err.cause.code || err.cause.message || err.cause})` : '';
  return `${(err && err.message) || err}${cause}`;
}

async function pollLoop() {
  let offset = 0;
  while (!stop.signal.aborted) {
    const updates = await withRetry('getUpdates', () =>
      telegram('getUpdates', { offset, timeout: POLL_TIMEOUT, allowed_updates: ['message'] }, (POLL_TIMEOUT + 10) * 1000),
    );
    for (const update of updates || []) {
      if (stop.signal.aborted) return;
      try {
        await withRetry(`update ${update.update_id}`, async () => {
          try {
            await handleUpdate(update);
          } catch (err) {
            if (!(err instanceof PermanentError)) throw err;
            log('ERROR', `skipping update ${update.update_id}: ${describe(err)}`);
          }
        });
      } finally {
        if (!stop.signal.aborted) offset = update.update_id + 1;
      }
    }
  }
}

async function main() {
  if (!BOT_TOKEN) {
    log('ERROR', 'BOT_TOKEN is not set');
    return 1;
  }
  await withRetry('deleteWebhook', () => telegram('deleteWebhook', { drop_pending_updates: false }));
  const me = await withRetry('getMe', () => telegram('getMe'));
  if (!me) return 0;
  botName = me.username || String(me.id);
  console.log(`worker ready bot=${botName}`);
  await pollLoop();
  log('INFO', 'stopped');
  return 0;
}

function shutdown(reason) {
  if (stop.signal.aborted) return;
  log('INFO', `${reason} received, stopping`);
  stop.abort();
  setTimeout(() => process.exit(0), 2000).unref(); // Safety net if something still holds the loop.
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('disconnect', () => shutdown('master disconnect')); // The master died: do not linger as an orphan.

main().then(
  (code) => process.exit(code),
  (err) => {
    log('ERROR', `fatal: ${describe(err)}`);
    process.exit(1);
  },
);
