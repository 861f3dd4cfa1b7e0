"""Structured request logs: one JSON line per request, never image bytes or secrets."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

LOGGER_NAME = "facelive.request"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        fields.update(getattr(record, "fields", {}))
        if record.exc_info and record.exc_info[0] is not None:
            fields["error"] = record.exc_info[0].__name__
            fields["traceback"] = self.formatException(record.exc_info)[-4000:]
        return orjson.dumps(fields).decode()


def configure(level: str) -> logging.Logger:
    logger = logging.getLogger("facelive")
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return logging.getLogger(LOGGER_NAME)
