"""Batches built ahead of the step loop, on the CPU, in background threads (into pinned memory on CUDA)."""
from __future__ import annotations

import queue
import threading

import numpy as np
import torch

from .armfim import make_arm_batch, make_arm_facts_batch
from .charfim import lookahead_tokens
from .data import Corpus, pack_facts, sample_windows
from .objective import ObjectiveConfig, make_batch, maybe_truncate
from .vocab import Vocab


class Prefetcher:
    """Builds the batch of step s (a pure function of seed, rank and s) in background threads; worker i
    builds the steps s with s % workers == i, so several workers keep up with a fast GPU."""

    def __init__(self, corpus: Corpus, vocab: Vocab, obj: ObjectiveConfig, *, batch: int, seq_len: int,
                 seed: int, rank: int, first_step: int, last_step: int | None, pin: bool, workers: int = 1,
                 depth: int = 4, causal: bool = False):
        self.corpus, self.vocab, self.obj = corpus, vocab, obj
        self.causal = causal  # next-token rows of the autoregressive baseline (armfim.py)
        self.batch, self.seq_len, self.seed, self.rank = batch, seq_len, seed, rank
        self.pin = pin
        self.workers = workers
        self.first_step = first_step
        self.queues = [queue.Queue(maxsize=depth) for _ in range(workers)]
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.threads = [threading.Thread(target=self._loop, args=(first_step + i, last_step, i), daemon=True)
                        for i in range(workers)]
        for t in self.threads:
            t.start()

    def build(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, self.rank, step])
        if self.causal:
            return self._out(self._build_causal(rng))
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
        b = maybe_truncate(b, np.random.default_rng([self.seed, step, 1]), self.obj)
        return self._out(b)

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
