"""The one exception and warning hierarchy of gistcausal.

Every message follows ``<where>: <what> (got <value>). <fix>.`` where *where* is a file, YAML line and
key path, column, or arm and covariate. Only :mod:`gistcausal.cli` turns these into exit codes.
"""
from __future__ import annotations


class GistCausalError(ValueError):
    """Base class of every error gistcausal raises on purpose (bad input, impossible fits)."""

    exit_code: int = 1


class ConfigError(GistCausalError):
    """The YAML configuration is malformed, has unknown keys, wrong types or impossible values."""

    exit_code = 2


class DataError(GistCausalError):
    """The data source is missing, unreadable, or its columns/values break a documented rule."""

    exit_code = 3


class CohortError(GistCausalError):
    """Applying the protocol produced an unusable cohort (e.g. an empty arm)."""

    exit_code = 4


class ModelFitError(GistCausalError):
    """A statistical model could not be fitted as specified."""

    exit_code = 5


class SeparationError(ModelFitError):
    """(Quasi-)complete separation in the propensity model."""


class PositivityError(ModelFitError):
    """Propensity scores at 0 or 1 make the requested weights undefined."""


class BalanceInfeasibleError(ModelFitError):
    """Balancing weights (entropy balancing) cannot meet the balance constraints: a target mean lies outside
    what the weighted arm can reach."""


class OutputError(GistCausalError):
    """The output folder cannot be written (read-only, no permission, disk full); the previous report is kept."""

    exit_code = 6


class NotFittedError(GistCausalError):
    """An estimator was used before ``fit``."""

    exit_code = 1


class GistCausalWarning(UserWarning):
    """Base class of every warning gistcausal emits; reports collect them."""


class ExtremeWeightWarning(GistCausalWarning):
    """Weights are extreme (large maximum, small effective sample size)."""


class PositivityWarning(GistCausalWarning):
    """Propensity scores approach 0 or 1."""


class ProportionalHazardsWarning(GistCausalWarning):
    """The proportional-hazards assumption is rejected (scaled Schoenfeld test)."""


class ConvergenceWarning(GistCausalWarning):
    """An iterative fit stopped before converging."""


class SmallSampleWarning(GistCausalWarning):
    """Too few patients or events per model parameter."""


class DataQualityWarning(GistCausalWarning):
    """Records break a plausibility rule but the analysis can go on (counts are reported)."""


class MissingDataWarning(GistCausalWarning):
    """Missing covariate values were handled (imputed or excluded); the rule and counts are reported."""


__all__ = [
    "GistCausalError", "ConfigError", "DataError", "CohortError", "ModelFitError", "SeparationError",
    "PositivityError", "BalanceInfeasibleError", "NotFittedError", "OutputError", "GistCausalWarning", "ExtremeWeightWarning", "PositivityWarning",
    "ProportionalHazardsWarning", "ConvergenceWarning", "SmallSampleWarning", "DataQualityWarning",
    "MissingDataWarning",
]


def failure_reason(err: BaseException) -> str:
    """One line saying why an optional step failed, for its report section.

    A :class:`GistCausalError` is already written for people: its first line is used as it is. Any other
    exception is an unexpected failure inside a library; its type is kept so it can be reported upstream.
    """
    first = str(err).splitlines()[0].strip() if str(err).strip() else ""
    if isinstance(err, GistCausalError):
        return first or type(err).__name__
    return f"unexpected error ({type(err).__name__}{': ' + first if first else ''})"
