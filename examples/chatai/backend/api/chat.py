"""Chat endpoints: the JSON API used by the Node.js workers and a Telegram webhook alternative."""

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, status
from sqlalchemy.orm import Session

from core.config import get_settings
from database.session import get_session
from schemas.chat import ChatRequest, ChatResponse
from services.chat_service import ChatService, RateLimitExceeded, get_chat_service

router = APIRouter(prefix="/api", tags=["chat"])

SessionDep = Annotated[Session, Depends(get_session)]
ChatServiceDep = Annotated[ChatService, Depends(get_chat_service)]


@router.post("/chat")
def chat(payload: ChatRequest, session: SessionDep, service: ChatServiceDep) -> ChatResponse:
    """Answer one user message and store both sides of the exchange."""
    try:
        return service.handle(session, payload)
    except RateLimitExceeded as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc)) from exc


@router.post("/telegram/webhook")
def telegram_webhook(
    update: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    service: ChatServiceDep,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> dict[str, Any]:
    """Telegram webhook: replies inline with a sendMessage method call."""
    expected = get_settings().telegram_webhook_secret.get_secret_value()
    if expected and not hmac.compare_digest((secret or "").encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid webhook secret")
    try:
        return service.handle_telegram_update(session, update)
    except RateLimitExceeded:
        return {}
