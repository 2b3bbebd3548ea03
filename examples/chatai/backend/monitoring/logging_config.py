"""One logging setup for the app and scripts: stderr plus an optional file under logs/."""

import logging
from logging.handlers import WatchedFileHandler
from pathlib import Path

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE_NAME = "chatai.log"
_MARKER = "_chatai_handler"


def configure_logging(level: str = "INFO", log_dir: Path | None = None) -> None:
    """Install our handlers on the root logger (idempotent); log to `log_dir`/chatai.log when given."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARKER, False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(WatchedFileHandler(log_dir / LOG_FILE_NAME, encoding="utf-8"))
    formatter = logging.Formatter(LOG_FORMAT)
    for handler in handlers:
        setattr(handler, _MARKER, True)
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
