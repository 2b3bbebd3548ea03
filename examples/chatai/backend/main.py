"""FastAPI application entry point (`uvicorn main:app`): wires routers, middleware and the lifespan."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import chat, health, users
from cache.redis_cache import close_cache, init_cache
from core.config import get_settings
from core.middleware import RequestContextMiddleware
from database.session import dispose_engine
from monitoring.logging_config import configure_logging

logger = logging.getLogger("main")


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Prepare runtime dirs, logging and cache; release the database and cache on shutdown."""
    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_level, settings.log_dir)
    cache = init_cache(settings.redis_url)
    logger.info("startup complete (cache=%s, ai_provider=%s)", cache.backend_name, settings.ai_provider)
    try:
        yield
    finally:
        close_cache()
        dispose_engine()
        logger.info("shutdown complete")


def create_app() -> FastAPI:
    """Build the application; tables come from Alembic migrations, never from create_all()."""
    app = FastAPI(title=get_settings().app_name, version="1.0.0", lifespan=lifespan)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(users.router)
    return app


app = create_app()
