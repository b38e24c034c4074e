"""Two kinds of failure, mapped once by the dead-letter middleware (shared/reliability.py)."""

from __future__ import annotations


class PermanentError(Exception):
    """Retrying cannot help (bad input, nothing to act on): dead-letter at once.

    The message must never contain personal data: it is logged and put in the dead letter.
    """


class TransientError(Exception):
    """Worth retrying (network, provider or database briefly down)."""
