r"""The bootstrap's replicates computed B at a time from a (B x n) matrix of resampling counts.

A bootstrap resample of the IPTW pipeline is the original patients with multiplicities :math:`c_{bi}` (how
often patient *i* was drawn in replicate *b*). Every statistic of a replicate is a sum over its rows, so it is
the same sum over the original patients with :math:`c_{bi}` multiplying the case weights; and all replicates
share the original times. What every chunk shares is computed once per run (:func:`plan_batches`: the
full-data fits and the grouping of patients by event time). Then, for a chunk of replicates at once:

* the logistic propensity refit starts from the full-data estimate :math:`\hat\beta_0` and iterates with the
  fixed full-data information :math:`I_0` (a chord, or modified Newton, iteration: two (B x n x p) products
  and one tanh pass per step, no per-replicate information), which contracts by :math:`O(n^{-1/2})` per step
  at large n; a replicate that does not converge within a few steps, contracts slowly, reaches a linear
  predictor above 15 or drops a design column is refitted by the exact Newton-Raphson from 0 (the
  information of every replicate one matrix product of the (B x n) weight matrix with the n x p(p+1)/2
  row-wise products of the design, the step one batched solve), which classifies failures as
  :func:`~gistcausal.stats.logistic.logistic_newton` does;
* the weights are :func:`gistcausal.stats.weights.weight_values_counts` (weight_values with counts);
* Kaplan-Meier per arm: weighted events at each event time and weights in each interval between event times
  are one sparse product with the columns of :math:`c_{bi} w_{bi}`, numbers at risk the reverse cumulative
  sums of the latter, :math:`\hat S` the cumulative product, RMST the area to the horizon
  (:mod:`gistcausal.stats.km`'s arithmetic: the curve only steps at event times);
* the Cox model has one binary covariate, so its risk-set sums at :math:`\beta` are
  :math:`R_0(t) e^{\beta x_0} + R_1(t) e^{\beta x_1}` from the per-arm numbers at risk; Efron's tied deaths
  are rows over the (replicate, time) pairs with deaths; Newton-Raphson with step-halving and the stopping
  rule of :func:`gistcausal.stats.cox.cox_newton` for all replicates of the chunk at once, from the full-data
  log hazard ratio; a replicate that does not converge from there, or converges beyond
  :data:`COX_WARM_MAX`, is refitted from 0 as cox_newton does.

Warm starts change the path, not the fixed point: both likelihoods are concave, so a converged iteration ends
at the one maximum the one-replicate path finds. The chord stops when its error bound (the step times
q / (1 - q), q the observed contraction) is below 1e-12, tighter than logistic_newton's step below 1e-10; the
Cox iteration stops by cox_newton's own rule (relative log-likelihood change below 1e-10 and step below
1e-7). Failures get the same reason in the same order of checks, so a replicate computed here equals the one
computed by :func:`gistcausal.inference.bootstrap._statistics` on the same resample to rounding (1e-10 in the
tests). Memory: a chunk holds a few (B_chunk x n) float arrays; :func:`chunk_size` bounds one of them.

References
----------
Efron B, Tibshirani RJ (1993). An Introduction to the Bootstrap. Chapman & Hall (ch. 6: resampling counts).
Therneau TM, Grambsch PM (2000). Modeling Survival Data. Springer (ch. 3: weighted Cox, Efron ties).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import linalg, sparse, special

from gistcausal.errors import ModelFitError, SeparationError
from gistcausal.stats.logistic import logistic_newton
from gistcausal.stats.weights import weight_values_counts

#: Largest |log hazard ratio| a replicate's Cox fit from the full-data estimate is accepted at (hazard
#: ratio 1/148 to 148); beyond it the replicate is refitted from 0 as cox_newton does.
COX_WARM_MAX = 5.0

#: Bytes one (B_chunk x n) float64 array of a chunk may take (the chunk holds about ten such arrays).
CHUNK_BYTES = 16 * 2 ** 20


def batch_unsupported(p: Any) -> str:
    """Why the problem ``p`` (a :class:`gistcausal.inference.bootstrap.Problem`) needs the one-replicate path,
    or ``""`` when the batched path computes it."""
    if p.weight_method != "iptw":
        return f"weights method {p.weight_method!r} is refitted per replicate"
    if p.ps_method != "logistic":
        return f"propensity method {p.ps_method!r} is refitted per replicate"
    if p.X is None:
        return "no propensity design matrix"
    return ""


def chunk_size(n: int, n_boot: int) -> int:
    """Replicates per chunk: one (B_chunk x n) float64 array within :data:`CHUNK_BYTES`."""
    return int(max(1, min(n_boot, CHUNK_BYTES // (8 * max(n, 1)))))


@dataclass(frozen=True)
class BatchPlan:
    r"""What every chunk of one problem shares, computed once by :func:`plan_batches` (not a result: it holds
    patient-level arrays and lives only in the bootstrap's workers).

    Attributes
    ----------
    ps_beta, ps_info_inv : ndarray or None
        Full-data logistic coefficients and the inverse of the full-data information
        :math:`X^\top \operatorname{diag}\{p(1-p)\} X` at them: the warm start and the fixed matrix of the
        replicates' chord iteration (None when the full-data fit fails: every replicate then starts from 0).
    cox_beta : float or None
        Full-data IPTW Cox log hazard ratio: the warm start of the replicates' Cox iterations.
    times : ndarray
        Distinct event times (any arm), ascending: the only times where a Kaplan-Meier curve steps or the
        Cox likelihood has a term.
    groups : scipy.sparse.csc_matrix, shape (4 m, n)
        Sums over patients per event time: rows ``[arm 0 at risk, arm 0 events, arm 1 at risk, arm 1
        events] x time``. "At risk" rows sum the patients with a time in ``[t_j, t_{j+1})``, so their reverse
        cumulative sums are the numbers at risk at ``t_j``; "events" rows the events at ``t_j``.
    by_time : tuple of two ndarrays
        Each arm's patients by decreasing time (the last follow-up time of a resample's arm is the first of
        them it draws).
    checks : ndarray
        Columns ``[X at its most common value (every column), X not 0/1 (the columns with 0/1 and other
        values), X if 0/1 else 0 and the same times the treatment (the columns with any 0/1 value)]``: the
        counts times them are the inputs of the per-resample dropped-column and separation checks.
    mixed01, can01 : ndarray of int
        The design columns with both 0/1 and other values, and those with any 0/1 value (a resample may
        draw only 0s and 1s from them).
    """

    ps_beta: np.ndarray | None
    ps_info_inv: np.ndarray | None
    cox_beta: float | None
    times: np.ndarray
    groups: Any
    by_time: tuple[np.ndarray, np.ndarray]
    checks: np.ndarray
    mixed01: np.ndarray
    can01: np.ndarray


def plan_batches(p: Any) -> BatchPlan:
    """The :class:`BatchPlan` of problem ``p``: full-data fits (warm starts) and the per-time grouping."""
    X, a, t, ev = p.X, p.a, p.t, p.e
    n, q = X.shape
    times = np.unique(t[ev != 0])
    m = times.size
    interval = np.searchsorted(times, t, side="right") - 1    # -1: before the first event, never at risk
    at = ev != 0
    arm = 2 * m * (a == 1)
    risk = np.flatnonzero(interval >= 0)
    rows = np.concatenate([interval[risk] + arm[risk], interval[at] + arm[at] + m])
    cols = np.concatenate([risk, np.flatnonzero(at)])
    data = np.concatenate([np.ones(risk.size), ev[at]])
    groups = sparse.csc_matrix((data, (rows, cols)), shape=(4 * m, n))
    groups.sort_indices()
    by_time = tuple(np.flatnonzero(a == k)[np.argsort(-t[a == k], kind="stable")] for k in (0, 1))
    mode_ind = np.ones((n, q))                    # column 0: the intercept, always 1
    for j in range(1, q):
        vals, freq = np.unique(X[:, j], return_counts=True)
        mode_ind[:, j] = X[:, j] == vals[np.argmax(freq)]
    is01 = (X == 0) | (X == 1)
    any01, all01 = is01.any(axis=0), is01.all(axis=0)
    any01[0] = all01[0] = False                   # the intercept
    mixed, can01 = np.flatnonzero(any01 & ~all01), np.flatnonzero(any01)
    X01 = np.where(is01, X, 0.0)
    try:
        ps_beta, _ = logistic_newton(X, a)
        mu = special.expit(X @ ps_beta)
        info_inv = np.linalg.inv((X * (mu * (1.0 - mu))[:, None]).T @ X)
    except (ModelFitError, SeparationError, np.linalg.LinAlgError):
        # no warm start: every replicate's refit runs from 0 (and fails there as it does one at a time)
        ps_beta = info_inv = None
    plan = BatchPlan(ps_beta=ps_beta, ps_info_inv=info_inv, cox_beta=None, times=times, groups=groups,
                     by_time=by_time, mixed01=mixed, can01=can01,
                     checks=np.hstack([mode_ind, ~is01[:, mixed], X01[:, can01], X01[:, can01] * a[:, None]]))
    # the full-data log HR by the same batched code (one replicate of counts 1), started from 0
    values, _, reason = batched_statistics(p, np.ones((1, n)), plan)
    if not reason[0] and np.isfinite(values[0, -1]):
        plan = replace(plan, cox_beta=float(values[0, -1]))
    return plan


def draw_counts(p: Any, seeds: list[np.random.SeedSequence]) -> np.ndarray:
    """Resampling counts (len(seeds) x n) from the same generator calls as ``bootstrap._draw``: per seed,
    ``integers(0, n0, n0)`` over the controls, then ``integers(0, n1, n1)`` over the treated."""
    i0 = np.flatnonzero(p.a == 0)
    i1 = np.flatnonzero(p.a == 1)
    counts = np.zeros((len(seeds), p.a.size))
    for b, seed in enumerate(seeds):
        rng = np.random.default_rng(seed)
        counts[b, i0] = np.bincount(rng.integers(0, i0.size, i0.size), minlength=i0.size)
        counts[b, i1] = np.bincount(rng.integers(0, i1.size, i1.size), minlength=i1.size)
    return counts


# ----------------------------------------------------------------------------------------------------
# propensity refit
# ----------------------------------------------------------------------------------------------------
def _design_checks(plan: "BatchPlan", X: np.ndarray, counts: np.ndarray, present: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Per resample: the design columns ``_fit_ps`` keeps (those that vary among the drawn patients; it drops
    the others, as R glm's NA; the intercept always stays), and its exact separation check (an active 0/1
    column whose drawn 1s are all in one arm). Both from one product of the counts with
    :attr:`BatchPlan.checks`. Returns the (B x p) active mask and the (B,) separated mask."""
    B, q = counts.shape[0], X.shape[1]
    mixed, can01 = plan.mixed01, plan.can01
    prod = counts @ plan.checks
    mode = prod[:, :q]
    binary = np.zeros((B, q), dtype=bool)           # every drawn value is 0 or 1
    binary[:, can01] = True
    binary[:, mixed] = prod[:, q:q + mixed.size] == 0
    ones, treated = np.zeros((B, q)), np.zeros((B, q))
    ones[:, can01] = prod[:, q + mixed.size:q + mixed.size + can01.size]
    treated[:, can01] = prod[:, q + mixed.size + can01.size:]
    # draws at each column's most common value: 0 < k < all draws means two values were drawn
    active = np.ones((B, q), dtype=bool)
    active[:, 1:] = (mode[:, 1:] > 0) & (mode[:, 1:] < mode[:, :1])    # column 0 (all 1): every draw
    for b, j in zip(*np.nonzero(mode == 0)):
        if j:                                  # none drawn at the mode: look at the drawn values themselves
            d = X[present[b], j]
            active[b, j] = d.max() > d.min()
    binary[:, 0] = False
    binary &= active
    return active, np.any(binary & ((treated == 0) | (treated == ones)), axis=1)


def _sym_products(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise products ``X[:, j] * X[:, k]`` for j <= k (n x p(p+1)/2), and for each (j, k) of the full
    p x p matrix the column holding it."""
    q = X.shape[1]
    iu = np.triu_indices(q)
    full = np.empty((q, q), dtype=np.int64)
    full[iu] = np.arange(iu[0].size)
    full[iu[1], iu[0]] = np.arange(iu[0].size)
    return X[:, iu[0]] * X[:, iu[1]], full.ravel()


def _cho_solve_batched(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``L L' x = b`` for a stack of lower Cholesky factors (B x p x p) by forward and back
    substitution, vectorised over the stack (p is the number of design columns: a short loop)."""
    q = b.shape[1]
    y = np.empty_like(b)
    for i in range(q):
        y[:, i] = (b[:, i] - np.einsum("bj,bj->b", L[:, i, :i], y[:, :i])) / L[:, i, i]
    x = np.empty_like(b)
    for i in range(q - 1, -1, -1):
        x[:, i] = (y[:, i] - np.einsum("bj,bj->b", L[:, i + 1:, i], x[:, i + 1:])) / L[:, i, i]
    return x


def _logistic_chord(X: np.ndarray, XT: np.ndarray, a: np.ndarray, counts: np.ndarray, present: np.ndarray,
                    beta0: np.ndarray, info_inv: np.ndarray, todo: np.ndarray, *, tol: float = 1e-12,
                    max_iter: int = 25, max_ratio: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    r"""The replicates' logistic refits by a chord (modified Newton) iteration from the full-data fit.

    :math:`\beta_{k+1} = \beta_k + I_0^{-1} X^\top \operatorname{diag}(c)(y - p_k)`, :math:`I_0` the full-data
    information at the full-data estimate :math:`\beta_0`. Its fixed points are those of Newton's method (the
    score is 0) and it contracts by :math:`\|I_0^{-1}(I_0 - I_c)\|` per step, which is
    :math:`O(n^{-1/2})` for a bootstrap resample, so at large n a few steps of two (B x n x p) products replace
    Newton's steps of n p(p+1)/2 products each. After a step of largest size s of an iteration contracting
    by q, the distance to the fixed point is at most s q / (1 - q); it stops when that bound is below
    ``tol`` = 1e-12, q estimated from the last two steps and taken between 0.1 and ``max_ratio`` (so the
    bound is never below s / 9). That is tighter than
    :func:`~gistcausal.stats.logistic.logistic_newton`'s step below 1e-10, so both give the same
    estimate to rounding (the tests: 1e-12 on the coefficients).

    Returns the (B x p) coefficients and which replicates converged; the others (no convergence within
    ``max_iter`` steps, a step shrinking by less than ``max_ratio``, or a converged fit with a linear predictor
    above 15, i.e. near separation) are left to the exact Newton from 0, which classifies failures as the
    one-replicate path does.
    """
    B = counts.shape[0]
    beta = np.tile(beta0, (B, 1))
    done = np.zeros(B, dtype=bool)
    rows = np.flatnonzero(todo)
    if not rows.size:
        return beta, done
    # the replicates of ``rows`` are iterated together (the steps of those that stopped are discarded):
    # contiguous (k x n) passes into one reused buffer; once fewer than half still run, they are compacted
    c = counts if rows.size == B else counts[rows]
    # X'diag(c)(2y - 1 - tanh) = X'diag(c)(2y - 1) - X'diag(c) tanh: the first term once
    fixed = (c @ (X * (2.0 * a - 1.0)[:, None]))
    buf = np.empty(c.shape)
    run = np.ones(rows.size, dtype=bool)
    prev = np.full(rows.size, np.inf)
    half = info_inv / 2
    for _ in range(max_iter):
        if not run.any():
            break
        if 2 * run.sum() < run.size:
            rows, c, fixed, prev = rows[run], c[run], fixed[run], prev[run]
            buf = buf[:rows.size]
            run = np.ones(rows.size, dtype=bool)
        # expit(eta) = (1 + tanh(eta / 2)) / 2, so c (y - expit(eta)) = c (2y - 1 - tanh(eta / 2)) / 2: one
        # tanh pass (several times cheaper than exp) with absolute error 1e-16, as expit's; the score's
        # rounding is that of its n-term sum either way
        np.dot(beta[rows] / 2, XT, out=buf)
        np.tanh(buf, out=buf)
        buf *= c
        step = (fixed - buf @ X) @ half
        size = np.max(np.abs(step), axis=1)
        upd = rows[run]
        beta[upd] += step[run]
        # the error left after a step of a contraction by q is at most q / (1 - q) times the step; q from the
        # last two steps, taken between 0.1 and max_ratio (larger ratios stop the chord, below)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.clip(size / prev, 0.1, max_ratio)
        fin = run & (size * q / (1 - q) < tol)
        if fin.any():
            # the separation screen: the fit is left to the exact Newton when a drawn |eta| exceeds 15
            eta = np.abs(beta[rows[fin]] @ XT)
            eta[~present[rows[fin]]] = 0.0
            done[rows[fin][eta.max(axis=1) <= 15]] = True
        slow = run & ~fin & (size > max_ratio * prev)
        prev = size
        run &= ~(fin | slow)
    return beta, done


def _logistic_batched(X: np.ndarray, a: np.ndarray, counts: np.ndarray, present: np.ndarray,
                      active: np.ndarray, todo: np.ndarray, *, tol: float = 1e-10, max_iter: int = 100
                      ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gistcausal.stats.logistic.logistic_newton` for every replicate in ``todo`` at once.

    Inactive columns get a unit diagonal and a zero score, so their coefficient stays 0 and the active
    block's Newton step is the one of the reduced design. Returns the (B x p) coefficients and the failure
    reason per replicate (``""``, ``"separation"`` or ``"propensity_fit"``, as ``_fit_ps`` maps the errors).
    """
    B, q = counts.shape[0], X.shape[1]
    beta = np.zeros((B, q))
    reason = np.full(B, "", dtype=object)
    if not todo.any():
        return beta, reason
    Z, full = _sym_products(X)
    run = todo.copy()
    partial = ~active.all(axis=1)
    keep2 = (active[:, :, None] & active[:, None, :]) | np.eye(q, dtype=bool)
    XT = np.ascontiguousarray(X.T)
    for _ in range(max_iter):
        idx = np.flatnonzero(run)
        if not idx.size:
            break
        eta = beta[idx] @ XT
        with np.errstate(over="ignore"):
            mu = 1.0 / (1.0 + np.exp(-eta))
        c = counts[idx]
        info = ((c * (mu * (1.0 - mu))) @ Z)[:, full].reshape(idx.size, q, q)
        score = (c * (a - mu)) @ X
        part = partial[idx]
        if part.any():
            info[part] *= keep2[idx[part]]
            info[part] += np.eye(q) * (~active[idx[part]])[:, None, :]
            score[part] *= active[idx[part]]
        bad = np.zeros(idx.size, dtype=bool)
        step = np.zeros((idx.size, q))
        try:
            step = _cho_solve_batched(np.linalg.cholesky(info), score)
        except np.linalg.LinAlgError:
            # some information matrix is not positive definite (numpy raises for the whole stack): find
            # which, as cho_factor would in logistic_newton
            for r in range(idx.size):
                try:
                    cf = linalg.cho_factor(info[r], check_finite=False)
                    step[r] = linalg.cho_solve(cf, score[r], check_finite=False)
                except linalg.LinAlgError:
                    bad[r] = True
        if bad.any():
            etamax = np.max(np.where(present[idx[bad]], np.abs(eta[bad]), 0.0), axis=1)
            reason[idx[bad]] = np.where(etamax > 15, "separation", "propensity_fit")
            run[idx[bad]] = False
        ok = ~bad
        beta[idx[ok]] += step[ok]
        done = ok & (np.max(np.abs(step), axis=1) < tol)
        if done.any():
            fin = idx[done]
            eta_fin = beta[fin] @ XT
            etamax = np.max(np.where(present[fin], np.abs(eta_fin), 0.0), axis=1)
            # expit(23) = 1 - 1e-10: quasi-complete separation, as logistic_newton
            reason[fin[etamax > 23]] = "separation"
            run[fin] = False
    reason[run] = "separation"                       # no convergence in max_iter iterations
    return beta, reason


# ----------------------------------------------------------------------------------------------------
# survival statistics
# ----------------------------------------------------------------------------------------------------
def _last_time(t: np.ndarray, by_time: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Each replicate's last follow-up time among the kept patients of one arm (``by_time``: the arm's
    patients by decreasing time), -inf where it keeps none; looks at the arm's latest patients first."""
    B = kept.shape[0]
    last = np.full(B, -np.inf)
    todo = np.arange(B)
    for lo, hi in ((0, 64), (64, by_time.size)):
        if not todo.size or lo >= by_time.size:
            break
        cand = kept[np.ix_(todo, by_time[lo:hi])] > 0
        has = cand.any(axis=1)
        last[todo[has]] = t[by_time[lo:hi][np.argmax(cand[has], axis=1)]]
        todo = todo[~has]
    return last


def _revcumsum(x: np.ndarray) -> np.ndarray:
    """Reverse cumulative sum over distinct times (axis 0 of an (m x B) array), C-contiguous."""
    out = np.cumsum(x[::-1], axis=0)
    return np.ascontiguousarray(out[::-1])


def _km_arm(n_risk: np.ndarray, n_event: np.ndarray) -> np.ndarray:
    """Kaplan-Meier :math:`\\hat S` at every distinct time (m x B) from one arm's weighted numbers at risk and
    events per distinct time, as :func:`gistcausal.stats.km.km_surv` (times where the arm has nobody multiply
    by exactly 1, so the curve equals the one over the arm's own times)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.divide(n_event, n_risk, out=np.zeros_like(n_event), where=n_risk > 0)
    np.subtract(1.0, h, out=h)
    return np.cumprod(h, axis=0, out=h)


class _CoxBatch:
    """A chunk's Cox problems (one 0/1 covariate, Efron ties) reduced to their tied-death terms.

    With a 0/1 covariate the risk-set sums at :math:`\\beta` are :math:`R_0 + e^\\beta R_1` (per-arm reverse
    cumulative weights) and the Efron denominators of the k-th of d tied deaths
    :math:`(R_0 - \\tfrac{k}{d} D_0) + e^\\beta (R_1 - \\tfrac{k}{d} D_1)`, so the two brackets are computed
    once per (replicate, time, k) row and every Newton iteration is a few passes over those rows. The
    covariate is not centred here (cox_prepare centres it): the likelihood, score and information are
    invariant to centring, so this changes rounding only.
    """

    def __init__(self, R0, R1, D0, D1, ND):
        B = ND.shape[1]                               # C-contiguous (distinct time x replicate); R: at risk
        pair = np.flatnonzero(ND)                     # (time, replicate) pairs with deaths, flat
        cnt = ND.ravel()[pair]
        d0, d1 = D0.ravel()[pair], D1.ravel()[pair]
        r0, r1 = R0.ravel()[pair], R1.ravel()[pair]
        owner = pair % B
        mw = (d0 + d1) / cnt
        # the first of each pair's d tied deaths (k = 0) has the whole risk set; the k-th (k >= 1) of the
        # pairs with d > k deaths one more row, (R - k/d D): one block of rows per k
        self.blocks = [(owner, mw, r0, r1)]
        idx = np.flatnonzero(cnt > 1)
        k = 1
        while idx.size:
            f = k / cnt[idx]
            self.blocks.append((owner[idx], mw[idx], r0[idx] - f * d0[idx], r1[idx] - f * d1[idx]))
            k += 1
            idx = idx[cnt[idx] > k]
        self.B = B
        self.wdx = D1.sum(axis=0)                    # sum_i w_i d_i x_i

    def pieces(self, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Log partial likelihood, score and information (each length B) at ``beta``, as cox_pieces."""
        eb = np.exp(beta)
        loglik, score, info = beta * self.wdx, self.wdx.copy(), np.zeros(self.B)
        for owner, mw, p0, p1 in self.blocks:
            num = eb[owner] * p1
            denom = p0 + num
            xbar = num / denom                      # = x2bar for a 0/1 covariate
            loglik -= np.bincount(owner, mw * np.log(denom), minlength=self.B)
            score -= np.bincount(owner, mw * xbar, minlength=self.B)
            info += np.bincount(owner, mw * (xbar * (1.0 - xbar)), minlength=self.B)
        return loglik, score, info


def _cox_batched(cb: _CoxBatch, todo: np.ndarray, *, start: float = 0.0, max_iter: int = 30,
                 tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gistcausal.stats.cox.cox_newton` (step-halving, same stopping rule) for every replicate in
    ``todo``, from ``start`` (cox_newton: 0); returns beta and whether it converged (False also where the
    information was not > 0)."""
    B = cb.B
    beta = np.where(todo, start, 0.0)
    with np.errstate(all="ignore"):
        ll, score, info = cb.pieces(beta)
    run = todo.copy()
    converged = np.zeros(B, dtype=bool)
    for _ in range(max_iter):
        if not run.any():
            break
        singular = run & ~(info > 0)
        run &= ~singular
        with np.errstate(all="ignore"):
            step = np.where(run, score / np.where(info > 0, info, 1.0), 0.0)
            new_beta = beta + step
            nll, nscore, ninfo = cb.pieces(new_beta)
            halvings = 0
            worse = run & ~(nll >= ll - 1e-12 * np.abs(ll))
            while worse.any() and halvings < 30:
                new_beta = np.where(worse, (new_beta + beta) / 2, new_beta)
                hll, hscore, hinfo = cb.pieces(new_beta)
                nll = np.where(worse, hll, nll)
                nscore = np.where(worse, hscore, nscore)
                ninfo = np.where(worse, hinfo, ninfo)
                halvings += 1
                worse = worse & ~(nll >= ll - 1e-12 * np.abs(ll))
            rel = np.abs(1 - ll / nll)
        last = np.abs(new_beta - beta)
        beta = np.where(run, new_beta, beta)
        ll = np.where(run, nll, ll)
        score = np.where(run, nscore, score)
        info = np.where(run, ninfo, info)
        fin = run & (rel < tol) & (last < 1e-7)
        converged |= fin
        run &= ~fin
    return beta, converged


def batched_statistics(p: Any, counts: np.ndarray, plan: BatchPlan | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The statistic vectors (layout ``p.keys``) of the resamples given by ``counts`` (B x n).

    Returns ``values`` (B x K, NaN rows where failed), ``extended`` (B, bool) and ``reason`` (B, str: ``""``
    or one of :data:`gistcausal.inference.bootstrap.FAILURE_REASONS`), as ``_statistics`` would for each.
    ``plan`` is :func:`plan_batches` of ``p`` (computed here when not given).
    """
    if plan is None:
        plan = plan_batches(p)
    B, n = counts.shape
    X, a = p.X, p.a
    present = counts > 0
    active, sep = _design_checks(plan, X, counts, present)
    reason = np.full(B, "", dtype=object)
    reason[sep] = "separation"
    todo = ~sep
    XT = np.ascontiguousarray(X.T)
    done = np.zeros(B, dtype=bool)
    if plan.ps_beta is not None:
        beta_w, done = _logistic_chord(X, XT, a, counts, present, plan.ps_beta, plan.ps_info_inv,
                                       todo & active.all(axis=1))
    beta, why = _logistic_batched(X, a, counts, present, active, todo & ~done)
    if done.any():
        beta[done] = beta_w[done]
    reason[reason == ""] = why[reason == ""]
    ps = np.dot(beta, XT)
    special.expit(ps, out=ps)
    w, why = weight_values_counts(ps, a, counts, estimand=p.estimand, stabilize=p.stabilize, trim=p.trim,
                                  truncate=p.truncate)
    del ps
    reason[reason == ""] = why[reason == ""]
    w[reason != ""] = 0.0
    # per event time and arm (rows [arm 0 at risk, arm 0 events, arm 1 at risk, arm 1 events] x time) and
    # replicate: weights, and kept patients' counts, summed by one sparse product each; (time x replicate)
    # arrays, so sums over times run over contiguous rows of B values
    kept = np.where(w > 0, counts, 0.0)
    w *= counts
    m = plan.times.size
    sums = (plan.groups @ w.T).reshape(4, m, B)
    del w
    ND = [plan.groups[m:2 * m] @ kept.T, plan.groups[3 * m:] @ kept.T]     # death rows (with multiplicity)
    D = [sums[1], sums[3]]
    R = [_revcumsum(sums[0]), _revcumsum(sums[2])]            # weighted numbers at risk per arm
    times = plan.times
    surv, rmst_v, arms_ext = [], [], np.zeros(B, dtype=bool)
    for k in (0, 1):
        S = _km_arm(R[k], D[k])
        last = _last_time(p.t, plan.by_time[k], kept)
        ext = np.zeros(B, dtype=bool)
        if p.landmarks:
            ext |= max(p.landmarks) > last
        if p.horizon is not None:
            ext |= p.horizon > last
        if p.beyond_followup == "fail":
            reason[(reason == "") & ext] = "beyond_followup"
        arms_ext |= ext
        pos = np.searchsorted(times, np.asarray(p.landmarks, dtype=float), side="right") - 1
        surv.append(np.where(pos[:, None] >= 0, S[np.maximum(pos, 0)], 1.0).T if p.landmarks
                    else np.zeros((B, 0)))
        if p.horizon is not None:
            keep = times <= p.horizon
            grid = np.r_[0.0, times[keep], p.horizon]
            rmst_v.append(np.diff(grid)[0] + np.diff(grid)[1:] @ S[keep])
    out = []
    for j in range(len(p.landmarks)):
        s0, s1 = surv[0][:, j], surv[1][:, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.where((s0 > 0) & (s1 > 0), np.log(s1 / s0), math.nan)
        out += [s0, s1, s1 - s0, lr]
    if p.horizon is not None:
        out += [rmst_v[0], rmst_v[1], rmst_v[1] - rmst_v[0]]
    no_ev = ~(ND[0].sum(axis=0) > 0) | ~(ND[1].sum(axis=0) > 0)
    reason[(reason == "") & no_ev] = "no_events"
    todo = reason == ""
    nd = ND[0] + ND[1]
    nd[:, ~todo] = 0
    cb = _CoxBatch(R[0], R[1], D[0], D[1], nd)
    conv = np.zeros(B, dtype=bool)
    beta_cox = np.zeros(B)
    if plan.cox_beta is not None:
        # warm start. A replicate that does not converge from there, or converges beyond |log HR| = 5, is
        # rerun from 0 below: a likelihood that is monotone (no finite estimate) can stop the iteration by
        # the convergence rule once the risk-set terms underflow, after a number of steps that depends on
        # the start, so only cox_newton's own start classifies those as cox_newton does
        beta_cox, conv = _cox_batched(cb, todo, start=plan.cox_beta)
        conv &= np.abs(beta_cox) <= COX_WARM_MAX
    if (todo & ~conv).any():
        beta0, conv0 = _cox_batched(cb, todo & ~conv)
        beta_cox = np.where(conv, beta_cox, beta0)
        conv |= conv0
    reason[todo & ~conv] = "cox_not_converged"
    out.append(beta_cox)
    values = np.column_stack(out) if out else np.zeros((B, 0))
    values[reason != ""] = math.nan
    return values, arms_ext & (reason == ""), reason.astype(str)


def run_batched_chunk(p: Any, seeds: list[np.random.SeedSequence], start: int, plan: BatchPlan | None = None
                      ) -> list[tuple[int, np.ndarray | None, bool, str]]:
    """One chunk of replicates: counts from the seeds, then :func:`batched_statistics`; rows as
    ``bootstrap._run_chunk`` returns them."""
    values, ext, reason = batched_statistics(p, draw_counts(p, seeds), plan)
    return [(start + b, None if reason[b] else values[b], bool(ext[b]), str(reason[b]))
            for b in range(len(seeds))]


__all__ = ["BatchPlan", "batch_unsupported", "batched_statistics", "chunk_size", "draw_counts", "plan_batches",
           "run_batched_chunk", "CHUNK_BYTES", "COX_WARM_MAX"]
