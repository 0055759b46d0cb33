"""Logging set-up: plain text by default, or one JSON object per line (``log_format =
"json"``, ``porchlight serve --log-format json``) for a log shipper.

Message strings name things by id only (conversation, staff member, call). Personal data
(emails, names, message text, tokens, addresses) may travel only in ``extra`` fields whose
names are in ``PERSONAL``; the JSON formatter replaces their values with a short keyed
digest, so a log line can still be correlated ("the same email failed five times") without
holding the value. As a last net, anything shaped like an email or an IP address in a
rendered message is masked too. The access log in JSON mode has no client address, no
query string and no user agent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sys
import time
from typing import Any, Literal

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

PERSONAL = frozenset(
    {"email", "name", "visitor_name", "body", "text", "token", "address", "ip", "user_agent"}
)
"""``extra`` field names whose values are personal data: logged as digests only."""

_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_H = "[0-9A-Fa-f]{1,4}"
# Full (eight groups) or compressed (with "::"), so that a time such as 12:30:45 stays.
_IPV6 = re.compile(
    rf"\b(?:{_H}:){{7}}{_H}\b|(?<![\w:])(?:{_H}(?::{_H})*)?::(?:{_H}(?::{_H})*)?(?![\w:])"
)
# LogRecord's own attributes: everything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def mask(text: str) -> str:
    """Emails and IP addresses in ``text`` replaced by placeholders."""
    return _IPV6.sub("[ip]", _IPV4.sub("[ip]", _EMAIL.sub("[email]", text)))


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", ...extra, "exception"?}`` on one line.

    :param key: keys the digests of personal fields (derived from the server's secret), so
        a digest cannot be reversed by hashing guesses without it.
    """

    def __init__(self, key: bytes) -> None:
        super().__init__()
        self._key = key

    def digest(self, value: Any) -> str:
        mac = hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()
        return f"hmac:{mac[:12]}"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        for name, value in record.__dict__.items():
            if name in _STANDARD or name.startswith("_"):
                continue
            if name in PERSONAL:
                entry[name] = None if value is None else self.digest(value)
            else:
                entry[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class JsonAccessLogger(AbstractAccessLogger):
    """aiohttp's access log without personal data: method, path, status and duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status,
                "duration_ms": round(time * 1000, 3),
            },
        )


def configure(
    level: str, log_format: Literal["text", "json"], secret_key: str, stream: Any = None
) -> None:
    """Set up the root logger for the server process (replacing earlier handlers)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        key = hashlib.sha256(("log-digest|" + secret_key).encode()).digest()
        handler.setFormatter(JsonFormatter(key))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def access_logger(log_format: Literal["text", "json"]) -> dict[str, Any]:
    """The ``AppRunner`` keywords for this format's access log."""
    return {"access_log_class": JsonAccessLogger} if log_format == "json" else {}
