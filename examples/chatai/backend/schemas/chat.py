"""Request and response models for the chat endpoint."""

from pydantic import BaseModel, Field, field_validator

from validators.chat import validate_message_text

INT64_MAX = 2**63 - 1


class ChatRequest(BaseModel):
    """One incoming user message, e.g. forwarded by a Telegram worker."""

    user_id: int = Field(gt=0, le=INT64_MAX, description="Telegram user id")
    chat_id: int = Field(ge=-INT64_MAX, le=INT64_MAX, description="Telegram chat id")
    text: str
    username: str | None = Field(default=None, max_length=64)

    @field_validator("text")
    @classmethod
    def _valid_text(cls, value: str) -> str:
        return validate_message_text(value)


class ChatResponse(BaseModel):
    """The bot's reply and the conversation it was stored in."""

    reply: str
    conversation_id: int
