"""Logging set-up, with secrets redacted from every record.

Settings keep secrets in ``SecretStr`` and providers scrub their errors,
but libraries log too (discord.py at DEBUG logs request routes and
payloads). The filter is the last line: whatever a record says, the bot
token and API keys are replaced before any handler writes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "********"


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Short values would mask ordinary words; real tokens and keys are long.
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        text = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            text = text.replace(secret, MASK)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, MASK)
        record.msg, record.args = text, None
        return True


def configure(level: str, secrets: Iterable[str]) -> None:
    """Root logging to stderr at ``level``, every record passed through RedactSecrets."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    redact = RedactSecrets(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redact)
