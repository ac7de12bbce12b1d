"""The load test form's last values per tenant, kept across sessions in a
small JSON file under the cache directory (<cache>/console/loadtest-form.json).
Values used to reset to the defaults every time the form opened."""

from __future__ import annotations

import json
import os
from pathlib import Path

KEEP = 500  # tenants remembered; the oldest are forgotten first


class FormMemory:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, dict]:
        """tenant -> values; empty if the file is missing or unreadable."""
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, dict)} \
            if isinstance(data, dict) else {}

    def remember(self, tenant: str, values: dict) -> None:
        data = self.load()
        data.pop(tenant, None)
        data[tenant] = values  # last: the most recent
        data = dict(list(data.items())[-KEEP:])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staged = self.path.with_suffix(f".{os.getpid()}.tmp")
            staged.write_text(json.dumps(data, indent=1) + "\n")
            os.replace(staged, self.path)  # a reader never sees half a file
        except OSError:
            pass  # remembering is a convenience, never an error
