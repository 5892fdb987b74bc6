"""Build the corpus end to end (entry: scripts/build-corpus).

Stages: fetch -> per-package filter (cached) -> exact + near dedup -> split by
family -> train tokenizer on train -> encode splits -> provenance/meta -> bundle.
Prints a summary JSON on stdout; progress goes to stderr.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait

from tokenizers import Tokenizer

from . import bundle, dedup, encode, fetch, manifest, package, split, train_tokenizer

SPLITS = ("train", "val", "test")


def log(msg: str) -> None:
    print(f"[build-corpus {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _process_job(src: manifest.Source, archive: str, cache_file: str) -> package.PackageResult:
    res = package.process(src, archive)
    package.save_cached(cache_file, res)
    return res


def collect(sources: list[manifest.Source], cache: str, workers: int, fetch_workers: int) -> list[package.PackageResult]:
    """Fetch and filter every source; filtering starts as soon as a download lands."""
    version = package.code_version()
    results: dict[str, package.PackageResult] = {}
    todo = []
    for s in sources:
        cached = package.load_cached(package.cache_file(cache, s, version))
        if cached is not None:
            results[s.key] = cached
        else:
            todo.append(s)
    log(f"{len(sources) - len(todo)} packages cached, {len(todo)} to fetch/filter")
    # Spawned (not forked) workers: a fork while a fetch thread has a subprocess pipe
    # open would hand the pipe to the worker and the download would never see EOF.
    ctx = multiprocessing.get_context("spawn")
    with ThreadPoolExecutor(fetch_workers) as fpool, ProcessPoolExecutor(workers, mp_context=ctx) as ppool:
        fetches = {fpool.submit(fetch.fetch_one, s, cache): s for s in todo}
        procs = {}
        pending = set(fetches)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                if fut in fetches:
                    f: fetch.Fetched = fut.result()
                    s = f.source
                    if f.error:
                        results[s.key] = package.PackageResult(s.key, s.kind, s.name, s.version, s.family,
                                                               refused=f"fetch failed: {f.error}")
                        log(f"fetch failed {s.key}: {f.error}")
                        continue
                    pf = ppool.submit(_process_job, s, f.path, package.cache_file(cache, s, version))
                    procs[pf] = s
                    pending.add(pf)
                else:
                    s = procs[fut]
                    try:
                        results[s.key] = fut.result()
                    except Exception as e:  # a crash in one package must not sink the build
                        results[s.key] = package.PackageResult(s.key, s.kind, s.name, s.version, s.family,
                                                               refused=f"processing error: {type(e).__name__}: {e}")
                    r = results[s.key]
                    log(f"{s.key}: {r.refused or str(len(r.docs)) + ' files'}")
    out = []
    for s in sources:
        r = results[s.key]
        # The split unit comes from the manifest as it is now, not from a cached result
        # produced before a family override was added.
        r.family = s.family
        out.append(r)
    return out


def deduplicate(results: list[package.PackageResult], seed: int) -> tuple[list[tuple[package.PackageResult, package.Doc]], Counter]:
    exact, near = dedup.ExactDedup(), dedup.NearDedup(seed)
    kept: list[tuple[package.PackageResult, package.Doc]] = []
    counts: Counter = Counter()
    for r in results:
        if r.refused:
            continue
        for d in r.docs:
            counts["candidates"] += 1
            if exact.is_duplicate(d.sha256):
                counts["exact_duplicates"] += 1
            elif near.is_duplicate(d.text):
                counts["near_duplicates"] += 1
            else:
                kept.append((r, d))
    counts["kept"] = len(kept)
    return kept, counts


def record(r: package.PackageResult, d: package.Doc, split_name: str) -> dict:
    return {"path": f"{r.name}@{r.version}/{d.path}", "package": r.name, "version": r.version, "kind": r.kind,
            "family": r.family, "license": r.license, "language": d.language,
            "bytes": len(d.text.encode("utf-8")), "chars": len(d.text), "sha256": d.sha256, "split": split_name}


def _write_jsonl(path: str, rows) -> None:
    tmp = path + ".part"
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description="Build the training corpus, tokenizer and bundle.")
    ap.add_argument("--manifest", default=os.path.join(root, "scripts/corpus/manifest.json"))
    ap.add_argument("--data", default=os.path.join(root, "data"), help="output root (corpus/, cache/, bundle.tar.xz)")
    ap.add_argument("--cache", default=None, help="download/filter cache (default: DATA/cache)")
    ap.add_argument("--tokenizer", default=os.path.join(root, "models/default/tokenizer.json"))
    ap.add_argument("--reuse-tokenizer", action="store_true", help="encode with the existing --tokenizer instead of training")
    ap.add_argument("--limit", type=int, default=0, help="only the first N manifest sources (development)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--fetch-workers", type=int, default=6)
    ap.add_argument("--no-bundle", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.time()

    settings, sources, manifest_sha = manifest.load(args.manifest)
    if args.limit:
        sources = sources[: args.limit]
    seed = int(settings.get("seed", 0))
    sp = settings.get("split", {})
    cap = int(settings.get("max_package_bytes", 12_000_000))
    cache = args.cache or os.path.join(args.data, "cache")
    out = os.path.join(args.data, "corpus")
    os.makedirs(out, exist_ok=True)

    results = collect(sources, cache, args.workers, args.fetch_workers)
    t_collect = time.time()
    filtered = Counter()
    for r in results:
        for k, v in r.counts.items():
            if k != "kept":
                filtered[k] += v
        if not r.refused:
            dropped = package.apply_cap(r, cap)
            if dropped:
                filtered["package_cap"] += dropped
    refused = {r.key: r.refused for r in results if r.refused}
    license_mismatch = {s.key: {"manifest": s.license, "metadata": r.license} for s, r in zip(sources, results)
                        if not r.refused and r.license and r.license != s.license}

    kept, dedup_counts = deduplicate(results, seed)
    log(f"dedup: {dict(dedup_counts)}")
    fam = defaultdict(lambda: split.FamilyStat("", 0, 0, 0))
    for r, d in kept:
        st = fam[r.family]
        st.family = r.family
        n = len(d.text.encode("utf-8"))
        st.bytes += n
        if d.language == "python":
            st.python_bytes += n
        elif d.language in ("javascript", "typescript"):
            st.js_bytes += n
    assignment = split.assign(list(fam.values()), seed, float(sp.get("test_fraction", 0.03)),
                              float(sp.get("val_fraction", 0.02)), float(sp.get("max_heldout_family_fraction", 0.01)))
    by_split: dict[str, list[tuple[package.PackageResult, package.Doc]]] = {s: [] for s in SPLITS}
    for r, d in kept:
        by_split[assignment[r.family]].append((r, d))
    t_dedup = time.time()

    # The new tokenizer lives in the corpus dir until the end: the installed one is only
    # replaced once a matching corpus and bundle exist, so the two never disagree.
    tok_path = os.path.join(out, "tokenizer.json")
    if args.reuse_tokenizer:
        shutil.copyfile(args.tokenizer, tok_path)
    else:
        log(f"training tokenizer on {len(by_split['train'])} train documents")
        trained = train_tokenizer.train(d.text for _, d in by_split["train"])
        trained.save(tok_path + ".part", pretty=True)
        os.replace(tok_path + ".part", tok_path)
    tok = Tokenizer.from_file(tok_path)
    t_tok = time.time()

    tokens: dict[str, list[int]] = {}
    for s in SPLITS:
        log(f"encoding {s}: {len(by_split[s])} documents")
        tokens[s] = encode.encode_to_file(tok, (d.text for _, d in by_split[s]), os.path.join(out, f"{s}.bin"))
    t_enc = time.time()

    rows = {s: [record(r, d, s) for r, d in by_split[s]] for s in SPLITS}
    for s in SPLITS:
        for row, n in zip(rows[s], tokens[s]):
            row["tokens"] = n
    _write_jsonl(os.path.join(out, "files.jsonl"), (row for s in SPLITS for row in rows[s]))
    for s in ("val", "test"):
        _write_jsonl(os.path.join(out, f"{s}.jsonl"), (
            {"path": row["path"], "package": row["package"], "version": row["version"], "license": row["license"],
             "language": row["language"], "text": d.text} for row, (_, d) in zip(rows[s], by_split[s])))

    stats = summarize(rows, filtered, dedup_counts, refused, license_mismatch, results)
    tok_sha = sha256_file(tok_path)
    meta = {
        "format": "diffill-corpus", "version": 1, "dtype": "uint16", "byte_order": "little",
        "document_layout": "<|bos|> tokens <|eos|>, documents concatenated",
        "vocab_size": tok.get_vocab_size(), "special_ids": encode.special_ids(tok),
        "tokenizer_sha256": tok_sha, "manifest_sha256": manifest_sha, "seed": seed,
        "splits": {s: {"file": f"{s}.bin", "tokens": int(sum(tokens[s])), "docs": len(tokens[s]),
                       "bytes": stats["splits"][s]["bytes"]} for s in SPLITS},
        "sample": {"train_fraction": 1.0},
    }
    with open(os.path.join(out, "meta.json.part"), "w") as fh:
        json.dump(meta, fh, indent=2)
    os.replace(os.path.join(out, "meta.json.part"), os.path.join(out, "meta.json"))

    bundle_info = None
    if not args.no_bundle:
        bcfg = settings.get("bundle", {})
        log("writing bundle")
        bundle_info = bundle.build(os.path.join(args.data, "bundle.tar.xz"), out, tok_path, meta, tokens["train"],
                                   [row["path"] for row in rows["train"]], seed,
                                   int(bcfg.get("target_bytes", 25_000_000)), int(bcfg.get("max_bytes", 30_000_000)))
    if not args.reuse_tokenizer:
        os.makedirs(os.path.dirname(args.tokenizer), exist_ok=True)
        shutil.copyfile(tok_path, args.tokenizer + ".part")
        os.replace(args.tokenizer + ".part", args.tokenizer)
        log(f"installed tokenizer {args.tokenizer}")
    t_end = time.time()

    summary = {
        "manifest_sha256": manifest_sha, "tokenizer_sha256": tok_sha, "sources": len(sources),
        "packages_used": sum(1 for r in results if not r.refused), "packages_refused": refused,
        "license_differs_from_manifest": license_mismatch,
        **stats, "tokens": {s: int(sum(tokens[s])) for s in SPLITS}, "bundle": bundle_info,
        "seconds": {"fetch_filter": round(t_collect - t0, 1), "dedup_split": round(t_dedup - t_collect, 1),
                    "tokenizer": round(t_tok - t_dedup, 1), "encode": round(t_enc - t_tok, 1),
                    "bundle": round(t_end - t_enc, 1), "total": round(t_end - t0, 1)},
    }
    summary["chars_per_token_test"] = chars_per_token(rows["test"])
    with open(os.path.join(out, "summary.json"), "w") as fh:
        json.dump(summary, fh, indent=2)
    print(json.dumps(summary, indent=2))
    return 0


def summarize(rows, filtered, dedup_counts, refused, license_mismatch, results) -> dict:
    splits = {}
    per_lang: dict = defaultdict(lambda: {"files": 0, "bytes": 0, "tokens": 0})
    per_license: dict = defaultdict(lambda: {"files": 0, "bytes": 0, "packages": set()})
    for s, rs in rows.items():
        splits[s] = {"files": len(rs), "bytes": sum(r["bytes"] for r in rs), "tokens": sum(r["tokens"] for r in rs),
                     "packages": len({r["package"] for r in rs}), "families": len({r["family"] for r in rs})}
        for r in rs:
            pl = per_lang[r["language"]]
            pl["files"] += 1
            pl["bytes"] += r["bytes"]
            pl["tokens"] += r["tokens"]
            lc = per_license[r["license"]]
            lc["files"] += 1
            lc["bytes"] += r["bytes"]
            lc["packages"].add(r["package"])
    return {
        "splits": splits,
        "languages": dict(sorted(per_lang.items())),
        "licenses": {k: {"files": v["files"], "bytes": v["bytes"], "packages": len(v["packages"])}
                     for k, v in sorted(per_license.items())},
        "filtered": dict(filtered.most_common()),
        "dedup": dict(dedup_counts),
    }


def chars_per_token(test_rows: list[dict]) -> dict:
    """Characters per token on held-out documents (BOS/EOS excluded)."""
    agg: dict = defaultdict(lambda: [0, 0])
    for r in test_rows:
        agg[r["language"]][0] += r["chars"]
        agg[r["language"]][1] += r["tokens"] - 2
    return {k: round(c / t, 3) for k, (c, t) in sorted(agg.items()) if t}


if __name__ == "__main__":
    sys.exit(main())
