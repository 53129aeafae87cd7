"""Text from outside the bot's control, marked for the model as data.

Tool results that carry such text (an MCP server's answer, a member's saved
memories) put it in an ``<untrusted>`` block, and the text inside can never
close that block early: any closing tag in it, in whatever case or spacing,
is defused, so what follows it stays inside.
"""

from __future__ import annotations

import re

_CLOSING = re.compile(r"<\s*/\s*untrusted", re.IGNORECASE)
_DEFUSED = r"<\\/untrusted"


def untrusted_block(source: str, text: str) -> str:
    """``text`` in an ``<untrusted source="...">`` block it cannot break out of."""
    return f'<untrusted source="{source}">\n{_CLOSING.sub(_DEFUSED, text)}\n</untrusted>'
