"""``GradientBalancer``: all state of gradient-based reweighting (GbR).

Life cycle of one training iteration (docs/gbr.md):

1. forward: the RoI classification loss of every branch calls
   :meth:`GradientBalancer.roi_weights` (per-RoI multiplicative loss
   weights) and :meth:`GradientBalancer.record` (its logits, labels and
   label weights; detached statistics only). A learnable solver's
   :meth:`GradientBalancer.solver_loss` is added to the detector's loss.
2. after backward: :meth:`GradientBalancer.step` (once per iteration, on
   every rank) reduces the pending statistics across ranks, folds them into
   the accumulated G-hat and, after the warm-up, re-solves the class
   weights.

State and checkpoints. Everything that determines future weights is a
buffer or parameter of this module or of its submodules, so the ordinary
``state_dict()`` / ``load_state_dict()`` of the detector saves and resumes
it exactly:

====================================  =====================================
key                                    content
====================================  =====================================
``grad_matrix.value``                  G-hat ``(C, C)`` (``stat_dtype``)
``grad_matrix.count``                  number of accumulated iterations
``weight_means.<branch>.value/count``  running mean of the RoI-weight mean
``solver.*``                           solver state: ``weights`` ``(C,)``;
                                       power/direct ``raw`` (warm start);
                                       jacobi ``a`` (parameter),
                                       ``target``, ``has_target``
``num_skipped`` / ``num_empty``        iterations skipped (non-finite /
                                       nothing recorded on any rank)
====================================  =====================================

The per-iteration *pending* statistics are deliberately a plain tensor
attribute, not a buffer: they are transient (cleared by :meth:`step`), must
not be saved, must not be broadcast by DDP (``broadcast_buffers``) or
averaged into an EMA teacher. Layout: a flat ``stat_dtype`` tensor of
``C*C + 1`` entries, the ``(C, C)`` sum over this iteration's
:meth:`record` calls of ``loss_weight / R * N`` (diagonal 0) followed by
the number of RoIs recorded, so one collective reduces both.

Warm-up: for the first ``warmup_iters`` accumulated iterations G-hat is an
exact running mean and the weights are exactly 1; from then on G-hat is an
EMA (``momentum``) and the weights come from the solver
(:mod:`.accumulator`, :mod:`.solvers`).

Robustness: when the reduced pending statistics are not finite (NaN / inf
logits on some rank), the iteration is skipped: nothing is accumulated, the
weights stay as they are, ``num_skipped`` is incremented. Since the check is
made on the reduced tensor, every rank takes the same decision. An
iteration in which no rank recorded any RoI increments ``num_empty`` and is
skipped too. Neither counts towards the warm-up.
"""
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from .accumulator import RunningAverage
from .class_weights import batch_weight_mean, roi_class_weights
from .gradient_matrix import accumulate_negative_gradients
from .sigmoid_gradient_matrix import accumulate_sigmoid_gradients
from .sigmoid_logit_gradients import focal_alpha_factors
from .solvers import BaseSolver, PowerSolver, balance_residual

__all__ = ['GradientBalancer', 'CLASSIFIERS']

_IGNORE = (None, 'ignore')

#: Classifier types whose gradients :meth:`GradientBalancer.record` knows:
#: ``'softmax'`` (n + 1 logits, background last, :mod:`.gradient_matrix`)
#: and ``'sigmoid'`` (n logits, background = label n,
#: :mod:`.sigmoid_gradient_matrix`). Both fill the same ``(n+1, n+1)`` G.
CLASSIFIERS = ('softmax', 'sigmoid')


class GradientBalancer(nn.Module):
    """Gradient statistics, class-weight solver and per-RoI loss weights.

    Args:
        num_classes (int): n, the number of foreground classes; the
            classifier has C = n + 1 outputs, background last.
        warmup_iters (int): iterations (accumulated updates) during which
            the weights are 1 and G-hat is an exact mean. 8000 on COCO/LVIS,
            12000 on COCO -> O365.
        momentum (float): EMA factor of G-hat after the warm-up.
        solver (callable, optional): builds the solver from keyword
            arguments ``num_classes``, ``weight_bounds``, ``bg_max``,
            ``active_tol`` and ``normalization`` (``'foreground'`` for a
            sigmoid classifier) (a :class:`~.solvers.BaseSolver` subclass
            such as
            :class:`~.solvers.JacobiSolver`, or a ``functools.partial`` of
            one); :class:`~.solvers.PowerSolver` when None. Configs name the
            solver instead (``GradientBalancedLoss(solver=dict(type=...))``,
            built from the ``GBR_SOLVERS`` registry of the mmdet glue).
        weight_bounds (tuple[float, float]): bounds of every class weight.
        bg_max (float): upper bound of the background weight.
        betas (dict[str, float]): exponent of the class weight per branch;
            its keys are the valid branch names.
        gamma (float): focal exponent of the classification loss whose
            gradients are recorded (0 = cross-entropy).
        classifier (str): ``'softmax'`` (default) or ``'sigmoid'``
            (:data:`CLASSIFIERS`): how :meth:`record` reads the logits.
        focal_alpha (float, optional): sigmoid focal alpha (positives
            ``alpha``, negatives ``1 - alpha``); None: no alpha factors.
            Sigmoid only.
        weight_mean_momentum (float, optional): EMA factor of the per-branch
            mean RoI weight (exact mean for its first
            ``round(1 / (1 - m))`` updates); ``momentum`` when None.
        solve_interval (int): re-solve every this many iterations after the
            warm-up (1 = every iteration).
        active_tol (float): classes with ``P_i <= active_tol * max P`` are
            inactive (they keep their weight), see :mod:`.solvers`.
        stat_dtype (torch.dtype): dtype of G-hat and of the pending
            statistics. float32 (default) halves the memory traffic of the
            per-iteration work (accumulation, solver) and is far below the
            statistical noise of G; float64 for exact comparisons.
    """

    def __init__(self,
                 num_classes: int,
                 warmup_iters: int = 8000,
                 momentum: float = 0.999,
                 solver: Optional[Callable[..., BaseSolver]] = None,
                 weight_bounds: Tuple[float, float] = (1.0 / 3.0, 5.0),
                 bg_max: float = 1.0,
                 betas: Optional[Dict[str, float]] = None,
                 gamma: float = 0.0,
                 classifier: str = 'softmax',
                 focal_alpha: Optional[float] = None,
                 weight_mean_momentum: Optional[float] = None,
                 solve_interval: int = 1,
                 active_tol: float = 1e-12,
                 stat_dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f'num_classes must be >= 1, got {num_classes}')
        if warmup_iters < 0:
            raise ValueError(f'warmup_iters must be >= 0, got {warmup_iters}')
        if solve_interval < 1:
            raise ValueError(f'solve_interval must be >= 1, got '
                             f'{solve_interval}')
        if gamma < 0:
            raise ValueError(f'gamma must be >= 0, got {gamma}')
        if classifier not in CLASSIFIERS:
            raise ValueError(f'classifier must be one of {CLASSIFIERS}, got '
                             f'{classifier!r}')
        if focal_alpha is not None and classifier != 'sigmoid':
            raise ValueError('focal_alpha applies to sigmoid classifiers '
                             "only (classifier='sigmoid')")
        focal_alpha_factors(focal_alpha)  # validates
        self.classifier = classifier
        self.focal_alpha = focal_alpha
        self.num_classes = int(num_classes)
        self.num_outputs = self.num_classes + 1
        #: logits per sample: n + 1 (softmax) or n (sigmoid)
        self.num_logits = (self.num_outputs
                           if classifier == 'softmax' else self.num_classes)
        self.warmup_iters = int(warmup_iters)
        self.solve_interval = int(solve_interval)
        self.gamma = float(gamma)
        self.weight_bounds = (float(weight_bounds[0]), float(weight_bounds[1]))
        self.bg_max = float(bg_max)
        if betas is None:
            betas = dict(labeled=0.5, unlabeled=1.0)
        self.betas = {str(k): float(v) for k, v in betas.items()}
        C = self.num_outputs
        self.grad_matrix = RunningAverage((C, C),
                                          momentum=momentum,
                                          exact_updates=max(warmup_iters, 1),
                                          dtype=stat_dtype)
        if solver is not None and not callable(solver):
            raise TypeError(
                'solver must build a BaseSolver from keyword arguments (e.g. '
                f'JacobiSolver), got {type(solver).__name__}; configs use '
                "GradientBalancedLoss(solver=dict(type='jacobi'))")
        self.solver = (PowerSolver if solver is None else solver)(
            num_classes=self.num_classes,
            weight_bounds=self.weight_bounds,
            bg_max=self.bg_max,
            active_tol=active_tol,
            normalization='all' if classifier == 'softmax' else 'foreground')
        if not isinstance(self.solver, BaseSolver):
            raise TypeError(f'the solver factory returned '
                            f'{type(self.solver).__name__}, not a BaseSolver')
        wm = momentum if weight_mean_momentum is None else weight_mean_momentum
        self.weight_means = nn.ModuleDict(
            {b: RunningAverage((), momentum=wm)
             for b in self.betas})
        self.register_buffer('num_skipped', torch.zeros((), dtype=torch.long))
        self.register_buffer('num_empty', torch.zeros((), dtype=torch.long))
        self._pending: Optional[Tensor] = None
        #: apply the class weights (True) or keep every weight at 1 while
        #: still recording G (False: GbR switched off, e.g. by
        #: ``cissod_cfg.gbr.enable=False``); set by the owner, not saved
        self.reweighting = True

    # ------------------------------------------------------------------
    # read-only views

    @property
    def num_updates(self) -> int:
        """Iterations accumulated into G-hat so far (host int)."""
        return self.grad_matrix.num_updates

    @property
    def in_warmup(self) -> bool:
        """True while fewer than ``warmup_iters`` iterations were
        accumulated (weights are exactly 1)."""
        return self.grad_matrix.num_updates < self.warmup_iters

    @property
    def gradient_matrix(self) -> Tensor:
        """Accumulated G-hat, ``(C, C)`` ``stat_dtype`` (the buffer)."""
        return self.grad_matrix.value

    @property
    def weights(self) -> Tensor:
        """Clamped class weights in use, ``(C,)`` float64 (ones in warm-up
        and with :attr:`reweighting` off)."""
        if self.in_warmup or not self.reweighting:
            return torch.ones(self.num_outputs,
                              dtype=torch.float64,
                              device=self.grad_matrix.value.device)
        return self.solver.current_weights()

    # ------------------------------------------------------------------
    # per-iteration API

    def _check_branch(self, branch: Optional[str]) -> bool:
        """True if ``branch`` is active, False if it is an ignore branch."""
        if branch in _IGNORE:
            return False
        if branch not in self.betas:
            raise KeyError(f'unknown branch {branch!r}; expected one of '
                           f'{sorted(self.betas)} or None / "ignore"')
        return True

    def _get_pending(self) -> Tensor:
        ref = self.grad_matrix.value
        n = self.num_outputs * self.num_outputs + 1
        if (self._pending is None or self._pending.device != ref.device
                or self._pending.dtype != ref.dtype
                or self._pending.numel() != n):
            self._pending = torch.zeros(n, dtype=ref.dtype, device=ref.device)
        return self._pending

    @torch.no_grad()
    def record(self,
               logits: Tensor,
               labels: Tensor,
               label_weights: Optional[Tensor] = None,
               branch: Optional[str] = 'labeled',
               loss_weight: float = 1.0,
               probs: Optional[Tensor] = None,
               normalizer: Optional[float] = None) -> None:
        """Add one batch's gradient statistics to the pending sum.

        Adds ``loss_weight / R * N`` (see :mod:`.gradient_matrix`, and
        :mod:`.sigmoid_gradient_matrix` for sigmoid classifiers) of the
        batch; no-op in eval mode, for an empty batch and for
        ``branch in (None, 'ignore')``. Does not synchronise with the
        device.

        Args:
            logits (Tensor): ``(R, C)`` classification scores (any float
                dtype; statistics in float32 or better, detached); sigmoid:
                ``(R, n)``.
            labels (Tensor): ``(R,)`` labels in ``[0, C)``, C-1 background
                (sigmoid: in ``[0, n]``, n background).
            label_weights (Tensor, optional): ``(R,)`` mmdet label weights
                ``lambda_r`` (not multiplied by the GbR weights); sigmoid
                also ``(R, n)``.
            branch (str, optional): ``'labeled'`` / ``'unlabeled'`` (keys of
                ``betas``), or None / ``'ignore'`` to record nothing.
            loss_weight (float): weight of this branch's loss (1 labeled,
                ``unsup_weight`` unlabeled).
            probs (Tensor, optional): ``(R, C)`` ``softmax(logits)`` if the
                loss already computed it (saves the softmax, the dominant
                cost of this call). Softmax only.
            normalizer (float, optional): the batch is scaled by
                ``loss_weight / normalizer``; R when omitted (the sigmoid
                loss passes its ``avg_factor``, the number of positives).
        """
        if not self._check_branch(branch) or not self.training:
            return
        if logits.dim() != 2 or logits.shape[1] != self.num_logits:
            raise ValueError(f'{self.classifier} logits must be (R, '
                             f'{self.num_logits}), got {tuple(logits.shape)}')
        num_rois = logits.shape[0]
        if num_rois == 0 or loss_weight == 0:
            return
        pending = self._get_pending()
        C = self.num_outputs
        scale = float(loss_weight) / float(
            num_rois if normalizer is None else normalizer)
        if self.classifier == 'sigmoid':
            accumulate_sigmoid_gradients(
                pending[:-1].view(C, C), logits.to(pending.device),
                labels.to(pending.device),
                None if label_weights is None else
                label_weights.to(pending.device),
                gamma=self.gamma, focal_alpha=self.focal_alpha, alpha=scale)
            pending[-1] += num_rois
            return
        accumulate_negative_gradients(pending[:-1].view(C, C),
                                      logits.to(pending.device),
                                      labels.to(pending.device),
                                      None if label_weights is None else
                                      label_weights.to(pending.device),
                                      gamma=self.gamma,
                                      alpha=scale,
                                      probs=None if probs is None else
                                      probs.to(pending.device))
        pending[-1] += num_rois

    @torch.no_grad()
    def roi_weights(self,
                    labels: Tensor,
                    branch: Optional[str] = 'labeled',
                    label_weights: Optional[Tensor] = None) -> Tensor:
        """Per-RoI multiplicative classification-loss weights.

        ``w[y_r] ** beta_branch / mbar_branch`` where ``mbar`` is the running
        mean of the batch means (label-weighted if ``label_weights`` is
        given), see :mod:`.class_weights`. In training mode the running mean
        is updated first with this batch; in eval mode it is only read.

        Args:
            labels (Tensor): ``(R,)`` labels (outside ``[0, C)``: weight 1
                before normalisation).
            branch (str, optional): branch name; None / ``'ignore'`` give
                ones.
            label_weights (Tensor, optional): ``(R,)`` ``lambda_r``, only
                used to weight the batch mean.

        Returns:
            Tensor: ``(R,)`` float32 on the device of ``labels``, detached;
            all ones during the warm-up and with :attr:`reweighting` off.
        """
        num_rois = labels.numel()
        ones = torch.ones(num_rois, dtype=torch.float32, device=labels.device)
        if (not self._check_branch(branch) or self.in_warmup
                or not self.reweighting):
            return ones
        w = self.weights
        u = roi_class_weights(w, labels.to(w.device), self.betas[branch])
        lw = None if label_weights is None else label_weights.to(w.device)
        ema = self.weight_means[branch]
        if num_rois == 0:
            return ones
        if self.training:
            m = batch_weight_mean(u, lw)
            fallback = ema.value if ema.num_updates > 0 else m.new_tensor(1.)
            ema.update(torch.where(torch.isfinite(m), m, fallback))
            denom = ema.value
        elif ema.num_updates > 0:
            denom = ema.value
        else:
            m = batch_weight_mean(u, lw)
            denom = torch.where(torch.isfinite(m), m, m.new_tensor(1.))
        return (u / denom).to(device=labels.device, dtype=torch.float32)

    @torch.no_grad()
    def step(self,
             reduce_fn: Optional[Callable[[Tensor], Optional[Tensor]]] = None
             ) -> bool:
        """End of iteration: reduce, accumulate, re-solve; clear pending.

        Must be called on every rank every iteration (also when nothing was
        recorded), after backward, because ``reduce_fn`` is a collective.

        Args:
            reduce_fn (callable, optional): applied to the flat pending
                tensor (``C*C + 1`` entries, ``stat_dtype``); the mmdet glue
                passes an all-reduce *sum*. It may work in place; a non-None
                return value is used instead of its argument (and may then
                be modified here).

        Returns:
            bool: whether G-hat was updated this iteration.
        """
        C = self.num_outputs
        pending = self._get_pending()
        flat = pending
        if reduce_fn is not None:
            out = reduce_fn(flat)
            if out is not None:
                flat = out
        G = flat[:-1].view(C, C)
        P = G.sum(1)  # diagonal is 0 in the pending sum
        count, finite = torch.stack(
            [flat[-1].to(torch.float64),
             torch.isfinite(P).all().to(torch.float64)]).tolist()
        if count <= 0:
            self.num_empty += 1
            pending.zero_()
            return False
        if not finite:
            self.num_skipped += 1
            pending.zero_()
            return False
        G.diagonal().copy_(-P)
        self.grad_matrix.update(G)
        pending.zero_()
        n = self.grad_matrix.num_updates
        if n >= self.warmup_iters and \
                (n - self.warmup_iters) % self.solve_interval == 0:
            self.solver.solve(self.grad_matrix.value)
        return True

    def solver_loss(self) -> Tensor:
        """Loss training the solver (``jacobi``) to add to the detector loss.

        ``0 * sum(parameters)`` while warming up, so that DDP sees every
        parameter used; a constant 0 for non-learnable solvers (which have
        no parameters).
        """
        if self.solver.learnable and self.training and not self.in_warmup:
            return self.solver.loss()
        params = list(self.solver.parameters())
        if params:
            return sum(p.sum() for p in params) * 0.0
        return self.grad_matrix.value.new_zeros((), dtype=torch.float32)

    # ------------------------------------------------------------------
    # diagnostics

    def balance_residual(self, per_class: bool = False) -> Tensor:
        """Imbalance of G-hat under the current weights.

        ``max_i |w_i P_i - sum_{k != i} w_k N[k, i]| / max_j P_j`` over the
        active classes (``per_class=True``: each class relative to its own
        larger term); see :func:`.solvers.balance_residual`.
        """
        return balance_residual(self.gradient_matrix, self.weights,
                                per_class=per_class,
                                active_tol=self.solver.active_tol)

    def summary(self) -> Dict[str, float]:
        """Scalars for logging (host values; synchronises)."""
        w = self.weights
        return dict(
            num_updates=float(self.num_updates),
            in_warmup=float(self.in_warmup),
            num_skipped=float(self.num_skipped),
            num_empty=float(self.num_empty),
            weight_min=float(w.min()),
            weight_max=float(w.max()),
            weight_bg=float(w[-1]),
            balance_residual=float(self.balance_residual()),
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata,
                              strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
        self._pending = None  # transient statistics never survive a load

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, classifier='
                f'{self.classifier}, warmup_iters='
                f'{self.warmup_iters}, gamma={self.gamma}, betas={self.betas}'
                f', bounds={self.weight_bounds}, bg_max={self.bg_max}')
