r"""DoWhy's inverse-probability-weighting estimator with its arithmetic in numpy (imported only with DoWhy).

:class:`HajekIPWEstimator` is DoWhy's ``backdoor.propensity_score_weighting`` estimator
(``PropensityScoreWeightingEstimator``) for the one setting :func:`gistcausal.stats.refutation.refute` uses:
``weighting_scheme="ips_weight"`` and ``target_units`` ``"ate"``, ``"att"`` or ``"atc"``. DoWhy's
``estimate_effect`` adds nine weight columns to the data and sums two of them with Python's built-in ``sum``
over pandas Series, element by element; each refuter simulation repeats that, which cost about as much as the
propensity fit itself (issue 17). This class computes the one weight the estimate uses with numpy arrays:

.. math::

    w_i = \begin{cases} A_i / e_i + (1 - A_i) / (1 - e_i) & \text{ATE} \\
                        A_i + (1 - A_i)\, e_i / (1 - e_i) & \text{ATT} \\
                        A_i (1 - e_i) / e_i + (1 - A_i) & \text{ATC} \end{cases}, \qquad
    \hat\tau = \frac{\sum_i w_i A_i Y_i}{\sum_i w_i A_i} - \frac{\sum_i w_i (1 - A_i) Y_i}{\sum_i w_i (1 - A_i)},

the Hajek (self-normalized) difference DoWhy returns, with :math:`e_i` clipped to
``[min_ps_score, max_ps_score]`` as DoWhy does. Fitting (the propensity model, the adjustment set, the encoders)
is DoWhy's, unchanged; any other weighting scheme or target falls back to DoWhy's own ``estimate_effect``. The
refuters copy the estimator (``get_new_estimator_object``), so every re-estimate takes the same path. Equality
with DoWhy's estimator is checked in tests/stats/test_refutation.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from dowhy.causal_estimator import CausalEstimate
from dowhy.causal_estimators.propensity_score_weighting_estimator import PropensityScoreWeightingEstimator


def hajek_weights(a: np.ndarray, ps: np.ndarray, target_units: str) -> np.ndarray:
    """The unnormalized weight of ``target_units`` (``"ate"``, ``"att"``, ``"atc"``), DoWhy's ``ips_weight``,
    ``tips_weight`` and ``cips_weight`` columns, computed in the same order of operations."""
    if target_units == "ate":
        return a / ps + (1 - a) / (1 - ps)
    if target_units == "att":
        return a + (1 - a) * ps / (1 - ps)
    return a * (1 - ps) / ps + (1 - a)


class HajekIPWEstimator(PropensityScoreWeightingEstimator):
    """``PropensityScoreWeightingEstimator`` whose ``estimate_effect`` is computed on numpy arrays (see the
    module docstring); the same estimate, propensity scores and estimator object for the refuters."""

    def estimate_effect(self, data: pd.DataFrame, treatment_value: Any = 1, control_value: Any = 0,
                        target_units: Any = None, **kwargs: Any) -> CausalEstimate:
        if (self.weighting_scheme != "ips_weight" or not isinstance(target_units, str)
                or target_units not in ("ate", "att", "atc")):
            return super().estimate_effect(data, treatment_value=treatment_value, control_value=control_value,
                                           target_units=target_units, **kwargs)
        self._target_units = target_units
        self._treatment_value = treatment_value
        self._control_value = control_value
        col = self.propensity_score_column
        if col not in data:
            self.estimate_propensity_score_column(data)
        ps = np.maximum(self.min_ps_score, np.minimum(self.max_ps_score, data[col].to_numpy(dtype=float)))
        # DoWhy leaves the clipped scores in the data (a later estimate on the same frame reuses them)
        data[col] = ps
        a = data[self._target_estimand.treatment_variable[0]].to_numpy()
        y = data[self._target_estimand.outcome_variable[0]].to_numpy()
        w = hajek_weights(a, ps, target_units)
        est = np.sum(w * a * y) / np.sum(a * w) - np.sum(w * (1 - a) * y) / np.sum((1 - a) * w)
        estimate = CausalEstimate(data=data, treatment_name=self._target_estimand.treatment_variable,
                                  outcome_name=self._target_estimand.outcome_variable, estimate=est,
                                  control_value=control_value, treatment_value=treatment_value,
                                  target_estimand=self._target_estimand, realized_estimand_expr=self.symbolic_estimator,
                                  propensity_scores=data[col])
        estimate.add_estimator(self)
        return estimate


__all__ = ["HajekIPWEstimator", "hajek_weights"]
