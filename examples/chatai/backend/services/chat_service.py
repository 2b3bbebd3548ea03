"""Chat use case: rate-limit, persist the conversation, ask the AI provider and store its reply."""

import logging
from functools import lru_cache
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ai.prompts import PromptMessage, build_prompt
from ai.providers import Provider, get_provider
from ai.token_manager import estimate_tokens, trim_history
from cache.redis_cache import get_cache
from core.config import get_settings
from database import crud
from integrations.telegram import parse_update, webhook_reply
from monitoring.metrics import metrics
from schemas.chat import ChatRequest, ChatResponse
from security.rate_limit import RateLimiter
from services import user_service
from utils.time import utcnow

logger = logging.getLogger(__name__)


class RateLimitExceeded(Exception):
    """The user sent too many messages in the current window."""


class ChatService:
    """Answers chat messages; one instance per process."""

    def __init__(self, provider: Provider, limiter: RateLimiter, history_messages: int, token_budget: int) -> None:
        self.provider = provider
        self.limiter = limiter
        self.history_messages = history_messages
        self.token_budget = token_budget

    def handle(self, session: Session, request: ChatRequest) -> ChatResponse:
        """Store the user message, generate and store the reply, and return it."""
        if not self.limiter.allow(f"chat:{request.user_id}"):
            metrics.inc("chat_rate_limited_total")
            raise RateLimitExceeded(f"too many messages from user {request.user_id}")
        try:
            response = self._answer(session, request)
        except IntegrityError:
            # A concurrent first message created the same user/conversation: retry once.
            session.rollback()
            response = self._answer(session, request)
        user_service.invalidate_profile(get_cache(), request.user_id)
        return response

    def handle_telegram_update(self, session: Session, update: dict[str, Any]) -> dict[str, Any]:
        """Answer a raw Telegram update; returns a webhook reply, or {} when there is nothing to answer."""
        incoming = parse_update(update)
        if incoming is None:
            return {}
        try:
            request = ChatRequest(
                user_id=incoming.user_id, chat_id=incoming.chat_id, text=incoming.text, username=incoming.username
            )
        except ValidationError:
            logger.info("ignoring invalid telegram update %s", incoming.update_id)
            return {}
        return webhook_reply(incoming.chat_id, self.handle(session, request).reply)

    def _answer(self, session: Session, request: ChatRequest) -> ChatResponse:
        user = crud.upsert_user(session, request.user_id, request.username, utcnow())
        conversation = crud.get_or_create_conversation(session, user.id, request.chat_id)
        history = [
            PromptMessage(m.role, m.content)
            for m in crud.recent_messages(session, conversation.id, self.history_messages)
        ]
        prompt = trim_history(build_prompt(history, request.text, user.username), self.token_budget)
        reply = self.provider.generate(prompt)
        crud.add_message(session, conversation.id, "user", request.text, estimate_tokens(request.text))
        crud.add_message(session, conversation.id, "assistant", reply, estimate_tokens(reply))
        session.commit()
        metrics.inc("chat_messages_total")
        metrics.inc("ai_tokens_total", estimate_tokens(request.text) + estimate_tokens(reply))
        return ChatResponse(reply=reply, conversation_id=conversation.id)


@lru_cache
def get_chat_service() -> ChatService:
    """The process-wide chat service built from settings (FastAPI dependency)."""
    settings = get_settings()
    return ChatService(
        provider=get_provider(settings.ai_provider),
        limiter=RateLimiter(settings.rate_limit_per_minute, 60.0),
        history_messages=settings.history_messages,
        token_budget=settings.history_token_budget,
    )
