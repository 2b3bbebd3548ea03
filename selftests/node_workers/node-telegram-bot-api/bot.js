// Self-test worker: node-telegram-bot-api, default options (https://api.telegram.org, polling).
// Every text message is answered with the backend's reply from POST $BACKEND_URL/api/chat.
'use strict';

const TelegramBot = require('node-telegram-bot-api');

const BACKEND_URL = (process.env.BACKEND_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');

async function askBackend(message) {
  const response = await fetch(`${BACKEND_URL}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      user_id: message.from.id, chat_id: message.chat.id, text: message.text, username: message.from.username || null,
    }),
  });
  if (!response.ok) throw new Error(`backend answered HTTP ${response.status}`);
  return (await response.json()).reply;
}

const bot = new TelegramBot(process.env.BOT_TOKEN, { polling: true });

bot.on('message', async (message) => {
  if (typeof message.text !== 'string') return;
  try {
    await bot.sendChatAction(message.chat.id, 'typing');
    await bot.sendMessage(message.chat.id, await askBackend(message));
  } catch (err) {
    console.error(`worker: cannot answer: ${err.message}`);
  }
});
bot.on('polling_error', (err) => console.error(`worker: polling error: ${err.message}`));
console.log('worker ready (node-telegram-bot-api)');

async function stop() {
  await bot.stopPolling({ cancel: true }).catch(() => {});
  process.exit(0);
}
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
