"""The pinned source manifest (scripts/corpus/manifest.json): loading and validation."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

KINDS = ("npm", "pypi", "deb")


class ManifestError(ValueError):
    """The manifest is malformed (missing field, unknown kind, unpinned version, duplicate)."""


@dataclass(frozen=True)
class Source:
    kind: str
    name: str
    version: str
    license: str  # what the manifest expects; the build re-derives it from package metadata
    family: str  # split unit: sources of one family always land in the same split

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}@{self.version}"


def default_family(kind: str, name: str) -> str:
    """Related packages share a family so they cannot straddle train and test.

    npm scopes (@babel/*) are one family; Debian python3-X / node-X / libjs-X and
    the PyPI/npm package X are the same upstream project.
    """
    n = name.lower()
    if kind == "npm" and n.startswith("@"):
        return n.split("/")[0]
    if kind == "deb":
        n = re.sub(r"^(python3-|node-|libjs-)", "", n)
    n = re.sub(r"[-_.]+", "-", n)
    if n.startswith("d3-"):
        return "d3"
    return n


def parse(data: dict) -> tuple[dict, list[Source]]:
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise ManifestError("manifest must be an object with a 'sources' list")
    out: list[Source] = []
    seen: set[str] = set()
    for i, s in enumerate(data["sources"]):
        if not isinstance(s, dict):
            raise ManifestError(f"sources[{i}] is not an object")
        for field in ("kind", "name", "version", "license"):
            if not isinstance(s.get(field), str) or not s[field]:
                raise ManifestError(f"sources[{i}] lacks string field '{field}'")
        if s["kind"] not in KINDS:
            raise ManifestError(f"sources[{i}] has unknown kind {s['kind']!r}")
        if s["kind"] != "deb" and (re.search(r"[\^~*<>=| ]", s["version"]) or s["version"] in ("latest", "next")):
            raise ManifestError(f"sources[{i}] {s['name']}: version {s['version']!r} is not an exact pin")
        src = Source(s["kind"], s["name"], s["version"], s["license"], s.get("family") or default_family(s["kind"], s["name"]))
        if src.key in seen:
            raise ManifestError(f"duplicate source {src.key}")
        seen.add(src.key)
        out.append(src)
    settings = {k: v for k, v in data.items() if k != "sources"}
    return settings, out


def load(path: str) -> tuple[dict, list[Source], str]:
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: {e}") from e
    settings, sources = parse(data)
    return settings, sources, hashlib.sha256(raw).hexdigest()
