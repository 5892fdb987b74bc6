"""Turn one downloaded source into filtered documents, with its license checked from metadata.

Results are cached per source under data/cache/docs/, keyed by a hash of the code
that produces them, so a rerun only redoes packages whose inputs or rules changed.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from . import extract, filters, licenses
from .manifest import Source

LICENSE_FILES = ("license", "license.md", "license.txt", "licence", "licence.md", "licence.txt", "copying",
                 "license-mit", "license.rst", "copying.txt", "license.bsd")


@dataclass
class Doc:
    path: str
    language: str
    text: str
    sha256: str


@dataclass
class PackageResult:
    key: str
    kind: str
    name: str
    version: str
    family: str
    license: str | None = None
    refused: str | None = None  # why the whole package was refused
    counts: dict = field(default_factory=dict)  # reason -> files
    docs: list[Doc] = field(default_factory=list)


def code_version() -> str:
    """Hash of the rules that produce documents: changes to them invalidate the cache."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("extract.py", "filters.py", "licenses.py", "package.py"):
        with open(os.path.join(here, name), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def _wanted(path: str) -> bool:
    """Members worth reading: metadata, license texts, and paths the filters would keep."""
    if "/" not in path and (path in ("package.json", "PKG-INFO") or path.lower() in LICENSE_FILES):
        return True
    if path.startswith("usr/share/doc/") and path.endswith("/copyright"):
        return True
    return filters.path_ok(path)


def detect_license(src: Source, archive: extract.Archive) -> str:
    lic_member = archive.top_level(LICENSE_FILES)
    lic_text = lic_member.data.decode("utf-8", "replace") if lic_member and lic_member.data else None
    if src.kind == "npm":
        pj = archive.get("package.json")
        if pj is None or pj.data is None:
            raise licenses.LicenseUnknown("no package.json")
        return licenses.npm_license(pj.data, lic_text)
    if src.kind == "pypi":
        pi = archive.get("PKG-INFO")
        if pi is None or pi.data is None:
            raise licenses.LicenseUnknown("no PKG-INFO")
        return licenses.pypi_license(pi.data, lic_text)
    cr = extract.deb_copyright(archive, src.name)
    if cr is None or cr.data is None:
        raise licenses.LicenseUnknown("no debian/copyright")
    return licenses.debian_license(cr.data.decode("utf-8", "replace"))


def process(src: Source, archive_path: str) -> PackageResult:
    res = PackageResult(src.key, src.kind, src.name, src.version, src.family)
    try:
        archive = extract.read_archive(archive_path, _wanted)
    except extract.ArchiveError as e:
        res.refused = f"unreadable: {e}"
        return res
    try:
        declared = detect_license(src, archive)
    except (licenses.LicenseUnknown, ValueError) as e:
        res.refused = f"license unknown: {e}"
        return res
    try:
        ok, canonical = licenses.evaluate(declared)
    except licenses.LicenseUnknown as e:
        ok, canonical = False, str(e)
    res.license = canonical
    if not ok:
        res.refused = f"license not permissive: {declared}"
        return res
    counts: Counter = Counter()
    if archive.skipped_outside:
        counts["outside_source_dirs"] += archive.skipped_outside
    kept: list[Doc] = []
    for m in archive.members:
        try:
            lang, text = filters.classify(m.path, m.data, m.size)
        except filters.Rejected as r:
            counts[r.reason] += 1
            continue
        kept.append(Doc(m.path, lang, text, hashlib.sha256(text.encode("utf-8")).hexdigest()))
    kept.sort(key=lambda d: d.path)
    counts["kept"] = len(kept)
    res.counts = dict(counts)
    res.docs = kept
    return res


def apply_cap(res: PackageResult, max_package_bytes: int) -> int:
    """Keep at most max_package_bytes of a package's documents; returns how many were dropped.

    The cap keeps a handful of giant packages from dominating the corpus. Which
    files survive is decided by a hash of the path: deterministic and spread evenly
    over the package. Applied after the cache, so changing the cap needs no refiltering.
    """
    total = sum(len(d.text.encode("utf-8")) for d in res.docs)
    if total <= max_package_bytes:
        return 0
    acc, keep = 0, set()
    for d in sorted(res.docs, key=lambda d: hashlib.sha256(d.path.encode()).hexdigest()):
        n = len(d.text.encode("utf-8"))
        if acc + n <= max_package_bytes:
            acc += n
            keep.add(d.path)
    dropped = len(res.docs) - len(keep)
    res.docs = [d for d in res.docs if d.path in keep]
    return dropped


def cache_file(cache_dir: str, src: Source, version: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{src.name}-{src.version}")
    return os.path.join(cache_dir, "docs", src.kind, f"{safe}.{version}.json.gz")


def load_cached(path: str) -> PackageResult | None:
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            d = json.load(fh)
    except (OSError, ValueError, EOFError):
        return None
    d["docs"] = [Doc(**x) for x in d["docs"]]
    return PackageResult(**d)


def save_cached(path: str, res: PackageResult) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part"
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=1) as fh:
        json.dump(asdict(res), fh)
    os.replace(tmp, path)
