r"""Soft and hard top-k membership of items, per user: eq. (7)–(8) of Zhou et al.

Paper: Zhou, Dalleiger, Calikus, Gionis, *Gradient-based Diversity Optimization with Differentiable Top-K
Objective*, ICLR 2026; equation numbers follow the full June-2025 text (``shared/notes/paper.md`` §1.2).

Conventions used across divlib:

* ``scores`` is a ``(B, m)`` float tensor, one row per user over the whole catalogue (or a candidate set).
* Ranks are **descending**: rank 1 is the highest score. torchsort's ascending ranks are converted in
  :func:`_descending_soft_rank` only.
* ``exclude`` is an optional ``(B, m)`` bool tensor of items that must never enter a user's top-k (their
  training items). On the hard path they are set to ``-inf`` before the top-k. On the soft path every input
  of the soft rank stays finite: see :func:`soft_rank`.

Besides a model's own ranking (:func:`topk_items`), two rankings without a model anchor ground-truth
measures: :func:`popular_items` (by training popularity) and :func:`random_items` (uniform).
"""

import torch
import torchsort

from divlib._validate import (
    check_candidates,
    check_count,
    check_exclude,
    check_positive,
    check_scores,
)
from divlib.errors import DivlibError

REGULARIZATIONS = ("l2", "kl")


def soft_rank(
    scores: torch.Tensor,
    *,
    eps: float,
    regularization: str = "l2",
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Descending soft ranks of every row (Blondel et al. 2020), eq. (7).

    .. math:: \tilde z_u = \arg\min_{r \in \mathcal P(\rho)} \tfrac12 \| r - \theta_u \|^2,
              \quad \theta_u = -\tilde r_u / \varepsilon, \quad \rho = (m, m-1, \dots, 1)

    for ``regularization="l2"`` (the form the official code uses; ``"kl"`` is the entropic projection).
    As ``eps`` → 0 the soft ranks tend to the hard ranks (Lemma 1); as ``eps`` grows they tend to the
    constant ``(m + 1) / 2``. ``eps`` is torchsort's ``regularization_strength``.

    Args:
        scores: ``(B, m)`` finite float scores.
        eps: regularization strength ε > 0. With ``"l2"``, items whose scores differ by less than about
            ``eps`` share a PAV block: their ranks are averaged, and only such items get a gradient.
        regularization: ``"l2"`` or ``"kl"``. ``"kl"`` gives NaN gradients at small ``eps`` (float32:
            every ε ≤ 0.03 in our probe; torchsort issue #63), so divlib defaults to ``"l2"``.
        exclude: optional ``(B, m)`` bool; ``True`` marks items that must rank last.

    Returns:
        ``(B, m)`` soft ranks in ``[1, m]``, 1 = highest score.

    Note:
        Exclusion keeps the input finite. Each excluded score is replaced by the constant
        ``min_j scores[b, j] - eps * (m + 1)`` (detached), so excluded items receive no gradient, and the
        gap of ``m + 1`` in units of ε is wider than any pool-adjacent-violators block can bridge: the
        non-excluded items get exactly the soft ranks ``1..n`` they would get alone, and the excluded ones
        the ranks ``n+1..m`` (tied among themselves). ``test_exclusion_equals_ranking_the_rest`` pins this.
    """
    check_scores(scores)
    eps = check_positive("eps", eps)
    if regularization not in REGULARIZATIONS:
        raise DivlibError(
            f"regularization must be one of {REGULARIZATIONS}; got {regularization!r}"
        )
    if exclude is not None:
        check_exclude(exclude, scores)
        scores = push_excluded_below(scores, exclude, eps)
    return _descending_soft_rank(scores, eps, regularization)


def soft_topk(
    scores: torch.Tensor,
    *,
    k: int,
    eps: float,
    tau: float = 1.0,
    offset: float = 0.0,
    exclude: torch.Tensor | None = None,
    regularization: str = "l2",
) -> torch.Tensor:
    r"""Soft top-k membership of every item, eq. (8).

    .. math:: \tilde l_u(i) = \sigma\big((k + \text{offset} - \tilde z_u(i)) / \tau\big)

    with :math:`\tilde z_u` the descending soft rank of :func:`soft_rank` (strength ``eps``).

    Args:
        scores: ``(B, m)`` finite float scores.
        k: list length, ``1 <= k <= m``.
        eps: soft-rank strength ε > 0.
        tau: sigmoid temperature τ > 0; the paper and the official code use 1.
        offset: shift of the threshold. 0 is the paper's σ_τ(k − z̃): the k-th item gets 1/2.
        exclude: optional ``(B, m)`` bool; excluded items get membership exactly 0 and no gradient.
        regularization: ``"l2"`` or ``"kl"``, as in :func:`soft_rank`.

    Returns:
        ``(B, m)`` memberships in [0, 1). With hard ranks a row sums to about ``k + offset − 1/2``.

    Note:
        As ε, τ → 0 the item ranked exactly ``k + offset`` keeps membership 1/2. With the paper's
        ``offset=0`` the limit is the top-(k−1) plus half of the k-th item; ``offset=0.5`` puts the
        threshold between ranks k and k+1 and gives exactly :func:`topk_indicator` (and rows summing to
        about k at any τ ≤ 1). The official DDRO code computes ``sigmoid(ascending_rank - (m - k))`` =
        σ(k + 1 − z̃), i.e. ``offset=1``: there the (k+1)-th item gets 1/2. Pinned by
        ``test_soft_topk_limit_depends_on_offset``.
    """
    check_count("k", k, scores.shape[-1] if scores.dim() == 2 else None)
    ranks = soft_rank(scores, eps=eps, regularization=regularization, exclude=exclude)
    return topk_membership(ranks, k=k, tau=tau, offset=offset, exclude=exclude)


def topk_membership(
    ranks: torch.Tensor,
    *,
    k: int,
    tau: float = 1.0,
    offset: float = 0.0,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Top-k membership from descending (soft) ranks: σ((k + offset − z̃)/τ), 0 where ``exclude``.

    The second half of :func:`soft_topk`, for callers that already hold the ranks.
    """
    check_count("k", k, None)
    tau = check_positive("tau", tau)
    membership = torch.sigmoid((k + offset - ranks) / tau)  # (B, m)
    if exclude is not None:
        membership = membership.masked_fill(exclude, 0.0)
    return membership


def topk_items(
    scores: torch.Tensor, *, k: int, start: int = 0, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Ids of the items ranked ``start+1 .. start+k`` per row, best first.

    Args:
        scores: ``(B, m)`` finite float scores.
        k: number of items, ``k >= 1``.
        start: ranks skipped before the window; ``start=k`` gives the paper's "k+1 ∼ 2k".
        exclude: optional ``(B, m)`` bool; excluded items never enter the window.

    Returns:
        ``(B, k)`` int64 item ids. Ties are broken by ``torch.topk`` (deterministic on CPU).

    Raises:
        DivlibError: a row has fewer than ``start + k`` items that are not excluded.
    """
    check_scores(scores)
    check_count("k", k, None)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise DivlibError(f"start must be an int >= 0; got {start!r}")
    if exclude is not None:
        check_exclude(exclude, scores)
        check_candidates(exclude, start + k)
        scores = scores.masked_fill(exclude, float("-inf"))
    elif start + k > scores.shape[1]:
        raise DivlibError(f"start + k = {start + k} exceeds the {scores.shape[1]} items per row")
    return scores.topk(start + k, dim=1).indices[:, start:]  # (B, k)


def topk_indicator(
    scores: torch.Tensor, *, k: int, start: int = 0, exclude: torch.Tensor | None = None
) -> torch.Tensor:
    """Hard 0/1 indicator of the items ranked ``start+1 .. start+k``, the limit of :func:`soft_topk`.

    Returns:
        ``(B, m)`` tensor of the dtype of ``scores``, with exactly ``k`` ones per row.
    """
    items = topk_items(scores, k=k, start=start, exclude=exclude)
    return torch.zeros_like(scores).scatter_(1, items, 1.0)


def popular_items(popularity: torch.Tensor, *, k: int, exclude: torch.Tensor) -> torch.Tensor:
    """The most-popular ranking, an anchor for ground-truth measures: each user's ``k`` most popular
    items outside ``exclude``, best first, ties to the lower item id.

    Args:
        popularity: ``(m,)`` each item's training interactions (or any score every user shares).
        k: list length.
        exclude: ``(B, m)`` bool; excluded items (a user's training and validation items) are never
            listed.

    Returns:
        ``(B, k)`` int64 item ids, on the device of ``exclude``.

    Raises:
        DivlibError: ``popularity`` is not one value per item, or a row has fewer than ``k`` items
            that are not excluded.
    """
    if popularity.dim() != 1 or popularity.shape[0] != exclude.shape[-1]:
        raise DivlibError(
            f"popularity must hold one value per item, shape ({exclude.shape[-1]},); got "
            f"{tuple(popularity.shape)}"
        )
    scores = popularity.to(exclude.device, torch.float64).expand(exclude.shape)  # (B, m)
    return _stable_top(scores, k, exclude)


def random_items(*, k: int, exclude: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The random ranking, an anchor for ground-truth measures: per user, the first ``k`` items of a
    uniformly random order of the items outside ``exclude`` (``k`` draws without replacement).

    Each item gets a U(0, 1) score from ``generator`` and the items are sorted by it, so the same
    generator state gives the same lists, and a list's first j items are the lists of length j.

    Args:
        k: list length.
        exclude: ``(B, m)`` bool; excluded items are never listed.
        generator: the source of the scores, on the device of ``exclude``.

    Returns:
        ``(B, k)`` int64 item ids.
    """
    if generator.device != exclude.device:
        raise ValueError(
            f"generator is on {generator.device}, exclude on {exclude.device}; make the generator "
            "on the device of exclude"
        )
    scores = torch.rand(exclude.shape, generator=generator, device=exclude.device)  # (B, m)
    return _stable_top(scores, k, exclude)


def _stable_top(scores: torch.Tensor, k: int, exclude: torch.Tensor) -> torch.Tensor:
    """``(B, k)`` ids of the ``k`` highest ``scores`` per row outside ``exclude``, ties to the lower
    id (a stable sort, unlike :func:`topk_items`)."""
    check_exclude(exclude, scores)
    check_count("k", k, None)
    check_candidates(exclude, k)
    ranked = scores.masked_fill(exclude, float("-inf")).argsort(dim=1, descending=True, stable=True)
    return ranked[:, :k]  # (B, k)


def _descending_soft_rank(scores: torch.Tensor, eps: float, regularization: str) -> torch.Tensor:
    """torchsort ranks ascending (largest = m); ranking ``-scores`` gives descending ranks (largest = 1)."""
    return torchsort.soft_rank(-scores, regularization=regularization, regularization_strength=eps)


def push_excluded_below(scores: torch.Tensor, exclude: torch.Tensor, eps: float) -> torch.Tensor:
    """Replace excluded scores by a detached constant ``eps * (m + 1)`` below the row's minimum.

    The exclusion rule of :func:`soft_rank` (see its Note), shared with the windowed DDRO.
    """
    floor = scores.detach().amin(dim=1, keepdim=True) - eps * (scores.shape[1] + 1)  # (B, 1)
    return torch.where(exclude, floor, scores)
