"""Fetch only the held-out (test split) packages and write their kept documents.

The full build (build.py) has to fetch every manifest source to decide the split; a benchmark
needs only the test split's documents. The test packages are read from the provenance of the
committed task suite (test/bench/tasks.jsonl: `source.package`, `source.version`), looked up in
the manifest, and then go through the pipeline's own stages: fetch.py (download, cached under
data/cache/), package.py (extract, license from the package's metadata, filters, the per-package
cap; the per-package result is cached exactly as the full build caches it) and dedup.py (exact
and MinHash near duplicates, manifest order). Output: data/corpus/heldout.jsonl, one
`{path, package, version, license, language, text}` per document, in manifest order and then
path order, the layout of test.jsonl in the full build. Deterministic: the same manifest and
provenance give the same file, byte for byte.

One difference from the full build's test.jsonl: duplicates are only looked for among the
held-out packages themselves, so a held-out file that copies a file of a training package (and
was dropped from the full build's test split for it) stays here.

    PYTHONPATH=scripts .venv/bin/python -m corpus.heldout [--out data/corpus/heldout.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from . import fetch, manifest, package


def log(msg: str) -> None:
    print(f"[heldout {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def heldout_packages(tasks_path: str) -> list[tuple[str, str]]:
    """(package, version) pairs named by a task suite's provenance, sorted."""
    pairs: set[tuple[str, str]] = set()
    with open(tasks_path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            src = json.loads(line).get("source") or {}
            if src.get("package") and src.get("version"):
                pairs.add((src["package"], src["version"]))
    return sorted(pairs)


def select_sources(sources: list[manifest.Source], pairs: list[tuple[str, str]]) -> list[manifest.Source]:
    """The manifest sources for the given pairs, in manifest order; an unknown pair is an error."""
    wanted = set(pairs)
    chosen = [s for s in sources if (s.name, s.version) in wanted]
    missing = wanted - {(s.name, s.version) for s in chosen}
    if missing:
        raise SystemExit(f"heldout: not in the manifest: {', '.join(f'{n}@{v}' for n, v in sorted(missing))}")
    return chosen


def load_or_process(src: manifest.Source, cache: str, version: str) -> package.PackageResult:
    path = package.cache_file(cache, src, version)
    res = package.load_cached(path)
    if res is not None:
        return res
    got = fetch.fetch_one(src, cache)
    if got.error:
        raise SystemExit(f"heldout: fetch failed for {src.key}: {got.error}")
    res = package.process(src, got.path)
    package.save_cached(path, res)
    return res


def main(argv: list[str] | None = None) -> int:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description="Fetch the held-out packages and write their documents as JSON lines.")
    ap.add_argument("--manifest", default=os.path.join(root, "scripts/corpus/manifest.json"))
    ap.add_argument("--tasks", default=os.path.join(root, "test/bench/tasks.jsonl"),
                    help="task suite whose provenance names the held-out packages")
    ap.add_argument("--data", default=os.path.join(root, "data"))
    ap.add_argument("--cache", default=None, help="download/filter cache (default: DATA/cache)")
    ap.add_argument("--out", default=None, help="default: DATA/corpus/heldout.jsonl")
    ap.add_argument("--fetch-workers", type=int, default=4)
    args = ap.parse_args(argv)

    settings, sources, _ = manifest.load(args.manifest)
    seed = int(settings.get("seed", 0))
    cap = int(settings.get("max_package_bytes", 12_000_000))
    cache = args.cache or os.path.join(args.data, "cache")
    out = args.out or os.path.join(args.data, "corpus", "heldout.jsonl")
    chosen = select_sources(sources, heldout_packages(args.tasks))
    log(f"{len(chosen)} held-out packages: {', '.join(s.key for s in chosen)}")

    # Downloads in parallel; filtering in this process, one package at a time (the machine is shared).
    version = package.code_version()
    todo = [s for s in chosen if package.load_cached(package.cache_file(cache, s, version)) is None]
    with ThreadPoolExecutor(max(1, args.fetch_workers)) as pool:
        for got in pool.map(lambda s: fetch.fetch_one(s, cache), todo):
            if got.error:
                raise SystemExit(f"heldout: fetch failed for {got.source.key}: {got.error}")
    results = []
    for s in chosen:
        r = load_or_process(s, cache, version)
        if r.refused:
            raise SystemExit(f"heldout: {s.key} refused: {r.refused}")
        r.family = s.family
        dropped = package.apply_cap(r, cap)
        log(f"{s.key}: {len(r.docs)} files ({r.license})" + (f", {dropped} over the package cap" if dropped else ""))
        results.append(r)

    from . import dedup  # numpy: only needed from here on

    exact, near = dedup.ExactDedup(), dedup.NearDedup(seed)
    rows, dups = [], 0
    for r in results:
        for d in r.docs:
            if exact.is_duplicate(d.sha256) or near.is_duplicate(d.text):
                dups += 1
                continue
            rows.append({"path": f"{r.name}@{r.version}/{d.path}", "package": r.name, "version": r.version,
                         "license": r.license, "language": d.language, "text": d.text})

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, out)

    # The committed suite's provenance paths should all be here (they came from the full build's test split).
    have = {row["path"] for row in rows}
    named = set()
    with open(args.tasks, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                p = (json.loads(line).get("source") or {}).get("path")
                if p:
                    named.add(p)
    langs: dict[str, int] = {}
    for row in rows:
        langs[row["language"]] = langs.get(row["language"], 0) + 1
    log(f"{len(rows)} documents ({dups} duplicates dropped), {sum(len(r['text'].encode()) for r in rows):,} bytes, "
        f"languages {dict(sorted(langs.items()))}; {len(named & have)} of the {len(named)} documents named by "
        f"{os.path.relpath(args.tasks, root)} present -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
