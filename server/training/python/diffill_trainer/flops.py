"""Model FLOPs per trained token and model FLOP utilisation (MFU), for the chunked GPU script's reports.

Per token, forward and backward: 6 N for the weight matrices (N counts every parameter once; the tied
embedding's one real matrix product is the output head, so 6 N is exact for the matrix products, and
norms, softmax and the loss are left out as usual), plus 12 * n_layer * seq_len * d_model for attention
(QK^T and AV, 2 * 2 * S * d per token and layer forward, three times that with the backward; the model is
bidirectional, so every row attends to all S positions; a causal model counts half). This is PaLM's
definition (Chowdhery et al. 2022, appendix B).

Peaks are the vendor's dense bf16 tensor-core figures (NVIDIA datasheets; the "with sparsity" figures
are twice these): H100 SXM and H200 989 TFLOP/s, H100 NVL and H200 NVL 835, H100 PCIe 756.
"""
from __future__ import annotations

# (substring of torch.cuda.get_device_name(), dense bf16 FLOP/s); the first match wins, so the more
# specific names come first.
PEAK_BF16 = (
    ("GH200", 989e12),
    ("H200 NVL", 835e12),
    ("H200", 989e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),  # "NVIDIA H100 80GB HBM3": the SXM part
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10", 125e12),
)


def peak_bf16_flops(device_name: str) -> float | None:
    """The dense bf16 peak of the GPU called `device_name`, or None when it is not in the table."""
    for key, peak in PEAK_BF16:
        if key in device_name:
            return peak
    return None


def flops_per_token(n_params: int, n_layer: int, d_model: int, seq_len: int, causal: bool = False) -> float:
    """A causal model (the autoregressive baseline) attends to half the positions on average, and the
    attention kernel skips the masked half: its attention term is halved."""
    return 6.0 * n_params + (6.0 if causal else 12.0) * n_layer * seq_len * d_model


def mfu(tokens_per_s: float, per_token: float, peak: float | None) -> float | None:
    return None if not peak else tokens_per_s * per_token / peak
