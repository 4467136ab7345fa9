"""GradientBalancedLoss (the mmdet glue of GbR) and the branch context."""
import pytest
import torch
from mmdet.models.losses import CrossEntropyLoss

from cissod.models.losses import GradientBalancedLoss
from cissod_core.gbr import logit_gradients

N_FG = 5
C = N_FG + 1


def _batch(seed=0, rois=40):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(rois, C, generator=g) * 2
    labels = torch.randint(0, C, (rois, ), generator=g)
    label_weights = torch.rand(rois, generator=g) + 0.1
    return logits, labels, label_weights


def _loss(**kw):
    loss = GradientBalancedLoss(num_classes=N_FG, **kw)
    loss.train()
    return loss


def test_warmup_equals_mmdet_cross_entropy():
    logits, labels, lw = _batch()
    ours = _loss(warmup_iters=10)
    ref = CrossEntropyLoss(use_sigmoid=False)
    expected = ref(logits, labels, lw, avg_factor=17.0)
    got = ours(logits, labels, lw, avg_factor=17.0)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize('gamma', [0.0, 1.0, 2.0])
def test_autograd_gradient_matches_closed_form_used_for_g(gamma):
    """The loss's logit gradient is the one the gradient matrix models."""
    logits, labels, lw = _batch(1)
    logits = logits.double().requires_grad_(True)
    ours = _loss(warmup_iters=10, gamma=gamma)
    ours(logits, labels, lw.double(), reduction_override='sum').backward()
    expected = logit_gradients(logits.detach(), labels, lw.double(), gamma)
    torch.testing.assert_close(logits.grad.float(), expected.float(),
                               rtol=1e-5, atol=1e-6)


def test_after_warmup_applies_class_weights():
    ours = _loss(warmup_iters=1, betas=dict(labeled=0.5, unlabeled=1.0))
    logits, labels, lw = _batch(2)
    ours(logits, labels, lw)
    ours.balancer.step()
    assert not ours.balancer.in_warmup
    w = ours.balancer.weights.float()
    assert not torch.allclose(w, torch.ones_like(w))

    logits, labels, lw = _batch(3)
    got = ours(logits, labels, lw, avg_factor=11.0)
    u = w[labels]**0.5
    mean_u = (u * lw).sum() / lw.sum()  # first update: exact mean
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction='none')
    expected = (ce * lw * u / mean_u).sum() / 11.0
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_branches_record_scaled_statistics_and_ignore_records_nothing():
    logits, labels, lw = _batch(4)
    a, b = _loss(warmup_iters=5), _loss(warmup_iters=5)
    a(logits, labels, lw)  # default branch: labeled, weight 1
    with a.in_branch('unlabeled', loss_weight=4.0):
        a(logits, labels, lw)
    with a.in_branch(None):
        a(logits, labels, lw)
    b(logits, labels, lw)
    a.balancer.step()
    b.balancer.step()
    torch.testing.assert_close(a.balancer.gradient_matrix,
                               5.0 * b.balancer.gradient_matrix)


def test_eval_mode_records_nothing():
    logits, labels, lw = _batch(5)
    ours = _loss(warmup_iters=5)
    ours.eval()
    ours(logits, labels, lw)
    ours.balancer.step()
    assert ours.balancer.num_updates == 0


def test_branch_context_nesting_and_errors():
    loss, other = _loss(), _loss()
    assert loss.branch == ('labeled', 1.0)
    with loss.in_branch('unlabeled', 2.0):
        assert loss.branch == ('unlabeled', 2.0)
        assert other.branch == ('labeled', 1.0)  # state of this loss only
        with loss.in_branch(None):
            assert loss.branch.name is None
        assert loss.branch == ('unlabeled', 2.0)
    assert loss.branch == ('labeled', 1.0)
    with pytest.raises(ValueError, match='unknown GbR branch'):
        with loss.in_branch('unlabelled'):
            pass
    assert loss.branch == ('labeled', 1.0)


def test_wrong_number_of_logits_is_a_clear_error():
    ours = _loss()
    with pytest.raises(ValueError, match='num_classes'):
        ours(torch.randn(4, C + 1), torch.zeros(4, dtype=torch.long))


def test_jacobi_solver_loss_from_both_branches_as_the_reference():
    """The reference trains its Jacobi module from the labeled and the
    unlabeled loss: both branches emit the solver loss (the detector then
    weights it by sup_weight / unsup_weight); a branch-less pass does not."""
    ours = _loss(warmup_iters=1, solver=dict(type='jacobi'))
    logits, labels, lw = _batch(6)
    ours(logits, labels, lw)
    ours.balancer.step()
    out = ours(logits, labels, lw)
    assert set(out) == {'loss_cls', 'loss_gbr_solver'}
    assert out['loss_gbr_solver'].requires_grad
    assert float(out['loss_gbr_solver']) > 0.0
    with ours.in_branch('unlabeled', 4.0):
        out_u = ours(logits, labels, lw)
    assert out_u['loss_gbr_solver'].requires_grad
    assert float(out_u['loss_gbr_solver']) == float(out['loss_gbr_solver'])
    with ours.in_branch(None):
        out_none = ours(logits, labels, lw)
    assert float(out_none['loss_gbr_solver']) == 0.0


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_mixed_precision_keeps_statistics_in_float32(dtype):
    """With --amp the logits arrive in half precision: the loss is computed
    in float32 and G is accumulated in float32 from the same logits."""
    logits, labels, lw = _batch(2)
    half = logits.to(dtype)
    amp, ref = _loss(warmup_iters=10), _loss(warmup_iters=10)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        loss = amp(half, labels, lw)
    assert loss.dtype == torch.float32
    ref(half.float(), labels, lw)
    amp.balancer.step()
    ref.balancer.step()
    G = amp.balancer.gradient_matrix
    assert G.dtype == torch.float32
    torch.testing.assert_close(G, ref.balancer.gradient_matrix)
    assert torch.isfinite(G).all() and G.abs().sum() > 0
