"""The built browser bundles: logical names to fingerprinted files in ``static/dist``."""

from __future__ import annotations

import json
from pathlib import Path


class AssetsMissing(Exception):
    """The bundles have not been built (``make build``)."""


class Assets:
    """Reads ``dist/manifest.json`` written by ``widget/build.mjs``."""

    def __init__(self, static_dir: Path) -> None:
        self.dist = static_dir / "dist"
        self._manifest: dict[str, str] | None = None

    def manifest(self) -> dict[str, str]:
        if self._manifest is None:
            path = self.dist / "manifest.json"
            try:
                self._manifest = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise AssetsMissing(
                    f"{path} is missing: build the browser bundles with `make build`"
                ) from None
        return self._manifest

    def url(self, name: str) -> str:
        """``/static/dist/<fingerprinted file>`` for a logical name such as ``frame.js``."""
        return f"/static/dist/{self.manifest()[name]}"

    def path(self, name: str) -> Path:
        return self.dist / self.manifest()[name]

    def has(self, name: str) -> bool:
        return name in self.manifest()
