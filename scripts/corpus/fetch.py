"""Download manifest sources into data/cache/ (idempotent, a few in parallel).

Each source is fetched with its registry's ordinary client or index:
  npm  -> `npm pack NAME@VERSION`
  pypi -> the sdist that the PyPI simple index lists for NAME==VERSION (sha256 checked)
  deb  -> `apt-get download PKG=VERSION`
A finished download is renamed into place atomically, so an interrupted build
leaves no half files and a rerun skips everything already present.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .manifest import Source

PYPI_SIMPLE = "https://pypi.org/simple/{}/"
SDIST_EXTS = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


class FetchError(Exception):
    """A source could not be downloaded (missing version, no sdist, network)."""


@dataclass
class Fetched:
    source: Source
    path: str | None
    error: str | None = None


def normalize_pypi(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def cache_path_hint(cache: str, src: Source) -> str:
    return os.path.join(os.path.abspath(cache), src.kind, re.sub(r"[^A-Za-z0-9._+-]", "_", f"{src.name}-{src.version}"))


def _fetch_npm(src: Source, cache: str) -> str:
    dest = cache_path_hint(cache, src) + ".tgz"
    if os.path.exists(dest):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        r = subprocess.run(
            ["npm", "pack", f"{src.name}@{src.version}", "--pack-destination", tmp, "--ignore-scripts", "--silent"],
            capture_output=True, text=True, cwd=tmp, timeout=600,
        )
        files = glob.glob(os.path.join(tmp, "*.tgz"))
        if r.returncode != 0 or len(files) != 1:
            raise FetchError(f"npm pack {src.name}@{src.version} failed: {r.stderr.strip()[-300:]}")
        os.replace(files[0], dest)
    return dest


def _http_get(url: str, accept: str | None = None) -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=180) as resp:
        return resp.read()


def find_sdist(files: list[dict], name: str, version: str) -> dict:
    """Pick the sdist of exactly NAME==VERSION from a PEP 691 file list."""
    want = normalize_pypi(name)
    for f in files:
        fn = f["filename"]
        ext = next((e for e in SDIST_EXTS if fn.endswith(e)), None)
        if ext is None or f.get("yanked"):
            continue
        stem = fn[: -len(ext)]
        base, sep, ver = stem.rpartition("-")
        if sep and ver == version and normalize_pypi(base) == want:
            return f
    raise FetchError(f"PyPI has no sdist for {name}=={version}")


def _fetch_pypi(src: Source, cache: str) -> str:
    prefix = cache_path_hint(cache, src)
    existing = [p for p in glob.glob(prefix + ".*") if p.endswith(SDIST_EXTS)]
    if existing:
        return existing[0]
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    index = json.loads(_http_get(PYPI_SIMPLE.format(normalize_pypi(src.name)), "application/vnd.pypi.simple.v1+json"))
    f = find_sdist(index["files"], src.name, src.version)
    data = _http_get(f["url"])
    want = f.get("hashes", {}).get("sha256")
    if want and hashlib.sha256(data).hexdigest() != want:
        raise FetchError(f"sha256 mismatch for {f['filename']}")
    ext = next(e for e in SDIST_EXTS if f["filename"].endswith(e))
    dest = prefix + ext
    tmp = dest + ".part"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, dest)
    return dest


def _fetch_deb(src: Source, cache: str) -> str:
    dest = cache_path_hint(cache, src) + ".deb"
    if os.path.exists(dest):
        return dest
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with tempfile.TemporaryDirectory(dir=os.path.dirname(dest)) as tmp:
        os.chmod(tmp, 0o755)
        r = subprocess.run(
            ["apt-get", "download", f"{src.name}={src.version}"], capture_output=True, text=True, cwd=tmp, timeout=600
        )
        files = glob.glob(os.path.join(tmp, "*.deb"))
        if r.returncode != 0 or len(files) != 1:
            raise FetchError(f"apt-get download {src.name}={src.version} failed: {r.stderr.strip()[-300:]}")
        os.replace(files[0], dest)
    return dest


_FETCHERS = {"npm": _fetch_npm, "pypi": _fetch_pypi, "deb": _fetch_deb}


def fetch_one(src: Source, cache: str) -> Fetched:
    try:
        return Fetched(src, _FETCHERS[src.kind](src, cache))
    except (FetchError, OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        return Fetched(src, None, f"{type(e).__name__}: {e}")


def fetch_all(sources: list[Source], cache: str, workers: int = 4) -> list[Fetched]:
    if any(s.kind == "deb" for s in sources) and shutil.which("apt-get") is None:
        raise FetchError("apt-get is required for deb sources")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda s: fetch_one(s, cache), sources))
