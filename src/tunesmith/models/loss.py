"""Cross-entropy on the positions that matter, without full-vocabulary logits everywhere.

Training and scoring only need next-token probabilities where a label is set
(assistant tokens, a reference answer). Gathering the decoder's hidden states at
those positions first and running the output layer on them alone saves most of
the output layer's work and all of its memory for prompt tokens: with a
49k-token vocabulary, full logits for 8 x 600 tokens take ~1 GB in fp32.
"""

from __future__ import annotations

from typing import Any

from tunesmith.core.deps import require

# rows of vocabulary logits materialized at once; bounds memory on long sequences
LOGIT_CHUNK = 4096


def trained_token_loss(hidden: Any, labels: Any, head: Any) -> tuple[Any, int]:
    """Sum of next-token cross-entropy over positions whose label is trained, and their count."""
    torch = require("torch")
    import torch.nn.functional as F

    targets = labels[:, 1:]
    mask = targets != -100
    rows = hidden[:, :-1][mask]
    wanted = targets[mask]
    count = int(wanted.numel())
    if count == 0:
        return hidden.sum() * 0.0, 0
    if count <= LOGIT_CHUNK:
        return F.cross_entropy(head(rows).float(), wanted, reduction="sum"), count

    from torch.utils.checkpoint import checkpoint

    def chunk_loss(h: Any, t: Any) -> Any:
        return F.cross_entropy(head(h).float(), t, reduction="sum")

    # checkpointed chunks: each chunk's logits are rebuilt in backward instead of kept
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for start in range(0, count, LOGIT_CHUNK):
        total = total + checkpoint(
            chunk_loss, rows[start : start + LOGIT_CHUNK], wanted[start : start + LOGIT_CHUNK], use_reentrant=False
        )
    return total, count


def per_row_nll(hidden: Any, labels: Any, head: Any) -> list[float]:
    """Mean next-token negative log-likelihood of each row's labelled positions (no gradient)."""
    torch = require("torch")
    out = []
    with torch.inference_mode():
        for row in range(hidden.shape[0]):
            total, count = trained_token_loss(hidden[row : row + 1], labels[row : row + 1], head)
            out.append(float(total) / max(count, 1))
    return out
