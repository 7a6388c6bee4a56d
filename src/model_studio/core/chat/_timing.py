"""Honest generation figures shared by the backends: time to first token and tokens per second."""

from __future__ import annotations

import time

from .base import ChatStats


class Meter:
    """Counts completion tokens as they arrive; ``stats()`` turns them into a ``ChatStats``."""

    def __init__(self, prompt_tokens: int = 0) -> None:
        self.start = time.perf_counter()
        self.first: float | None = None
        self.tokens = 0
        self.prompt_tokens = prompt_tokens

    def token(self, n: int = 1) -> None:
        if n <= 0:
            return
        if self.first is None:
            self.first = time.perf_counter()
        self.tokens += n

    def stats(self, finish_reason: str) -> ChatStats:
        end = time.perf_counter()
        ttft = None if self.first is None else max(self.first - self.start, 1e-9)
        rate = None
        if self.first is not None and self.tokens:
            after_first = end - self.first
            # Tokens after the first over the time after the first; one token: over the whole call.
            rate = (self.tokens - 1) / after_first if self.tokens > 1 and after_first > 0 else \
                self.tokens / max(end - self.start, 1e-9)
        return ChatStats(prompt_tokens=self.prompt_tokens, completion_tokens=self.tokens, ttft=ttft,
                         tokens_per_second=rate, total_time=end - self.start, finish_reason=finish_reason)
