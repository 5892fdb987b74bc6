"""Write the small committed corpus fixture (test/fixtures/corpus/) from built packages.

It copies a deterministic handful of files that passed the corpus filters from a
few permissively licensed packages, plus each package's license (and NOTICE)
text, and a PROVENANCE.json naming package, version, license and original path of
every file. Tests train tiny models on it in seconds.

Run after a build (it reads data/cache/):
  PYTHONPATH=scripts .venv/bin/python -m corpus.make_fixture
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys

from . import extract, manifest, package
from .fetch import cache_path_hint

# (manifest name, kind, languages wanted, byte budget). Small, well-known, clearly licensed.
PICKS = [
    ("zod", "npm", ("typescript",), 45_000),
    ("mobx", "npm", ("typescript",), 40_000),
    ("three", "npm", ("javascript",), 45_000),
    ("eslint", "npm", ("javascript",), 35_000),
    ("flask", "pypi", ("python",), 45_000),
    ("click", "pypi", ("python",), 40_000),
    ("requests", "pypi", ("python",), 35_000),
    ("zod", "npm", ("markdown",), 12_000),
    ("click", "pypi", ("markdown",), 30_000),
    ("flask", "pypi", ("restructuredtext",), 20_000),
]
MIN_FILE, MAX_FILE = 1_500, 14_000
NOTICE_FILES = ("notice", "notice.md", "notice.txt")


def _flat(path: str) -> str:
    return path.replace("/", "__")


def main(argv: list[str] | None = None) -> int:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", default=os.path.join(root, "scripts/corpus/manifest.json"))
    ap.add_argument("--cache", default=os.path.join(root, "data/cache"))
    ap.add_argument("--out", default=os.path.join(root, "test/fixtures/corpus"))
    args = ap.parse_args(argv)

    _, sources, _ = manifest.load(args.manifest)
    by_name = {(s.name, s.kind): s for s in sources}
    version = package.code_version()
    if os.path.isdir(args.out):
        shutil.rmtree(args.out)
    os.makedirs(os.path.join(args.out, "LICENSES"))
    files, licenses_out = [], {}
    for name, kind, langs, budget in PICKS:
        src = by_name[(name, kind)]
        res = package.load_cached(package.cache_file(args.cache, src, version))
        if res is None or res.refused:
            raise SystemExit(f"make_fixture: {src.key} is not built (run scripts/build-corpus first)")
        docs = [d for d in res.docs if d.language in langs and MIN_FILE <= len(d.text.encode()) <= MAX_FILE
                and "test" not in d.path.lower()]
        docs.sort(key=lambda d: hashlib.sha256(d.path.encode()).hexdigest())
        used = 0
        for d in docs:
            n = len(d.text.encode())
            if used + n > budget:
                continue
            used += n
            rel = f"{name}/{_flat(d.path)}"
            os.makedirs(os.path.join(args.out, name), exist_ok=True)
            with open(os.path.join(args.out, rel), "w", encoding="utf-8", newline="") as fh:
                fh.write(d.text)
            files.append({"file": rel, "package": src.name, "version": src.version, "kind": src.kind,
                          "license": res.license, "source_path": d.path, "sha256": d.sha256})
        if src.key not in licenses_out:
            licenses_out[src.key] = _copy_license_texts(src, args.cache, args.out)
    prov = {"description": "Files copied unchanged from permissively licensed packages; see LICENSES/.",
            "files": files, "licenses": licenses_out}
    with open(os.path.join(args.out, "PROVENANCE.json"), "w") as fh:
        json.dump(prov, fh, indent=2)
        fh.write("\n")
    total = sum(os.path.getsize(os.path.join(args.out, f["file"])) for f in files)
    print(json.dumps({"files": len(files), "bytes": total}), file=sys.stderr)
    return 0


def _copy_license_texts(src: manifest.Source, cache: str, out: str) -> list[str]:
    path = cache_path_hint(cache, src)
    archive_path = next(p for p in (path + e for e in (".tgz", ".tar.gz", ".zip", ".tar.bz2")) if os.path.exists(p))
    archive = extract.read_archive(archive_path)
    written = []
    for names, suffix in ((package.LICENSE_FILES, "LICENSE"), (NOTICE_FILES, "NOTICE")):
        m = archive.top_level(names)
        if m is None or m.data is None:
            if suffix == "LICENSE":
                raise SystemExit(f"make_fixture: {src.key} has no top-level license file")
            continue
        rel = f"LICENSES/{src.name}-{src.version}-{suffix}.txt"
        with open(os.path.join(out, rel), "wb") as fh:
            fh.write(m.data)
        written.append(rel)
    return written


if __name__ == "__main__":
    sys.exit(main())
