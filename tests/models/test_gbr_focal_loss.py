"""GradientBalancedFocalLoss: GbR's drop-in for mmdet's sigmoid FocalLoss."""
import pytest
import torch
from mmdet.models.losses import FocalLoss

from cissod.models.losses import GradientBalancedFocalLoss, loss_normalizer
from cissod_core.gbr import sigmoid_gradient_matrix, sigmoid_logit_gradients

N = 4


def _batch(seed=0, samples=60):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(samples, N, generator=g) * 2 - 2
    labels = torch.randint(0, N + 1, (samples, ), generator=g)
    labels[:N + 1] = torch.arange(N + 1)
    weights = (torch.rand(samples, generator=g) > 0.1).float()
    return logits, labels, weights


def _loss(**kw):
    loss = GradientBalancedFocalLoss(num_classes=N, **kw)
    loss.train()
    return loss


def test_warmup_equals_mmdet_focal_loss():
    logits, labels, w = _batch()
    expected = FocalLoss(gamma=2.0, alpha=0.25)(logits, labels, w,
                                                avg_factor=9.0)
    got = _loss(warmup_iters=10)(logits, labels, w, avg_factor=9.0)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize('alpha', [0.25, None])
def test_loss_gradient_is_the_closed_form_the_statistics_model(alpha):
    """autograd of the loss = the closed form that G is built from."""
    logits, labels, w = _batch(1)
    z = logits.double().requires_grad_(True)
    loss = _loss(warmup_iters=10, gamma=1.5, alpha=alpha)
    out = loss(z, labels, w.double(), avg_factor=7.0)
    grad, = torch.autograd.grad(out, z)
    expected = sigmoid_logit_gradients(z, labels, w.double(), 1.5,
                                       alpha) / 7.0
    torch.testing.assert_close(grad, expected, rtol=1e-6, atol=1e-9)


def test_records_gradient_of_the_loss_scaled_by_avg_factor():
    logits, labels, w = _batch(2)
    loss = _loss(warmup_iters=1, stat_dtype=torch.float64)
    with loss.in_branch('unlabeled', loss_weight=4.0):
        loss(logits, labels, w, avg_factor=5.0)
    loss(logits, labels, w, avg_factor=5.0)  # default branch: labeled
    bal = loss.balancer
    assert bal.step()
    expected = 5.0 * sigmoid_gradient_matrix(
        logits.double(), labels, w.double(), 2.0, 0.25, normalizer=5.0)
    torch.testing.assert_close(bal.gradient_matrix, expected, rtol=1e-5,
                               atol=1e-9)


def test_after_warmup_weights_every_logit_of_a_sample():
    logits, labels, w = _batch(3)
    loss = _loss(warmup_iters=1)
    loss(logits, labels, w, avg_factor=5.0)
    loss.balancer.step()
    assert not loss.balancer.in_warmup
    per_elem = loss(logits, labels, w, reduction_override='none')
    plain = FocalLoss(gamma=2.0, alpha=0.25, reduction='none')(
        logits, labels, w)
    ratio = per_elem / plain.clamp(min=1e-30)
    valid = plain > 1e-12
    # one factor per sample (row), the class weight of its label
    row = ratio.max(1).values
    assert torch.allclose(ratio[valid], row.view(-1, 1).expand_as(ratio)
                          [valid], rtol=1e-4)
    bg = labels == N
    assert torch.allclose(row[bg & (w > 0)], row[bg & (w > 0)][0])
    assert not torch.allclose(row, torch.ones_like(row))


def test_normalizer_follows_mmdet_reduction():
    assert loss_normalizer(10, 4, 'mean', None) == 40.0
    assert loss_normalizer(10, 4, 'mean', 3.0) == 3.0
    assert loss_normalizer(10, 4, 'sum', None) == 1.0


def test_clear_errors():
    loss = _loss()
    with pytest.raises(ValueError, match=r'expects logits of shape \(R, 4\)'):
        loss(torch.zeros(3, 5), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='one-hot'):
        loss(torch.zeros(3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match='activated'):
        GradientBalancedFocalLoss(num_classes=4, activated=True)
    with pytest.raises(ValueError, match='jacobi solver normalises'):
        GradientBalancedFocalLoss(num_classes=4, solver=dict(type='jacobi'))
