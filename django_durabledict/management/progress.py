"""A one-line progress bar for long loads, drawn only on a terminal."""

from __future__ import annotations

from typing import Any

#: Loads with fewer items than this finish too fast to need a bar.
MIN_ITEMS = 1000
WIDTH = 30


class Progress:
    """``[#####.....] 1200/5000 label`` redrawn in place on *stream*.

    Silent unless *stream* is a terminal and *total* reaches :data:`MIN_ITEMS`, so
    redirected output and logs never fill with carriage returns. Redraws only when
    the bar moves by a whole percent."""

    def __init__(self, stream: Any, total: int, label: str) -> None:
        self.stream = stream
        self.total = total
        self.label = label
        self.done = 0
        self._drawn = -1
        isatty = getattr(stream, "isatty", None)
        self.enabled = total >= MIN_ITEMS and bool(isatty and isatty())

    def advance(self, count: int = 1) -> None:
        self.done = min(self.total, self.done + count)
        if self.enabled:
            percent = self.done * 100 // self.total
            if percent != self._drawn:
                self._drawn = percent
                self._draw()

    def set_label(self, label: str) -> None:
        self.label = label

    def _draw(self) -> None:
        filled = self.done * WIDTH // self.total
        bar = "#" * filled + "." * (WIDTH - filled)
        # \r returns to the start of the line; ESC [K clears what a longer label left.
        line = f"\r[{bar}] {self.done}/{self.total} {self.label}\x1b[K"
        self.stream.write(line, ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._drawn >= 0:
            self.stream.write("")  # end the bar's line
