"""Diffill trainer: a small masked diffusion language model (SMDM-style) for code infilling.

Modules: presets (model sizes), model (the transformer), data (corpora), objective (masking),
train (CLI), trainer (one run, in the order of plan, checkpoint, loop with prefetch, finish),
evaluate, export (ONNX), sample (reference sampler), modeldir (atomic writer), plot.
Only `events` and `errors` are importable without torch, so a missing dependency can be reported.
"""

import os as _os

# ONNX Runtime's telemetry off, for every module of the package (export and verification create
# ONNX Runtime sessions). Official ONNX Runtime builds for Linux and macOS upload usage events to
# mobile.events.data.microsoft.com; ONNX Runtime's docs/Privacy.md, "Disabling Telemetry": set
# `ORT_DISABLE_TELEMETRY=1` before ONNX Runtime initializes, which prevents the uploader, events and
# device identifier for the process lifetime. Set here, at package import, so it precedes any
# `import onnxruntime`; export.session() also calls onnxruntime.disable_telemetry_events().
_os.environ["ORT_DISABLE_TELEMETRY"] = "1"
