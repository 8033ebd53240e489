"""Append-only JSONL journal: one event per line, flushed and fsynced before the caller goes on, so a
crash or Ctrl-C loses at most the line being written. A torn last line (the crash hit mid-write) is
skipped on reading and the next append starts on a fresh line."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.torn_lines = 0

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        events, self.torn_lines = [], 0
        with open(self.path, encoding="utf-8") as f:
            for raw in f:
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw)
                except json.JSONDecodeError:
                    self.torn_lines += 1
                    continue
                if isinstance(obj, dict):
                    events.append(obj)
        return events

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            needs_newline = (
                self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
            )
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(("\n" if needs_newline else "") + line)
                f.flush()
                os.fsync(f.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"
