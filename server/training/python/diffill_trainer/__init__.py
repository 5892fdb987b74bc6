"""Diffill trainer: a small masked diffusion language model (SMDM-style) for code infilling.

Modules: presets (model sizes), model (the transformer), data (corpora), objective (masking),
train (CLI), evaluate, export (ONNX), sample (reference sampler), modeldir (atomic writer), plot.
Only `events` and `errors` are importable without torch, so a missing dependency can be reported.
"""
