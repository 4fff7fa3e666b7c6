"""Contrastive Reasoning Self-Distillation (CRSD) loss and the baselines' losses.

    L = CE(W h, y) + α·CE(W h_r, y) + λ·KL(sg(p_r) ‖ p) + γ·InfoNCE(z, sg(z_r), τ)

``h``/``h_r``: pooled [CLS] of the standard/reasoning view; ``p``/``p_r``: their label distributions;
``z``/``z_r``: projected, L2-normalised views. ``sg`` (stop-gradient) makes the reasoning view a teacher for
the distillation terms: those terms send no gradient into it. InfoNCE's positive for row i is the same
pair's reasoning view, its negatives the other reasoning views in the batch (optionally only those with
another label). ``y`` is a hard label index or a soft target distribution (teacher vote shares).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """CE for hard targets (class indices, shape [B]) or soft targets (distributions, shape [B, K])."""
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets)
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(sg(p_teacher) ‖ p_student), averaged over the batch; no gradient reaches the teacher logits."""
    teacher_log_probs = F.log_softmax(teacher_logits.detach(), dim=-1)
    return F.kl_div(F.log_softmax(student_logits, dim=-1), teacher_log_probs, log_target=True, reduction="batchmean")


def info_nce(z: torch.Tensor, z_reasoning: torch.Tensor, temperature: float,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """InfoNCE of each standard view against its own reasoning view (positive) and the batch's others.

    ``labels`` given: negatives with the same label as the anchor are masked out (they are not really
    negatives for a relevance grade).
    """
    similarity = z @ z_reasoning.detach().T / temperature
    if labels is not None:
        same_label = labels.unsqueeze(0) == labels.unsqueeze(1)
        off_diagonal = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
        similarity = similarity.masked_fill(same_label & off_diagonal, float("-inf"))
    return F.cross_entropy(similarity, torch.arange(len(z), device=z.device))


@dataclass(frozen=True)
class CRSDWeights:
    alpha: float = 1.0
    lambda_kl: float = 1.0
    gamma: float = 0.5
    temperature: float = 0.07
    exclude_same_label_negatives: bool = False


def crsd_loss(logits: torch.Tensor, logits_reasoning: torch.Tensor, z: torch.Tensor, z_reasoning: torch.Tensor,
              targets: torch.Tensor, weights: CRSDWeights) -> dict[str, torch.Tensor]:
    """The total loss and each term (for logging)."""
    hard = targets if targets.dim() == 1 else targets.argmax(dim=-1)
    terms = {
        "ce": soft_cross_entropy(logits, targets),
        "ce_reasoning": soft_cross_entropy(logits_reasoning, targets),
        "kl": distillation_kl(logits, logits_reasoning),
        "info_nce": info_nce(z, z_reasoning, weights.temperature, hard if weights.exclude_same_label_negatives else None),
    }
    terms["loss"] = (terms["ce"] + weights.alpha * terms["ce_reasoning"] + weights.lambda_kl * terms["kl"]
                     + weights.gamma * terms["info_nce"])
    return terms
