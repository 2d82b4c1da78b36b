"""Values of command-line options that ``harness`` and the pytest plugin share.

Below everything (standard library only), so that the plugin, which every pytest run
loads, can use it without importing a web stack.
"""

from __future__ import annotations

import re

__all__ = ["port"]

_DIGITS = re.compile(r"[0-9]{1,5}")


def port(text: str) -> int:
    """A TCP port from an option's text: an integer 0..65535, 0 meaning a free one.

    Plain digits only (no sign, ``_`` or ``8.0``), surrounding spaces allowed.

    Raises:
        ValueError: anything else, with a message that says what a port is.
    """
    value = int(text) if _DIGITS.fullmatch(text.strip()) else -1
    if not 0 <= value <= 65535:
        raise ValueError(f"a port is an integer from 0 to 65535 (0: a free one), got {text!r}")
    return value
