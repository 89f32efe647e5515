"""Server-sent text deltas from tokens as the scheduler produces them.

Decoding token by token can split a character (a multi-byte sequence arrives in
pieces) or send the start of a stop string before it is known to be one; so the
text is decoded whole each time and only the part that can no longer change is
sent: nothing after a partial character, the last `len(longest stop) - 1`
characters held back, trailing whitespace held until something follows it (the
final answer is stripped). The last delta is the final answer minus what was
sent, so the streamed text always equals the non-streamed answer.
"""

from __future__ import annotations

from typing import Any


class TextDeltas:
    def __init__(self, tokenizer: Any, stop: tuple[str, ...]) -> None:
        self.tokenizer = tokenizer
        self.stop = stop
        self.hold = max((len(s) for s in stop), default=1) - 1
        self.ids: list[int] = []
        self.sent = ""

    def push(self, token: int) -> str:
        """The text that token made final, possibly empty."""
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd"):
            return ""
        hits = [text.find(s) for s in self.stop if s in text]
        if hits:
            text = text[: min(hits)]
        elif self.hold:
            text = text[: len(text) - self.hold]
        return self._send(text.rstrip())

    def finish(self, final: str) -> str:
        """The rest of the final answer."""
        return self._send(final)

    def _send(self, text: str) -> str:
        if len(text) <= len(self.sent) or not text.startswith(self.sent):
            return ""
        delta, self.sent = text[len(self.sent) :], text
        return delta
