"""The CRSD loss on hand-computed tiny tensors, and where its gradients go."""

from __future__ import annotations

import math

import pytest
import torch

from relevance_distill.student.crsd import (
    CRSDWeights,
    crsd_loss,
    distillation_kl,
    info_nce,
    soft_cross_entropy,
)


def _log_softmax(values):
    top = max(values)
    total = math.log(sum(math.exp(v - top) for v in values)) + top
    return [v - total for v in values]


def test_terms_match_hand_computation():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    logits_r = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    z_r = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    targets = torch.tensor([0, 1])
    weights = CRSDWeights(alpha=0.5, lambda_kl=2.0, gamma=0.25, temperature=0.5)
    terms = crsd_loss(logits, logits_r, z, z_r, targets, weights)

    ce = -(_log_softmax([2, 0])[0] + _log_softmax([0, 1])[1]) / 2
    ce_r = -(_log_softmax([1, 0])[0] + _log_softmax([0, 3])[1]) / 2
    kl = 0.0
    for student, teacher in (([2, 0], [1, 0]), ([0, 1], [0, 3])):
        ls, lt = _log_softmax(student), _log_softmax(teacher)
        kl += sum(math.exp(t) * (t - s) for s, t in zip(ls, lt))
    kl /= 2
    # similarity rows: z_i · z_r_j / τ
    sims = [[0.6 / 0.5, 0.0], [0.8 / 0.5, 1.0 / 0.5]]
    nce = -(_log_softmax(sims[0])[0] + _log_softmax(sims[1])[1]) / 2
    assert terms["ce"].item() == pytest.approx(ce, abs=1e-6)
    assert terms["ce_reasoning"].item() == pytest.approx(ce_r, abs=1e-6)
    assert terms["kl"].item() == pytest.approx(kl, abs=1e-6)
    assert terms["info_nce"].item() == pytest.approx(nce, abs=1e-6)
    assert terms["loss"].item() == pytest.approx(ce + 0.5 * ce_r + 2.0 * kl + 0.25 * nce, abs=1e-6)


def test_soft_targets_equal_hard_targets_when_one_hot():
    logits = torch.randn(5, 4)
    labels = torch.tensor([0, 3, 1, 1, 2])
    assert soft_cross_entropy(logits, torch.nn.functional.one_hot(labels, 4).float()).item() == pytest.approx(
        soft_cross_entropy(logits, labels).item(), abs=1e-6)


def test_same_label_negatives_can_be_excluded():
    z = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    z_r = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    labels = torch.tensor([0, 0, 1, 1])
    masked = info_nce(z, z_r, 0.1, labels)
    sims = z @ z_r.T / 0.1
    keep = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 1]], dtype=torch.bool)
    expected = torch.stack([-(torch.log_softmax(sims[i][keep[i]], 0)[keep[i][: i + 1].sum() - 1]) for i in range(4)]).mean()
    assert masked.item() == pytest.approx(expected.item(), abs=1e-5)
    assert masked.item() != pytest.approx(info_nce(z, z_r, 0.1).item(), abs=1e-6)


def test_distillation_terms_send_no_gradient_into_the_reasoning_view():
    logits = torch.randn(4, 3, requires_grad=True)
    logits_r = torch.randn(4, 3, requires_grad=True)
    z = torch.randn(4, 6, requires_grad=True)
    z_r = torch.randn(4, 6, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 1])
    # Only the distillation terms: α = 0 and the standard-view CE subtracted out.
    terms = crsd_loss(logits, logits_r, z, z_r, targets, CRSDWeights(alpha=0.0, lambda_kl=1.0, gamma=1.0))
    (terms["kl"] + terms["info_nce"]).backward()
    assert logits_r.grad is None and z_r.grad is None
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_reasoning_view_learns_only_from_its_own_ce():
    logits = torch.randn(4, 3, requires_grad=True)
    logits_r = torch.randn(4, 3, requires_grad=True)
    z, z_r = torch.randn(4, 6, requires_grad=True), torch.randn(4, 6, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 1])
    crsd_loss(logits, logits_r, z, z_r, targets, CRSDWeights(alpha=0.7))["loss"].backward()
    expected = torch.autograd.grad(0.7 * soft_cross_entropy(logits_r, targets), logits_r)[0]
    assert torch.allclose(logits_r.grad, expected, atol=1e-6)


def test_kl_is_zero_for_identical_views():
    logits = torch.randn(3, 4)
    assert distillation_kl(logits, logits.clone()).item() == pytest.approx(0.0, abs=1e-6)
