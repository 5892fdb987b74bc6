"""Batches built ahead of the step loop, on the CPU, in background threads (into pinned memory on CUDA),
and on CUDA in a pool of processes behind them."""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading

import numpy as np
import torch

from .armfim import make_arm_batch, make_arm_facts_batch
from .charfim import lookahead_tokens
from .data import Corpus, pack_facts, sample_windows
from .objective import ObjectiveConfig, make_batch, maybe_truncate
from .vocab import Vocab


def default_processes(local_world: int = 1) -> int:
    """Batch-building processes per training process on CUDA. Character-level infill rows decode and
    re-tokenize text: a 64 x 1024 batch takes about 0.7 s of one CPU core (token rows alone 0.04 s), while
    a GPU trains `small` on one in a few tens of milliseconds, and threads share one interpreter lock."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, min(16, (cpus - 2) // max(1, local_world)))


_SOURCE: "Prefetcher | None" = None  # the prefetcher whose batches a forked pool process builds


def _build_in_pool(step: int):
    b = _SOURCE._build_batch(step)  # type: ignore[union-attr]
    return b.input_ids, b.targets, b.weights


class Prefetcher:
    """Builds the batch of step s (a pure function of seed, rank and s) in background threads; worker i
    builds the steps s with s % workers == i, so several workers keep up with a fast GPU. With
    `processes`, each thread has the batch built by a pool of that many forked processes (the corpus is
    shared with them copy-on-write) and only pins it: `workers` is then the number of batches in flight."""

    def __init__(self, corpus: Corpus, vocab: Vocab, obj: ObjectiveConfig, *, batch: int, seq_len: int,
                 seed: int, rank: int, first_step: int, last_step: int | None, pin: bool, workers: int = 1,
                 depth: int = 4, causal: bool = False, processes: int = 0):
        self.corpus, self.vocab, self.obj = corpus, vocab, obj
        self.causal = causal  # next-token rows of the autoregressive baseline (armfim.py)
        self.batch, self.seq_len, self.seed, self.rank = batch, seq_len, seed, rank
        self.pin = pin
        self.workers = workers
        self.first_step = first_step
        self.pool = None
        if processes > 0:
            global _SOURCE
            _SOURCE = self
            # The children only tokenize and draw with numpy; the Rust tokenizer's own threads would not
            # survive the fork.
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            self.pool = multiprocessing.get_context("fork").Pool(processes)
        self.queues = [queue.Queue(maxsize=depth) for _ in range(workers)]
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._loop, args=(first_step + i, last_step, i), daemon=True)
                        for i in range(workers)]
        for t in self.threads:
            t.start()

    def build(self, step: int) -> dict:
        return self._out(self._build_batch(step))

    def _build_batch(self, step: int):
        rng = np.random.default_rng([self.seed, self.rank, step])
        if self.causal:
            return self._build_causal(rng)
        if self.corpus.facts is not None:
            tokens, trainable = pack_facts(self.corpus.facts, self.batch, self.seq_len, self.vocab.pad, rng)
            b = make_batch(tokens, rng, self.obj, pad_id=self.vocab.pad, mask_id=self.vocab.mask,
                           is_newline=self.vocab.newline, trainable=trainable, fact_bos=self.vocab.bos)
        else:
            # Character-level rows read a few tokens past the window; without them the draws are the
            # token-row objective's, unchanged.
            extra = lookahead_tokens(self.seq_len) if self.obj.char_fim_fraction > 0 else 0
            windows = sample_windows(self.corpus.train, self.batch, self.seq_len + extra, rng)
            tokens, ahead = windows[:, :self.seq_len], (windows[:, self.seq_len:] if extra else None)
            b = make_batch(tokens, rng, self.obj, pad_id=self.vocab.pad, mask_id=self.vocab.mask,
                           is_newline=self.vocab.newline, codec=self.vocab, lookahead=ahead)
        # The truncation draw ignores the rank so every DDP rank runs the same shapes at the same step.
        return maybe_truncate(b, np.random.default_rng([self.seed, step, 1]), self.obj)

    def _build_causal(self, rng: np.random.Generator):
        # No random-length truncation: a causal model already learns every length (each position
        # sees only what precedes it).
        if self.corpus.facts is not None:
            return make_arm_facts_batch(self.corpus.facts, self.batch, self.seq_len, self.vocab, rng)
        extra = 1 + (lookahead_tokens(self.seq_len) if self.obj.infill_fraction > 0 else 0)
        windows = sample_windows(self.corpus.train, self.batch, self.seq_len + extra, rng)
        return make_arm_batch(windows, self.seq_len, rng, self.obj, self.vocab)

    def _out(self, b) -> dict:
        out = {"input_ids": torch.from_numpy(b.input_ids), "targets": torch.from_numpy(b.targets),
               "weights": torch.from_numpy(b.weights)}
        if self.pin:
            out = {k: v.pin_memory() for k, v in out.items()}
        out["full_length"] = b.input_ids.shape[1] == self.seq_len
        return out

    def _loop(self, step: int, last: int | None, worker: int):
        q = self.queues[worker]
        try:
            while not self.stop.is_set() and (last is None or step < last):
                if self.pool is not None:
                    built = self._from_pool(step)
                    if built is None:
                        return
                    item = self._out(built)
                else:
                    item = self.build(step)
                while not self.stop.is_set():
                    try:
                        q.put((step, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                step += self.workers
        except BaseException as e:  # noqa: BLE001 - re-raised in the training thread
            self.error = e
            q.put((None, None))

    def _from_pool(self, step: int) -> "_Arrays | None":
        """The pool's batch of `step`, or None once the prefetcher is closed."""
        res = self.pool.apply_async(_build_in_pool, (step,))
        while True:
            try:
                return _Arrays(*res.get(timeout=0.2))
            except multiprocessing.TimeoutError:
                if self.stop.is_set():
                    return None

    def get(self, step: int) -> dict:
        got, item = self.queues[(step - self.first_step) % self.workers].get()
        if got is None:
            raise self.error  # type: ignore[misc]
        assert got == step, f"prefetch out of order: {got} != {step}"
        return item

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=5)
        if self.pool is not None:
            self.pool.terminate()


class _Arrays:
    def __init__(self, input_ids, targets, weights):
        self.input_ids, self.targets, self.weights = input_ids, targets, weights
