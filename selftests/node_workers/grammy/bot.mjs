// Self-test worker: grammY as an ES module, default options (https://api.telegram.org, long polling).
// Every text message is answered with the backend's reply from POST $BACKEND_URL/api/chat.
import { Bot } from 'grammy';

const BACKEND_URL = (process.env.BACKEND_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');

async function askBackend(message) {
  const response = await fetch(`${BACKEND_URL}/api/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      user_id: message.from.id, chat_id: message.chat.id, text: message.text, username: message.from.username ?? null,
    }),
  });
  if (!response.ok) throw new Error(`backend answered HTTP ${response.status}`);
  return (await response.json()).reply;
}

const bot = new Bot(process.env.BOT_TOKEN);

bot.on('message:text', async (ctx) => {
  await ctx.replyWithChatAction('typing');
  await ctx.reply(await askBackend(ctx.message));
});
bot.catch((err) => console.error(`worker: cannot answer: ${err.message}`));

process.once('SIGTERM', () => bot.stop());
process.once('SIGINT', () => bot.stop());

await bot.start({ onStart: (me) => console.log(`worker ready (grammY, @${me.username})`) });
