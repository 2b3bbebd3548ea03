// Self-test worker: telegraf, default options (https://api.telegram.org, long polling).
// Every text message is answered with the backend's reply from POST $BACKEND_URL/api/chat.
'use strict';

const { Telegraf } = require('telegraf');

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

const bot = new Telegraf(process.env.BOT_TOKEN);

bot.on('text', async (ctx) => {
  await ctx.sendChatAction('typing');
  await ctx.reply(await askBackend(ctx.message));
});
bot.catch((err) => console.error(`worker: cannot answer: ${err.message}`));

bot.telegram.setMyCommands([{ command: 'help', description: 'How to use this bot' }])
  .then(() => bot.launch(() => console.log('worker ready (telegraf)')))
  .catch((err) => {
    console.error(`worker: fatal: ${err.message}`);
    process.exit(1);
  });

process.once('SIGTERM', () => bot.stop('SIGTERM'));
process.once('SIGINT', () => bot.stop('SIGINT'));
