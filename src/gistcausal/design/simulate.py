"""Seeded synthetic Dutch GIST Registry calibrated to the second-line sunitinib vs imatinib-escalation study.

The generator produces *registry-shaped* records (one row per patient, the layout of
``docs/registry_schema.md``), not an analysis table: applying the study's eligibility to the default size and
seed gives exactly the published flow 480 -> 463 -> 118 -> 110 -> 72 (42 continuous / 30 intermittent) / 38.
Treatment choice depends on prognostic baseline covariates (confounding by indication of configurable
strength), and PFS and OS from time zero (start of second line) follow Weibull proportional-hazards models
with known conditional hazard ratios. Both potential outcomes are drawn for every eligible patient from the
same uniforms, so the true marginal effects are known (:func:`true_marginal_effects`).

The generating model, the defaults, the true effects and a calibration table are documented in
``docs/synthetic_registry.md``.

Treatment coding: arm 1 = sunitinib (group A, either schedule), arm 0 = imatinib 800 mg (group B).

References
----------
Study: "Sunitinib versus imatinib dose escalation after failure of imatinib 400 mg in advanced GIST:
a Dutch GIST Registry study" (``/work/shared/study/dgr-second-line-gist-study.txt``).
Bender R, Augustin T, Blettner M. Generating survival times to simulate Cox proportional hazards models.
Stat Med 2005;24:1713-23 (inverse-cumulative-hazard draws).
Martinussen T, Vansteelandt S. On collapsibility and confounding bias in Cox and Aalen regression models.
Lifetime Data Anal 2013;19:279-96 (marginal vs conditional hazard ratios).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from gistcausal._checks import check_estimand
from gistcausal.effects import EffectEstimate, estimates_frame
from gistcausal.design.validation import DateRule, ValidationConfig
from gistcausal.errors import ConfigError

DEFAULT_SEED = 20201
DEFAULT_N = 480
#: Days per month used everywhere in gistcausal (docs/registry_schema.md).
MONTH_DAYS = 30.4375

CENTERS = ("nki", "lumc", "erasmus", "radboud", "umcg")
SEXES = ("male", "female")
STAGES = ("localized", "locally_advanced", "metastasized", "multiple_localization")
LOCALIZATIONS = ("gastric", "small_bowel", "duodenal", "rectum", "esophagus", "colon", "pelvic_cavity",
                 "peritoneum", "unknown")
MITOTIC = ("low", "high", "not_reported")
MUTATIONS_ELIGIBLE = ("kit_exon_11", "kit_exon_13", "kit_exon_17", "pdgfra_exon_14", "pdgfra_exon_18_d842v",
                      "pdgfra_exon_18_non_d842v", "sdh", "wt_kit_pdgfr_sdh", "wt_kit_pdgfr")
MUTATIONS = MUTATIONS_ELIGIBLE + ("kit_exon_9", "unknown")
REGIMENS = ("sunitinib_37.5_continuous", "sunitinib_50_intermittent", "imatinib_800", "other", "none")
ARM_NAMES = {1: "sunitinib", 0: "imatinib_800"}

# The published figures used for calibration (Table 1 as n per arm: (sunitinib, imatinib 800)).
PUBLISHED: dict = {
    "flow": {"registry": 480, "first_line_imatinib_400": 463, "eligible": 118, "excluded_intolerance": 8,
             "analysed": 110, "sunitinib": 72, "sunitinib_continuous": 42, "sunitinib_intermittent": 30,
             "imatinib_800": 38},
    "n": (72, 38),
    "sex_male": (43, 27),
    "age_mean": (61.2, 58.2),
    "age_sd": (12.4, 12.7),
    "tumor_size_median": (11.0, 12.0),
    "tumor_size_range": ((3.0, 35.0), (3.5, 26.0)),
    "stage": {"localized": (11, 6), "locally_advanced": (6, 4), "metastasized": (54, 27),
              "multiple_localization": (1, 1)},
    "localization": {"gastric": (40, 16), "small_bowel": (20, 12), "duodenal": (2, 2), "rectum": (1, 1),
                     "esophagus": (0, 1), "colon": (2, 1), "pelvic_cavity": (0, 1), "peritoneum": (1, 1),
                     "unknown": (6, 3)},
    "mitotic_count": {"low": (32, 13), "high": (23, 17), "not_reported": (17, 8)},
    "mutation": {"kit_exon_11": (47, 27), "kit_exon_13": (4, 3), "kit_exon_17": (1, 1),
                 "pdgfra_exon_14": (0, 1), "pdgfra_exon_18_d842v": (0, 1), "pdgfra_exon_18_non_d842v": (8, 3),
                 "sdh": (2, 0), "wt_kit_pdgfr_sdh": (6, 2), "wt_kit_pdgfr": (4, 0)},
    # Table 1 says 18.5 (0.9-94.3) for group A; the text says 18.6 (1.2-94.3).
    "first_line_months_median": (18.5, 16.3),
    "first_line_months_range": ((0.9, 94.3), (0.1, 105.9)),
    # Results text; the abstract gives 8.7 months for group A.
    "pfs_median_months": (8.4, 5.6),
    "pfs_median_ci": ((5.6, 11.3), (2.6, 8.7)),
    "pfs_events": (64, 34),
    # "63.4 in the sunitinib group, 63.2 with escalation"; the text does not say where OS starts, the medians
    # fit OS from diagnosis (see docs/synthetic_registry.md).
    "os_median_months_from_diagnosis": (63.4, 63.2),
    "os_median_ci": ((50.4, 76.3), (47.6, 78.9)),
    "deaths": 65,
    "cause_of_death": {"gist": 61, "toxicity": 1, "other": 1, "unknown": 2},
    "followup_median_months": (46.5, 55.3),
    "followup_range_months": ((6.4, 127.7), (5.3, 140.3)),
    "sunitinib_failures": 59,
    "sunitinib_failure_progression": 46,
    "sunitinib_failure_toxicity": 13,
    "third_line_sunitinib": 27,
    "third_line_failure_median_months": 8.2,
    "third_line_failure_range_months": (1.3, 24.7),
}

# --- flow strata: the eligibility step at which a patient leaves (docs/registry_schema.md order) ----------
STRATA = ("other_first_line", "age_under_18", "first_line_ongoing", "no_second_line", "second_line_other",
          "kit_exon_9_or_unknown", "tdm_escalation", "first_line_intolerance", "eligible")
# 480 -> 463 (17 other first line) -> 118 (345 over steps 2-7) -> 110 (8 intolerance).
_DEFAULT_STRATUM_COUNTS = np.array([17, 2, 160, 104, 19, 40, 20, 8, 110])
_S = {name: i for i, name in enumerate(STRATA)}
_N_SUNITINIB, _N_CONTINUOUS = 72, 42

# --- covariate distributions (pooled Table 1 counts of the 110) --------------------------------------------
_P_MALE = 70 / 110
_AGE_MEAN, _AGE_SD = 60.2, 12.5
_P_STAGE = np.array([17, 10, 81, 2]) / 110
_P_LOC = np.array([56, 32, 4, 2, 1, 3, 1, 2, 9]) / 110
_P_MITOTIC = np.array([45, 40, 25]) / 110
_P_MUT_ELIGIBLE = np.array([74, 7, 2, 1, 1, 11, 2, 8, 4]) / 110
_P_CENTER = np.array([0.26, 0.22, 0.20, 0.18, 0.14])
_SIZE_MEDIAN, _SIZE_SDLOG = 11.5, 0.5
_P_EXON9_IN_EXCLUDED = 0.15  # share of KIT exon 9/unknown among strata excluded before step 6

# --- first-line duration: Weibull PH, log-rate coefficients (faster failure -> shorter duration) -------------
_D1_SHAPE = 1.1
_D1_MEDIAN_REF = 28.0  # months at reference covariates; gives a pooled median near 17.5 in the 110
_D1_COEF = {"high": 0.3, "not_reported": 0.1, "metastatic": 0.2, "kit_exon_17": 0.5,
            "pdgfra_exon_18_d842v": 1.5, "pdgfra_exon_18_non_d842v": 0.3, "sdh_wt": 0.8}

# --- treatment choice (logit of sunitinib), per unit of `confounding` ---------------------------------------
_TRT_COEF = {"high": 0.3, "not_reported": 0.1, "metastatic": 0.3, "log_size": 0.25, "log_d1": -0.1,
             "non_kit11": 0.4, "kit_other": 0.2,
             "center_nki": 0.4, "center_erasmus": -0.3, "center_radboud": 0.2, "center_umcg": -0.4}
_P_SUNITINIB = _N_SUNITINIB / 110
# Preference for the continuous sunitinib schedule by center (log-odds); not prognostic.
_SCHEDULE_CENTER = np.array([0.6, 0.4, 0.0, -0.3, -0.6])

# --- outcomes from time zero: Weibull PH, same linear predictor for PFS and OS (log-hazard) -----------------
_OUT_COEF = {"high": 0.45, "not_reported": 0.15, "metastatic": 0.35, "locally_advanced": 0.15,
             "log_size": 0.3, "log_d1": -0.3, "age10": 0.08, "female": -0.1,
             "small_bowel": 0.15, "loc_other": 0.2,
             "kit_exon_13": 0.1, "kit_exon_17": 0.3, "pdgfra_exon_18_d842v": 0.8,
             "pdgfra_exon_18_non_d842v": 0.2, "sdh_wt": 0.4}
_PFS_MEDIAN_REF = 10.0   # months, imatinib 800 at reference covariates (all indicators 0, size 11.5, d1 17.5)
_OS_MEDIAN_REF = 50.0    # months from time zero, imatinib 800 at reference covariates
_TOX_RATE = {1: 0.022, 0: 0.010}    # per month, stopping second line for toxicity (sunitinib, imatinib 800)
_P_THIRD_SUNITINIB_AFTER_ESC = 0.95
_P_THIRD_OTHER_AFTER_SUN = 0.70
_T3_SHAPE, _T3_MEDIAN = 1.5, 12.0
_CAUSES = ("gist", "toxicity", "other", "unknown")
_P_CAUSE = np.array([61, 1, 1, 2]) / 65
_DIAG_START, _DIAG_END = "2009-01-01", "2020-07-31"
_MIN_FOLLOWUP = 1.0  # months between second-line start and the cutoff


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    """All knobs of the synthetic registry, with the defaults of the toolkit's default analysis.

    Parameters
    ----------
    n_patients : int, default=480
        Registry size (patients with advanced GIST on palliative first-line systemic treatment).
    seed : int, default=20201
        Seed of ``np.random.default_rng``; the output is a deterministic function of the settings.
    confounding : float, default=1.0
        Multiplies the covariate coefficients of the treatment-choice model; 0 gives a randomized
        comparison (constant probability 72/110 of sunitinib).
    hr_pfs : float, default=0.70
        True *conditional* hazard ratio sunitinib vs imatinib 800 for PFS from time zero, given covariates.
    hr_os : float, default=0.85
        True conditional hazard ratio for OS from time zero.
    prognostic : float, default=1.0
        Multiplies the covariate coefficients of the outcome models; 0 makes covariates non-prognostic (then
        the marginal hazard ratio equals the conditional one).
    weibull_shape : float, default=1.1
        Common Weibull shape of PFS and OS from time zero (must be equal for OS >= PFS with both PH).
    cutoff_date : str, default="2021-06-30"
        Administrative end of follow-up (ISO date, after 2020-07-31).
    loss_to_followup_rate : float, default=0.002
        Exponential rate per month of random loss to follow-up after time zero (independent of everything).
    tumor_size_missing : float, default=0.0
        Probability that the recorded tumour size is missing (completely at random; models use the true size).
    exact_flow : bool or None, default=None
        Force the published counts (scaled by ``n_patients / 480`` when it differs). ``None`` means exact
        counts only when ``n_patients == 480``, multinomial strata and Bernoulli treatment otherwise.
    """

    n_patients: int = DEFAULT_N
    seed: int = DEFAULT_SEED
    confounding: float = 1.0
    hr_pfs: float = 0.70
    hr_os: float = 0.85
    prognostic: float = 1.0
    weibull_shape: float = 1.1
    cutoff_date: str = "2021-06-30"
    loss_to_followup_rate: float = 0.002
    tumor_size_missing: float = 0.0
    exact_flow: bool | None = None

    def __post_init__(self) -> None:
        where = "SimulationSettings"
        if int(self.n_patients) != self.n_patients or self.n_patients < 20:
            raise ConfigError(f"{where}: n_patients must be an integer >= 20 (got {self.n_patients!r}). "
                              "Pass a larger n_patients.")
        for name in ("hr_pfs", "hr_os", "weibull_shape"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ConfigError(f"{where}: {name} must be a finite number > 0 (got {v!r}). "
                                  f"Pass a positive {name}.")
        for name in ("confounding", "prognostic", "loss_to_followup_rate"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"{where}: {name} must be a finite number >= 0 (got {v!r}). "
                                  f"Pass a non-negative {name}.")
        if not (0 <= self.tumor_size_missing < 1):
            raise ConfigError(f"{where}: tumor_size_missing must be in [0, 1) (got {self.tumor_size_missing!r}). "
                              "Pass a probability below 1.")
        try:
            cutoff = pd.Timestamp(self.cutoff_date)
        except (ValueError, TypeError):
            cutoff = pd.NaT
        if pd.isna(cutoff) or cutoff <= pd.Timestamp(_DIAG_END) or cutoff > pd.Timestamp("2200-01-01"):
            raise ConfigError(f"{where}: cutoff_date must be an ISO date after {_DIAG_END} and before 2200 "
                              f"(got {self.cutoff_date!r}). Pass e.g. '2021-06-30'.")
        # OS >= PFS with both Weibull-PH needs the progression hazard h_pfs - h_os > 0 in both arms.
        ratio = _os_pfs_rate_ratio(self.weibull_shape)
        if ratio * self.hr_os / self.hr_pfs >= 1:
            raise ConfigError(f"{where}: hr_os / hr_pfs must be below {1 / ratio:.3g} so that the hazard of "
                              f"progression stays positive (got {self.hr_os / self.hr_pfs:.3g}). "
                              "Lower hr_os or raise hr_pfs.")

    @property
    def is_exact(self) -> bool:
        """Whether the flow counts are forced (see ``exact_flow``)."""
        return (self.n_patients == DEFAULT_N) if self.exact_flow is None else bool(self.exact_flow)


def _os_pfs_rate_ratio(shape: float) -> float:
    """Baseline OS / PFS cumulative-hazard ratio, (m_pfs / m_os)^k for reference medians m."""
    return (_PFS_MEDIAN_REF / _OS_MEDIAN_REF) ** shape


# ----------------------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------------------
def _categorical(u: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Index of the category of each uniform ``u`` (inverse CDF of a categorical distribution)."""
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    return np.searchsorted(cdf, u, side="right")


def _weibull_inverse(e: np.ndarray, rate: np.ndarray, shape: float) -> np.ndarray:
    """Time with cumulative hazard ``rate * t**shape`` equal to the unit-exponential ``e`` (Bender 2005)."""
    return (e / rate) ** (1.0 / shape)


def _months_to_days(t: np.ndarray) -> np.ndarray:
    """Whole days after an origin for event times in months (ceil: an event never falls on day 0)."""
    return np.ceil(np.asarray(t) * MONTH_DAYS).astype(np.int64)


def _window_months(cutoff_date: str) -> float:
    """Months from the start of the diagnosis window to the cutoff (the longest possible lead time)."""
    return (pd.Timestamp(cutoff_date) - pd.Timestamp(_DIAG_START)).days / MONTH_DAYS


@dataclass(frozen=True, slots=True)
class _Covariates:
    center: np.ndarray
    female: np.ndarray
    age: np.ndarray
    size: np.ndarray
    stage: np.ndarray
    loc: np.ndarray
    mitotic: np.ndarray
    mutation: np.ndarray      # index into MUTATIONS
    gap1: np.ndarray          # months diagnosis -> first-line start
    d1: np.ndarray            # months of first line (whole days)
    gap2: np.ndarray          # months first-line end -> second-line start


def _indicator(codes: np.ndarray, names: Sequence[str], chosen: Sequence[str]) -> np.ndarray:
    """1.0 where the code (an index into ``names``) names one of ``chosen``, else 0.0: a lookup table indexed by
    the codes, the values comparing the names would give (issue 17: comparing object arrays of names took 1.5 s
    of the 4.5 s a registry of 1e6 patients took)."""
    return np.isin(np.asarray(names, dtype=object), chosen).astype(float)[codes]


def _features(c: _Covariates) -> dict[str, np.ndarray]:
    """Indicator and continuous features used by the first-line, treatment and outcome models."""
    mut = functools.partial(_indicator, c.mutation, MUTATIONS)
    f = {
        "high": (c.mitotic == 1).astype(float),
        "not_reported": (c.mitotic == 2).astype(float),
        "metastatic": _indicator(c.stage, range(len(STAGES)), (2, 3)),
        "locally_advanced": (c.stage == 1).astype(float),
        "log_size": np.log(c.size / _SIZE_MEDIAN),
        "age10": (c.age - 60.0) / 10.0,
        "female": c.female.astype(float),
        "small_bowel": (c.loc == 1).astype(float),
        "loc_other": (c.loc >= 2).astype(float),
        "kit_exon_13": mut(("kit_exon_13",)),
        "kit_exon_17": mut(("kit_exon_17",)),
        "pdgfra_exon_18_d842v": mut(("pdgfra_exon_18_d842v",)),
        "pdgfra_exon_18_non_d842v": mut(("pdgfra_exon_18_non_d842v",)),
        "sdh_wt": mut(("sdh", "wt_kit_pdgfr_sdh", "wt_kit_pdgfr")),
        "non_kit11": 1.0 - mut(("kit_exon_11", "kit_exon_13", "kit_exon_17", "kit_exon_9")),
        "kit_other": mut(("kit_exon_13", "kit_exon_17")),
    }
    for j, name in enumerate(CENTERS):
        f[f"center_{name}"] = (c.center == j).astype(float)
    if c.d1 is not None:
        f["log_d1"] = np.log(c.d1 / 17.5)
    return f


def _linear(f: dict[str, np.ndarray], coef: dict[str, float]) -> np.ndarray:
    return sum(coef[k] * f[k] for k in coef)


def _stratify(rng: np.random.Generator, u: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Latin-hypercube version of the uniforms ``u[..., mask]``: one draw per 1/m quantile band per row.

    Used only for the eligible patients of the exact flow, so that the 110 of the default registry are a
    representative (low-variance) draw of the calibrated distributions; each entry stays U(0, 1).
    """
    if mask is None or not mask.any():
        return u
    u = u.copy()
    m = int(mask.sum())
    rows = u.reshape(-1, u.shape[-1])
    for r in rows:
        r[mask] = (rng.permutation(m) + r[mask]) / m
    return rows.reshape(u.shape)


def _draw_covariates(rng: np.random.Generator, n: int, stratum: np.ndarray, cutoff_date: str,
                     stratify: np.ndarray | None = None) -> _Covariates:
    """Baseline covariates and pre-time-zero durations for ``n`` patients of the given strata.

    Every variable is drawn for every patient from one uniform array in a fixed order (deterministic and
    vectorized); strata only override values (age < 18, KIT exon 9/unknown mutation, eligible mutations).
    ``stratify`` marks patients whose uniforms are Latin-hypercube stratified (exact flow only).
    """
    u = _stratify(rng, rng.random((12, n)), stratify)
    center = _categorical(u[0], _P_CENTER)
    female = u[1] >= _P_MALE
    # age ~ N(60.2, 12.5) truncated to [18, 90]; stratum age_under_18 uniform on [14, 18)
    from scipy.special import ndtr, ndtri
    lo, hi = ndtr((18.01 - _AGE_MEAN) / _AGE_SD), ndtr((90 - _AGE_MEAN) / _AGE_SD)
    age = _AGE_MEAN + _AGE_SD * ndtri(lo + u[2] * (hi - lo))
    age = np.where(stratum == _S["age_under_18"], 14.0 + 3.9 * u[2], age)
    size = np.clip(np.exp(np.log(_SIZE_MEDIAN) + _SIZE_SDLOG * ndtri(np.clip(u[3], 1e-12, 1 - 1e-12))), 1.0, 40.0)
    size = np.round(size * 2) / 2  # pathology reports half centimetres
    stage = _categorical(u[4], _P_STAGE)
    loc = _categorical(u[5], _P_LOC)
    mitotic = _categorical(u[6], _P_MITOTIC)
    mut_elig = _categorical(u[7], _P_MUT_ELIGIBLE)
    mut_excl = np.where(u[8] < 0.55, len(MUTATIONS_ELIGIBLE), len(MUTATIONS_ELIGIBLE) + 1)  # exon 9 / unknown
    before_step6 = stratum < _S["kit_exon_9_or_unknown"]
    mutation = np.where(stratum == _S["kit_exon_9_or_unknown"], mut_excl,
                        np.where(before_step6 & (u[9] < _P_EXON9_IN_EXCLUDED), mut_excl, mut_elig))
    # diagnosis -> first line: recurrence after resection (localized), neoadjuvant-like (locally advanced),
    # or immediate (metastasized / multiple)
    z = ndtri(np.clip(u[10], 1e-12, 1 - 1e-12))
    gap1 = np.select([stage == 0, stage == 1],
                     [np.minimum(np.exp(np.log(30.0) + 0.7 * z), 60.0), np.minimum(np.exp(np.log(4.0) + 0.8 * z), 36.0)],
                     0.1 + 0.8 * (-np.log1p(-u[10])))
    gap2 = 0.1 + 0.5 * (-np.log1p(-u[11]))
    gap1 = np.round(gap1 * MONTH_DAYS) / MONTH_DAYS
    gap2 = np.round(gap2 * MONTH_DAYS) / MONTH_DAYS
    cov = _Covariates(center, female, age, size, stage, loc, mitotic, mutation, gap1, None, gap2)
    # first-line duration: Weibull PH truncated so that time zero falls >= 1 month before the cutoff
    f = _features(cov)
    rate = math.log(2) / _D1_MEDIAN_REF ** _D1_SHAPE * np.exp(_linear(f, _D1_COEF))
    dmax = np.maximum(_window_months(cutoff_date) - gap1 - gap2 - _MIN_FOLLOWUP, 0.2)
    f_lo, f_hi = -np.expm1(-rate * 0.1 ** _D1_SHAPE), -np.expm1(-rate * dmax ** _D1_SHAPE)
    uu = f_lo + _stratify(rng, rng.random(n), stratify) * (f_hi - f_lo)
    d1 = _weibull_inverse(-np.log1p(-uu), rate, _D1_SHAPE)
    d1 = np.maximum(np.round(d1 * MONTH_DAYS), 1) / MONTH_DAYS
    return _Covariates(center, female, age, size, stage, loc, mitotic, mutation, gap1, d1, gap2)


@functools.lru_cache(maxsize=64)
def _treatment_intercept(confounding: float, cutoff_date: str) -> float:
    """Intercept giving a mean propensity of 72/110 in the eligible population (fixed reference cohort)."""
    rng = np.random.default_rng(0)
    n = 100_000
    cov = _draw_covariates(rng, n, np.full(n, _S["eligible"]), cutoff_date)
    lp = confounding * _linear(_features(cov), _TRT_COEF)
    return brentq(lambda a: expit(a + lp).mean() - _P_SUNITINIB, -20, 20, xtol=1e-12)


def _propensity(cov: _Covariates, s: SimulationSettings) -> np.ndarray:
    """True probability of sunitinib: expit(alpha(c) + c * delta'x)."""
    lp = s.confounding * _linear(_features(cov), _TRT_COEF)
    return expit(_treatment_intercept(float(s.confounding), s.cutoff_date) + lp)


def _rates(cov: _Covariates, s: SimulationSettings) -> tuple[np.ndarray, np.ndarray]:
    """Weibull rates (cumulative hazard = rate * t^k) of PFS and OS under imatinib 800 (arm 0)."""
    k = s.weibull_shape
    eta = s.prognostic * _linear(_features(cov), _OUT_COEF)
    r_pfs = math.log(2) / _PFS_MEDIAN_REF ** k * np.exp(eta)
    r_os = math.log(2) / _OS_MEDIAN_REF ** k * np.exp(eta)
    return r_pfs, r_os


def _potential_outcomes(cov: _Covariates, e_prog: np.ndarray, e_os: np.ndarray,
                        s: SimulationSettings) -> dict[str, np.ndarray]:
    """Potential times (months from time zero) under both arms from the same unit-exponential draws.

    OS_a has cumulative hazard r_os * hr_os^a * t^k. Progression has hazard (r_pfs hr_pfs^a - r_os hr_os^a) k
    t^(k-1), independent of death given x, so PFS_a = min(progression_a, OS_a) has exactly the Weibull-PH
    cumulative hazard r_pfs * hr_pfs^a * t^k.
    """
    r_pfs, r_os = _rates(cov, s)
    k = s.weibull_shape
    out = {}
    for a, (hp, ho) in {1: (s.hr_pfs, s.hr_os), 0: (1.0, 1.0)}.items():
        os_a = _weibull_inverse(e_os, r_os * ho, k)
        prog_a = _weibull_inverse(e_prog, r_pfs * hp - r_os * ho, k)
        out[f"os_{a}"] = os_a
        out[f"prog_{a}"] = prog_a
        out[f"pfs_{a}"] = np.minimum(prog_a, os_a)
    return out


def _top_k(keys: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest keys."""
    mask = np.zeros(keys.shape, dtype=bool)
    if k > 0:
        mask[np.argpartition(-keys, k - 1)[:k]] = True
    return mask


def _stratum_counts(s: SimulationSettings, rng: np.random.Generator) -> np.ndarray:
    p = _DEFAULT_STRATUM_COUNTS / _DEFAULT_STRATUM_COUNTS.sum()
    if s.is_exact:
        raw = p * s.n_patients
        counts = np.floor(raw).astype(int)
        counts[np.argsort(-(raw - counts), kind="stable")[: s.n_patients - counts.sum()]] += 1
        return counts
    return rng.multinomial(s.n_patients, p)


# ----------------------------------------------------------------------------------------------------------
# the generator
# ----------------------------------------------------------------------------------------------------------
def _second_line_regimens(rng: np.random.Generator, s: SimulationSettings, stratum: np.ndarray, elig: np.ndarray,
                          cov: _Covariates, ps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Second-line regimen index (into REGIMENS) and arm (1 = sunitinib) per patient, and the other-first-line mask.

    Latent-logistic representation: A = 1{logit(ps) + eps > 0}, eps ~ Logistic(0, 1), is Bernoulli(ps). The
    exact flow keeps the 72 largest latent values instead (threshold moved from 0 to the 72nd value), so the
    counts are exact while the inclusion probabilities stay close to ps. The sunitinib schedule (continuous vs
    intermittent) follows a centre-dependent logistic in the same way.
    """
    n = s.n_patients
    eps_trt, eps_sched = rng.logistic(size=(2, n))
    u_reg = rng.random(n)
    key_trt = np.log(ps) - np.log1p(-ps) + eps_trt
    arm = (key_trt > 0).astype(np.int8)
    if s.is_exact:
        n_sun = int(round(elig.sum() * _N_SUNITINIB / 110))
        arm[elig] = _top_k(key_trt[elig], n_sun)
    key_sched = math.log(_N_CONTINUOUS / (_N_SUNITINIB - _N_CONTINUOUS)) + _SCHEDULE_CENTER[cov.center] + eps_sched
    continuous = key_sched > 0
    if s.is_exact:
        sun_e = np.flatnonzero(elig & (arm == 1))
        continuous[sun_e] = _top_k(key_sched[sun_e], int(round(len(sun_e) * _N_CONTINUOUS / _N_SUNITINIB)))
    regimen = np.where(arm == 1, np.where(continuous, 0, 1), 2)
    regimen = np.where(stratum == _S["second_line_other"], 3, regimen)
    regimen = np.where(stratum == _S["tdm_escalation"], 2, regimen)
    other_fl = stratum == _S["other_first_line"]
    regimen = np.where(other_fl, _categorical(u_reg, np.array([0.3, 0.2, 0.1, 0.4])), regimen)
    no_second = np.isin(stratum, (_S["first_line_ongoing"], _S["no_second_line"]))
    regimen = np.where(no_second, 4, regimen)
    arm = np.where(np.isin(regimen, (0, 1)), 1, 0).astype(np.int8)
    return regimen, arm, other_fl


@dataclass(frozen=True)
class _Timeline:
    """Days from the start of the diagnosis window: diagnosis, first line, time zero (second-line start)."""

    cutoff_day: int
    diag_day: np.ndarray
    fl_start: np.ndarray
    fl_end: np.ndarray
    t0: np.ndarray
    age_days: np.ndarray
    ongoing: np.ndarray      # first line still ongoing at the cut-off (no time zero)


def _timeline(rng: np.random.Generator, s: SimulationSettings, stratum: np.ndarray, cov: _Covariates) -> _Timeline:
    """Diagnosis dates uniform over the window, late enough for the lead time and the minimum follow-up."""
    diag0 = pd.Timestamp(_DIAG_START)
    cutoff_day = (pd.Timestamp(s.cutoff_date) - diag0).days
    diag_end_day = (pd.Timestamp(_DIAG_END) - diag0).days
    gap1_d = np.round(cov.gap1 * MONTH_DAYS).astype(np.int64)
    d1_d = np.round(cov.d1 * MONTH_DAYS).astype(np.int64)
    gap2_d = np.round(cov.gap2 * MONTH_DAYS).astype(np.int64)
    ongoing = stratum == _S["first_line_ongoing"]
    lead_d = gap1_d + np.where(ongoing, 0, d1_d + gap2_d)
    latest = np.minimum(diag_end_day, cutoff_day - int(round(_MIN_FOLLOWUP * MONTH_DAYS)) - lead_d)
    latest = np.maximum(latest, 0)
    u_diag = rng.random(s.n_patients)
    diag_day = np.floor(u_diag * (latest + 1)).astype(np.int64)
    fl_start = diag_day + gap1_d
    fl_end = fl_start + d1_d
    return _Timeline(cutoff_day=cutoff_day, diag_day=diag_day, fl_start=fl_start, fl_end=fl_end,
                     t0=fl_end + gap2_d, age_days=np.round(cov.age * 365.25).astype(np.int64), ongoing=ongoing)


@dataclass(frozen=True)
class _Outcomes:
    """Event days after time zero (death, progression, toxicity stop), censoring, and the uniforms for later."""

    po: dict[str, np.ndarray]
    death_day: np.ndarray
    prog_day: np.ndarray
    tox_day: np.ndarray
    cens_day: np.ndarray
    died: np.ndarray
    progressed: np.ndarray
    last_fu: np.ndarray
    e_t3: np.ndarray
    u_third: np.ndarray
    u_cause: np.ndarray
    u_gap3: np.ndarray
    u_flr: np.ndarray


def _outcomes(rng: np.random.Generator, s: SimulationSettings, stratum: np.ndarray, elig: np.ndarray,
              cov: _Covariates, arm: np.ndarray, tl: _Timeline) -> _Outcomes:
    """Observed outcomes from the potential outcomes of the assigned arm, censored at the last contact."""
    n = s.n_patients
    no_second = np.isin(stratum, (_S["first_line_ongoing"], _S["no_second_line"]))
    e_prog, e_os, e_tox, e_ltfu, e_t3 = -np.log(_stratify(rng, rng.random((5, n)), elig if s.is_exact else None))
    u_fu, u_third, u_cause, u_gap3, u_flr = rng.random((5, n))
    po = _potential_outcomes(cov, e_prog, e_os, s)
    t_os = np.where(arm == 1, po["os_1"], po["os_0"])
    t_prog = np.where(arm == 1, po["prog_1"], po["prog_0"])
    # no second line: survival after first-line failure is poor (best supportive care)
    t_os = np.where(stratum == _S["no_second_line"], 0.4 * po["os_0"], t_os)
    tox_rate = np.where(arm == 1, _TOX_RATE[1], _TOX_RATE[0])
    t_tox = e_tox / tox_rate
    t_ltfu = e_ltfu / s.loss_to_followup_rate if s.loss_to_followup_rate > 0 else np.full(n, np.inf)
    # last contact: cutoff minus up to two months of reporting lag, or loss to follow-up
    admin_d = tl.cutoff_day - np.floor(u_fu * 2 * MONTH_DAYS).astype(np.int64)
    origin = np.where(tl.ongoing, tl.fl_start, tl.t0)
    cens_day = np.minimum(admin_d, origin + np.floor(np.minimum(t_ltfu, 1e5) * MONTH_DAYS).astype(np.int64))
    cens_day = np.maximum(cens_day, origin + 1)
    death_day = tl.t0 + _months_to_days(np.minimum(t_os, 1e5))
    prog_day = tl.t0 + _months_to_days(np.minimum(t_prog, 1e5))
    died = (death_day <= cens_day) & ~tl.ongoing
    progressed = (t_prog < t_os) & (prog_day <= cens_day) & ~no_second
    return _Outcomes(po=po, death_day=death_day, prog_day=prog_day,
                     tox_day=tl.t0 + _months_to_days(np.minimum(t_tox, 1e5)), cens_day=cens_day, died=died,
                     progressed=progressed, last_fu=np.where(died, death_day, cens_day), e_t3=e_t3,
                     u_third=u_third, u_cause=u_cause, u_gap3=u_gap3, u_flr=u_flr)


#: Recorded reasons: codes index these (the records hold the names).
_END_REASONS = ("", "progression", "toxicity", "other", "ongoing")
_FIRST_LINE_END_REASONS = ("ongoing", "intolerance", "progression")
_THIRD_LINE_REGIMENS = ("sunitinib", "other", "none")


def _names(names: Sequence[str], codes: np.ndarray) -> np.ndarray:
    """The names of ``codes`` (indices into ``names``) as an object array of str, the column type of the records."""
    return np.asarray(names, dtype=object)[np.asarray(codes, dtype=np.intp)]


def _second_line_end(o: _Outcomes, has_second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End reason (code into :data:`_END_REASONS`) and day of the second line (ITT: progression is recorded even
    after a toxicity stop)."""
    tox_first = (o.tox_day < np.where(o.progressed, o.prog_day, np.iinfo(np.int64).max)) \
        & (o.tox_day < o.death_day) & (o.tox_day <= o.cens_day)
    end_code = np.select([~has_second, o.progressed & ~tox_first, tox_first, o.died], [0, 1, 2, 3], 4)
    end_day = np.select([end_code == 1, end_code == 2, end_code == 3], [o.prog_day, o.tox_day, o.death_day], -1)
    return end_code, end_day


def _third_line(s: SimulationSettings, cov: _Covariates, regimen: np.ndarray, o: _Outcomes,
                end_code: np.ndarray, end_day: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Third-line start after a failed second line, its regimen (code into :data:`_THIRD_LINE_REGIMENS`), and its
    failure (Weibull, prognosis-driven)."""
    failed = (end_code == 1) | (end_code == 2)   # progression, toxicity
    third_day = end_day + 1 + np.floor((0.2 + 0.7 * -np.log1p(-o.u_gap3)) * MONTH_DAYS).astype(np.int64)
    p_third = np.select([regimen == 2, np.isin(regimen, (0, 1))], [_P_THIRD_SUNITINIB_AFTER_ESC,
                                                                    _P_THIRD_OTHER_AFTER_SUN], 0.6)
    starts3 = failed & (o.u_third < p_third) & (third_day < np.where(o.died, o.death_day, o.cens_day + 1))
    third_reg = np.where(starts3, np.where(regimen == 2, 0, 1), 2)
    eta = s.prognostic * _linear(_features(cov), _OUT_COEF)
    r3 = math.log(2) / _T3_MEDIAN ** _T3_SHAPE * np.exp(0.5 * eta)
    t3_day = third_day + _months_to_days(np.minimum(_weibull_inverse(o.e_t3, r3, _T3_SHAPE), 1e5))
    return third_day, starts3, third_reg, t3_day, starts3 & (t3_day <= o.last_fu)


def _dates(day: np.ndarray, valid: np.ndarray | bool = True) -> pd.Series:
    """Dates from (whole) day numbers counted from the start of the diagnosis window; NaT where not ``valid``.

    numpy's calendar arithmetic on ``datetime64[D]`` (6x faster than ``pd.to_timedelta`` at 1e6 records)."""
    day = np.asarray(day)
    if not np.issubdtype(day.dtype, np.integer):
        raise TypeError(f"_dates: whole day numbers expected (got {day.dtype})")
    d = np.where(valid, day, 0).astype(np.int64)
    out = (np.datetime64(_DIAG_START, "D") + d.astype("timedelta64[D]")).astype("datetime64[ns]")
    return pd.Series(np.where(valid, out, np.datetime64("NaT", "ns")), dtype="datetime64[ns]")


def _generate(s: SimulationSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The registry (one row per patient, dates) and the eligible patients' potential outcomes, in RNG order:
    strata, covariates, treatment, diagnosis dates, outcome draws, tumour-size missingness."""
    rng = np.random.default_rng(s.seed)
    n = s.n_patients
    counts = _stratum_counts(s, rng)
    stratum = rng.permutation(np.repeat(np.arange(len(STRATA)), counts))
    elig = stratum == _S["eligible"]
    cov = _draw_covariates(rng, n, stratum, s.cutoff_date, elig if s.is_exact else None)
    ps = _propensity(cov, s)
    regimen, arm, other_fl = _second_line_regimens(rng, s, stratum, elig, cov, ps)
    tl = _timeline(rng, s, stratum, cov)
    o = _outcomes(rng, s, stratum, elig, cov, arm, tl)
    has_second = ~np.isin(stratum, (_S["first_line_ongoing"], _S["no_second_line"]))
    end_code, end_day = _second_line_end(o, has_second)
    third_day, starts3, third_reg, t3_day, third_fail_obs = _third_line(s, cov, regimen, o, end_code, end_day)
    fl_reason = np.select([tl.ongoing, stratum == _S["first_line_intolerance"],
                           np.isin(stratum, (_S["eligible"], _S["tdm_escalation"]))],
                          [0, 1, 2], np.where(o.u_flr < 0.1, 1, 2))   # codes into _FIRST_LINE_END_REASONS
    cause = np.where(o.died, _names(_CAUSES, _categorical(o.u_cause, _P_CAUSE)), "")
    size_rec = np.where(rng.random(n) < s.tumor_size_missing, np.nan, cov.size)

    width = max(5, len(str(n)))
    dob = _dates(tl.diag_day - tl.age_days)
    ddx = _dates(tl.diag_day)
    # copy=False: the columns are fresh arrays, kept as they are; pandas' default copies them into one block per
    # dtype (1.5 s of the 5.5 s a registry of 1e6 patients took, issue 17)
    df = pd.DataFrame(copy=False, data={
        "patient_id": np.asarray(list(map(f"DGR%0{width}d".__mod__, range(1, n + 1))), dtype=object),
        "center": _names(CENTERS, cov.center),
        "sex": _names(("male", "female"), cov.female),
        "date_of_birth": dob,
        "date_of_diagnosis": ddx,
        "age_at_diagnosis": (ddx - dob).dt.days.to_numpy() / 365.25,
        "tumor_size_cm": size_rec,
        "stage_at_diagnosis": _names(STAGES, cov.stage),
        "localization": _names(LOCALIZATIONS, cov.loc),
        "mitotic_count": _names(MITOTIC, cov.mitotic),
        "mutation": _names(MUTATIONS, cov.mutation),
        "first_line_agent": _names(("imatinib_400", "other"), other_fl),
        "first_line_start_date": _dates(tl.fl_start),
        "first_line_end_date": _dates(tl.fl_end, ~tl.ongoing),
        "first_line_end_reason": _names(_FIRST_LINE_END_REASONS, fl_reason),
        "escalation_for_tdm": stratum == _S["tdm_escalation"],
        "second_line_regimen": _names(REGIMENS, regimen),
        "second_line_start_date": _dates(tl.t0, has_second),
        "second_line_progression_date": _dates(o.prog_day, o.progressed),
        "second_line_end_date": _dates(end_day, end_day >= 0),
        "second_line_end_reason": _names(_END_REASONS, end_code),
        "third_line_regimen": _names(_THIRD_LINE_REGIMENS, third_reg),
        "third_line_start_date": _dates(third_day, starts3),
        "third_line_failure_date": _dates(t3_day, third_fail_obs),
        "date_of_death": _dates(o.death_day, o.died),
        "cause_of_death": cause.astype(object),
        "date_last_followup": _dates(o.last_fu),
    })
    idx = np.flatnonzero(elig)
    truth = pd.DataFrame({
        "patient_id": df["patient_id"].to_numpy()[idx],
        "arm": arm[idx].astype(np.int64),
        "ps": ps[idx],
        "pfs_1": o.po["pfs_1"][idx], "pfs_0": o.po["pfs_0"][idx],
        "os_1": o.po["os_1"][idx], "os_0": o.po["os_0"][idx],
        "lead_months": (tl.t0 - tl.diag_day)[idx] / MONTH_DAYS,
    })
    return df, truth


def simulate_registry(n_patients: int = DEFAULT_N, *, seed: int = DEFAULT_SEED, confounding: float = 1.0,
                      hr_pfs: float = 0.70, hr_os: float = 0.85, prognostic: float = 1.0,
                      weibull_shape: float = 1.1, cutoff_date: str = "2021-06-30",
                      loss_to_followup_rate: float = 0.002, tumor_size_missing: float = 0.0,
                      exact_flow: bool | None = None) -> pd.DataFrame:
    """Synthetic Dutch GIST Registry records (one row per patient, ``docs/registry_schema.md``).

    Parameters
    ----------
    n_patients : int, default=480
        Registry size. With 480 (and ``exact_flow=None``) the study's eligibility gives exactly
        463 -> 118 -> 110 -> 72 (42/30) / 38 for every seed.
    seed, confounding, hr_pfs, hr_os, prognostic, weibull_shape, cutoff_date, loss_to_followup_rate, \
tumor_size_missing, exact_flow
        See :class:`SimulationSettings`.

    Returns
    -------
    pandas.DataFrame
        Dates as ``datetime64[ns]`` (NaT when not applicable), categories as lower-case strings.

    Raises
    ------
    ConfigError
        If a knob is outside its documented range.

    Notes
    -----
    Treatment model (eligible patients): ``P(sunitinib | x) = expit(alpha(c) + c * delta'x)`` with ``c =
    confounding`` and ``alpha(c)`` set so the mean is 72/110. Outcomes from time zero: Weibull PH,
    ``Lambda_PFS(t | x, a) = lambda_P exp(eta(x)) hr_pfs^a t^k`` and the same for OS with ``lambda_O, hr_os``.
    See ``docs/synthetic_registry.md`` for all formulas.

    See Also
    --------
    simulate_potential_outcomes : the same records with the potential outcomes of the eligible patients.
    true_marginal_effects : the true marginal effects these settings imply.
    """
    s = SimulationSettings(n_patients=n_patients, seed=seed, confounding=confounding, hr_pfs=hr_pfs,
                           hr_os=hr_os, prognostic=prognostic, weibull_shape=weibull_shape,
                           cutoff_date=cutoff_date, loss_to_followup_rate=loss_to_followup_rate,
                           tumor_size_missing=tumor_size_missing, exact_flow=exact_flow)
    return _generate(s)[0]


def simulate_potential_outcomes(n_patients: int = DEFAULT_N, *, seed: int = DEFAULT_SEED,
                                confounding: float = 1.0, hr_pfs: float = 0.70, hr_os: float = 0.85,
                                prognostic: float = 1.0, weibull_shape: float = 1.1,
                                cutoff_date: str = "2021-06-30", loss_to_followup_rate: float = 0.002,
                                tumor_size_missing: float = 0.0,
                                exact_flow: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Registry records plus the potential outcomes of the eligible (110-like) population.

    Parameters
    ----------
    n_patients, seed, confounding, hr_pfs, hr_os, prognostic, weibull_shape, cutoff_date, \
loss_to_followup_rate, tumor_size_missing, exact_flow
        See :class:`SimulationSettings`; the registry equals ``simulate_registry`` with the same arguments.

    Returns
    -------
    registry : pandas.DataFrame
        As :func:`simulate_registry`.
    truth : pandas.DataFrame
        One row per patient passing all eligibility steps: ``patient_id``, ``arm`` (received, 1 =
        sunitinib), ``ps`` (true propensity of the treatment model), ``pfs_1``, ``pfs_0``, ``os_1``,
        ``os_0`` (uncensored potential months from time zero, from the same uniforms) and ``lead_months``
        (diagnosis to time zero; OS from diagnosis = lead_months + os_a). For tests and plasmode only; never
        put it in reports.

    Notes
    -----
    Treatment is ``1{logit(ps) + eps > 0}`` with ``eps ~ Logistic(0, 1)``, i.e. Bernoulli(``ps``). At the
    exact default flow the 72 patients with the largest ``logit(ps) + eps`` get sunitinib (the threshold moves
    from 0 to the 72nd value), so ``ps`` is the model probability and only approximately the inclusion
    probability; with ``exact_flow=False`` it is exact.
    """
    s = SimulationSettings(n_patients=n_patients, seed=seed, confounding=confounding, hr_pfs=hr_pfs,
                           hr_os=hr_os, prognostic=prognostic, weibull_shape=weibull_shape,
                           cutoff_date=cutoff_date, loss_to_followup_rate=loss_to_followup_rate,
                           tumor_size_missing=tumor_size_missing, exact_flow=exact_flow)
    return _generate(s)


# ----------------------------------------------------------------------------------------------------------
# calibration: the study's eligibility in plain pandas and the published figures beside the synthetic ones
# ----------------------------------------------------------------------------------------------------------
def study_cohort(registry: pd.DataFrame) -> tuple[dict[str, int], pd.DataFrame]:
    """Apply the study's eligibility (``docs/registry_schema.md`` order) with plain pandas.

    An independent check of :mod:`gistcausal.design.cohort` (which does it from the YAML protocol).

    Parameters
    ----------
    registry : pandas.DataFrame
        Records in the layout of :func:`simulate_registry`.

    Returns
    -------
    flow : dict
        Patients remaining after each step (``start``, ``step1`` ... ``step8``) and the arm counts.
    cohort : pandas.DataFrame
        The analysed patients with ``arm`` (1 = sunitinib), ``pfs_months``, ``pfs_event``, ``os_months``,
        ``os_event`` (from time zero), ``os_dx_months`` (from diagnosis), ``followup_months`` (diagnosis to
        last follow-up or death) and ``first_line_months``.
    """
    d = registry
    steps = [
        d["first_line_agent"] == "imatinib_400",
        d["age_at_diagnosis"] >= 18,
        d["first_line_end_reason"] != "ongoing",
        d["second_line_regimen"] != "none",
        d["second_line_regimen"].isin(["sunitinib_37.5_continuous", "sunitinib_50_intermittent", "imatinib_800"]),
        ~d["mutation"].isin(["kit_exon_9", "unknown"]),
        ~d["escalation_for_tdm"],
        d["first_line_end_reason"] != "intolerance",
    ]
    keep = pd.Series(True, index=d.index)
    flow = {"start": len(d)}
    for i, rule in enumerate(steps, start=1):
        keep &= rule
        flow[f"step{i}"] = int(keep.sum())
    c = d.loc[keep].copy()
    c["arm"] = c["second_line_regimen"].str.startswith("sunitinib").astype(int)
    flow["sunitinib"] = int(c["arm"].sum())
    flow["sunitinib_continuous"] = int((c["second_line_regimen"] == "sunitinib_37.5_continuous").sum())
    flow["sunitinib_intermittent"] = int((c["second_line_regimen"] == "sunitinib_50_intermittent").sum())
    flow["imatinib_800"] = int((c["second_line_regimen"] == "imatinib_800").sum())
    t0 = c["second_line_start_date"]
    pfs_end = c[["second_line_progression_date", "date_of_death"]].min(axis=1)
    c["pfs_event"] = pfs_end.notna().astype(int)
    c["pfs_months"] = (pfs_end.fillna(c["date_last_followup"]) - t0).dt.days / MONTH_DAYS
    c["os_event"] = c["date_of_death"].notna().astype(int)
    c["os_months"] = (c["date_last_followup"] - t0).dt.days / MONTH_DAYS
    c["os_dx_months"] = (c["date_last_followup"] - c["date_of_diagnosis"]).dt.days / MONTH_DAYS
    c["followup_months"] = c["os_dx_months"]
    c["first_line_months"] = (c["first_line_end_date"] - c["first_line_start_date"]).dt.days / MONTH_DAYS
    return flow, c


def _km_median(time: np.ndarray, event: np.ndarray) -> float:
    """Kaplan-Meier median (lifelines' convention: first time the curve is <= 0.5)."""
    from lifelines import KaplanMeierFitter
    kmf = KaplanMeierFitter().fit(np.asarray(time, float), np.asarray(event, int))
    return float(kmf.median_survival_time_)


def calibration_table(registry: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each published figure of the study beside the synthetic one.

    Parameters
    ----------
    registry : pandas.DataFrame, optional
        Records to check; default ``simulate_registry()`` (default size, seed and knobs).

    Returns
    -------
    pandas.DataFrame
        Columns ``figure``, ``arm`` (``sunitinib``, ``imatinib_800`` or ``all``), ``published``,
        ``synthetic``. Counts are counts; Table 1 categories are percentages of the arm.
    """
    reg = simulate_registry() if registry is None else registry
    flow, c = study_cohort(reg)
    rows: list[tuple[str, str, float, float]] = []
    f = PUBLISHED["flow"]
    for fig, syn in [("registry", flow["start"]), ("first_line_imatinib_400", flow["step1"]),
                     ("eligible", flow["step7"]), ("analysed", flow["step8"]), ("sunitinib", flow["sunitinib"]),
                     ("sunitinib_continuous", flow["sunitinib_continuous"]),
                     ("sunitinib_intermittent", flow["sunitinib_intermittent"]),
                     ("imatinib_800", flow["imatinib_800"])]:
        rows.append((f"flow: {fig}", "all", f[fig], syn))
    arms = ((1, "sunitinib", 0), (0, "imatinib_800", 1))
    for a, name, j in arms:
        g = c[c["arm"] == a]
        n_pub = PUBLISHED["n"][j]
        rows.append(("male %", name, 100 * PUBLISHED["sex_male"][j] / n_pub, 100 * (g["sex"] == "male").mean()))
        rows.append(("age mean", name, PUBLISHED["age_mean"][j], g["age_at_diagnosis"].mean()))
        rows.append(("age sd", name, PUBLISHED["age_sd"][j], g["age_at_diagnosis"].std()))
        rows.append(("tumor size median", name, PUBLISHED["tumor_size_median"][j], g["tumor_size_cm"].median()))
        for var, col in (("stage", "stage_at_diagnosis"), ("localization", "localization"),
                         ("mitotic_count", "mitotic_count"), ("mutation", "mutation")):
            for cat, pub in PUBLISHED[var].items():
                rows.append((f"{var}: {cat} %", name, 100 * pub[j] / n_pub, 100 * (g[col] == cat).mean()))
        rows.append(("first-line months median", name, PUBLISHED["first_line_months_median"][j],
                     g["first_line_months"].median()))
        rows.append(("PFS median (KM)", name, PUBLISHED["pfs_median_months"][j],
                     _km_median(g["pfs_months"], g["pfs_event"])))
        rows.append(("PFS events %", name, 100 * PUBLISHED["pfs_events"][j] / n_pub, 100 * g["pfs_event"].mean()))
        rows.append(("OS from diagnosis median (KM)", name, PUBLISHED["os_median_months_from_diagnosis"][j],
                     _km_median(g["os_dx_months"], g["os_event"])))
        rows.append(("follow-up median (simple)", name, PUBLISHED["followup_median_months"][j],
                     g["followup_months"].median()))
    rows.append(("deaths %", "all", 100 * PUBLISHED["deaths"] / 110, 100 * c["os_event"].mean()))
    rows.append(("deaths from GIST % of deaths", "all", 100 * 61 / 65,
                 100 * (c["cause_of_death"] == "gist").sum() / max(c["os_event"].sum(), 1)))
    a = c[c["arm"] == 1]
    fail = a["second_line_end_reason"].isin(["progression", "toxicity"])
    rows.append(("sunitinib failures", "sunitinib", PUBLISHED["sunitinib_failures"], fail.sum()))
    rows.append(("sunitinib failures: progression", "sunitinib", PUBLISHED["sunitinib_failure_progression"],
                 (a["second_line_end_reason"] == "progression").sum()))
    rows.append(("sunitinib failures: toxicity", "sunitinib", PUBLISHED["sunitinib_failure_toxicity"],
                 (a["second_line_end_reason"] == "toxicity").sum()))
    b = c[(c["arm"] == 0) & (c["third_line_regimen"] == "sunitinib")]
    rows.append(("third-line sunitinib after escalation", "imatinib_800", PUBLISHED["third_line_sunitinib"], len(b)))
    t3 = (b["third_line_failure_date"] - b["third_line_start_date"]).dt.days / MONTH_DAYS
    rows.append(("third-line sunitinib months to failure, median (failed)", "imatinib_800",
                 PUBLISHED["third_line_failure_median_months"], t3.median()))
    out = pd.DataFrame(rows, columns=["figure", "arm", "published", "synthetic"])
    out["published"] = out["published"].astype(float)
    out["synthetic"] = out["synthetic"].astype(float)
    return out


# ----------------------------------------------------------------------------------------------------------
# true marginal effects
# ----------------------------------------------------------------------------------------------------------
_CONTRAST = "sunitinib vs imatinib_800"


def cox_hr_no_ties(time: np.ndarray, arm: np.ndarray, weights: np.ndarray | None = None, *,
                   order: np.ndarray | None = None) -> tuple[float, float]:
    """Hazard ratio of a binary covariate from the (weighted) Cox partial likelihood, all times events.

    Newton-Raphson on ``U(b) = sum_i w_i (z_i - S1(t_i) / S0(t_i))`` with risk-set sums
    ``S_r(t) = sum_{j: t_j >= t} w_j z_j^r exp(b z_j)``; exact for continuous (tie-free) uncensored times,
    where Breslow and Efron coincide.

    Parameters
    ----------
    time : numpy.ndarray
        Event times (no censoring, no ties).
    arm : numpy.ndarray
        0/1 covariate.
    weights : numpy.ndarray, optional
        Case weights (default 1).
    order : numpy.ndarray, optional
        ``np.argsort(-time, kind="stable")`` when the caller has it (the same fit).

    Returns
    -------
    hr : float
        ``exp(b)``.
    se_log : float
        Model-based standard error of ``b`` (inverse information; ignores pairing and weights' variance).
    """
    if order is None:
        order = np.argsort(-np.asarray(time, float), kind="stable")
    z = np.asarray(arm, float)[order]
    w = np.ones_like(z) if weights is None else np.asarray(weights, float)[order]
    b = 0.0
    info = float("nan")
    for _ in range(50):
        ez = w * np.exp(b * z)
        s0, s1 = np.cumsum(ez), np.cumsum(ez * z)
        p = s1 / s0
        score = float(np.sum(w * (z - p)))
        info = float(np.sum(w * p * (1 - p)))
        step = score / info
        b += step
        if abs(step) < 1e-12:
            break
    return math.exp(b), 1 / math.sqrt(info)


def _wmean_se(y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    sw = w.sum()
    m = float(np.sum(w * y) / sw)
    return m, float(np.sqrt(np.sum((w * (y - m)) ** 2)) / sw)


def _wquantile(y: np.ndarray, w: np.ndarray, q: float, o: np.ndarray | None = None) -> float:
    """Weighted ``q`` quantile of ``y``; ``o``: ``np.argsort(y, kind="stable")`` when the caller has it."""
    o = np.argsort(y, kind="stable") if o is None else o
    cw = np.cumsum(w[o])
    return float(y[o][np.searchsorted(cw, q * cw[-1])])


@dataclass(frozen=True, slots=True)
class TrueEffects:
    """True marginal effects of sunitinib vs imatinib 800 in the eligible population (Monte Carlo).

    Attributes
    ----------
    estimand : str
        ``"ATE"`` (all eligible), ``"ATT"`` (the sunitinib-treated: weights ``e(x)``) or ``"ATC"``
        (weights ``1 - e(x)``).
    estimates : tuple of EffectEstimate
        ``method="truth"``; per outcome (``pfs``, ``os`` from time zero, ``os_dx`` from diagnosis): per arm
        ``surv`` at each landmark, ``median``, ``rmst`` at the horizon, and for the contrast ``surv_diff``,
        ``surv_ratio``, ``median_diff``, ``rmst_diff`` and the marginal ``hr``. ``se`` is the Monte Carlo
        standard error where available (``hr``: model-based SE of the stacked Cox fit).
    conditional_hr : dict
        The conditional hazard-ratio inputs ``{"pfs": hr_pfs, "os": hr_os}`` (given covariates).
    settings : dict
        The knobs that define the truth.
    n_mc, seed : int
        Monte Carlo cohort size and seed.
    landmarks : tuple of float
    horizon : float

    Notes
    -----
    The marginal hazard ratio is the Cox estimate from the stacked uncensored potential outcomes (both
    strategies for every member of the target population). It differs from the conditional input whenever
    covariates are prognostic, because the hazard ratio is non-collapsible (Martinussen & Vansteelandt 2013):
    even without confounding, averaging proportional conditional hazards over covariates gives marginal
    hazards that are neither proportional nor in the conditional ratio. The survival and RMST contrasts are
    collapsible.
    """

    estimand: str
    estimates: tuple[EffectEstimate, ...]
    conditional_hr: dict
    settings: dict
    n_mc: int
    seed: int
    landmarks: tuple[float, ...]
    horizon: float

    def to_frame(self) -> pd.DataFrame:
        """Tidy copy, one row per estimate."""
        return estimates_frame(self.estimates)

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        return {"estimand": self.estimand, "estimates": [e.to_dict() for e in self.estimates],
                "conditional_hr": dict(self.conditional_hr), "settings": dict(self.settings),
                "n_mc": self.n_mc, "seed": self.seed, "landmarks": list(self.landmarks), "horizon": self.horizon}

    def value(self, outcome: str, measure: str, *, contrast: str = _CONTRAST, time: float | None = None) -> float:
        """The true value of one quantity (``contrast`` is an arm name for per-arm measures)."""
        for e in self.estimates:
            if (e.outcome, e.measure, e.contrast) == (outcome, measure, contrast) and (
                    time is None or (math.isfinite(e.time) and abs(e.time - time) < 1e-9)):
                return e.value
        raise KeyError(f"TrueEffects.value: no {outcome} {measure} for {contrast} at time {time}")

    def summary(self) -> str:
        """Plain-text table of the true effects."""
        lines = [f"True marginal effects ({self.estimand}; Monte Carlo n={self.n_mc}, seed={self.seed}); "
                 f"conditional HR inputs: PFS {self.conditional_hr['pfs']:.3g}, OS {self.conditional_hr['os']:.3g}"]
        for e in self.estimates:
            when = f" t={e.time:g}" if math.isfinite(e.time) else ""
            se = f" (SE {e.se:.2g})" if math.isfinite(e.se) else ""
            lines.append(f"  {e.outcome:6s} {e.measure:11s}{when:7s} {e.contrast:26s} {e.value:9.4f}{se}")
        return "\n".join(lines)


@functools.lru_cache(maxsize=2)
def _truth_population(n: int, seed: int, confounding: float, hr_pfs: float, hr_os: float, prognostic: float,
                      weibull_shape: float, cutoff_date: str
                      ) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, tuple[np.ndarray, ...]]]:
    """The Monte Carlo cohort of :func:`true_marginal_effects` (true propensity, both potential outcomes of each
    outcome) and the stable sort orders its estimates use (each arm's times; the stacked times, descending). They
    do not depend on the estimand, so a run's ATE and ATT truths draw and sort them once (issue 17: 1 s of a 1e4
    run); read-only arrays."""
    s = SimulationSettings(seed=seed, confounding=confounding, hr_pfs=hr_pfs, hr_os=hr_os, prognostic=prognostic,
                           weibull_shape=weibull_shape, cutoff_date=cutoff_date)
    rng = np.random.default_rng(seed)
    cov = _draw_covariates(rng, n, np.full(n, _S["eligible"]), cutoff_date)
    ps = _propensity(cov, s)
    e_prog, e_os = -np.log(rng.random((2, n)))
    po = _potential_outcomes(cov, e_prog, e_os, s)
    lead = cov.gap1 + cov.d1 + cov.gap2
    po["os_dx_1"], po["os_dx_0"] = lead + po["os_1"], lead + po["os_0"]
    orders = {out: (np.argsort(po[f"{out}_1"], kind="stable"), np.argsort(po[f"{out}_0"], kind="stable"),
                    np.argsort(-np.concatenate([po[f"{out}_1"], po[f"{out}_0"]]), kind="stable"))
              for out in ("pfs", "os", "os_dx")}
    for arr in (ps, *po.values(), *(o for trio in orders.values() for o in trio)):
        arr.flags.writeable = False
    return ps, po, orders


def true_marginal_effects(*, estimand: Literal["ATE", "ATT", "ATC"] = "ATE",
                          landmarks: tuple[float, ...] = (6, 12, 24), horizon: float = 24.0,
                          n_mc: int = 200_000, seed: int = DEFAULT_SEED, confounding: float = 1.0,
                          hr_pfs: float = 0.70, hr_os: float = 0.85, prognostic: float = 1.0,
                          weibull_shape: float = 1.1, cutoff_date: str = "2021-06-30") -> TrueEffects:
    """True marginal effects of sunitinib vs imatinib 800 implied by the generator's settings.

    A Monte Carlo cohort of ``n_mc`` patients is drawn from the eligible population's covariate
    distribution, and both potential outcomes (PFS, OS from time zero; OS from diagnosis = lead time + OS)
    are computed for each from the same uniforms, uncensored.

    Parameters
    ----------
    estimand : {"ATE", "ATT", "ATC"}, default="ATE"
        Target population: everyone eligible, the sunitinib-treated (weights ``e(x)``), or the escalation
        group (weights ``1 - e(x)``), ``e`` the true propensity of the treatment model.
    landmarks : tuple of float, default=(6, 12, 24)
        Months at which survival is reported.
    horizon : float, default=24.0
        RMST horizon (months).
    n_mc : int, default=200_000
        Monte Carlo cohort size.
    seed : int, default=20201
        Seed of the Monte Carlo cohort.
    confounding, hr_pfs, hr_os, prognostic, weibull_shape, cutoff_date
        As :class:`SimulationSettings` (``confounding`` matters only for ATT/ATC; ``cutoff_date`` shapes the
        eligible first-line durations). Censoring knobs do not change the truth.

    Returns
    -------
    TrueEffects

    Raises
    ------
    ConfigError
        If a knob is out of range or ``estimand`` is unknown.

    Notes
    -----
    For strategy ``a`` and target weights ``w``: ``S_a(t) = sum w 1{T_a > t} / sum w``,
    ``RMST_a(tau) = sum w min(T_a, tau) / sum w``, the median is the weighted 0.5 quantile of ``T_a``, and the
    marginal HR is ``exp(b)`` maximizing the weighted Cox partial likelihood of the stacked data
    ``{(T_1, 1), (T_0, 0)}`` (:func:`cox_hr_no_ties`). Monte Carlo SEs of differences use the paired draws.
    """
    check_estimand(estimand, where="true_marginal_effects", supported="truth")
    if int(n_mc) != n_mc or n_mc < 1000:
        raise ConfigError(f"true_marginal_effects: n_mc must be an integer >= 1000 (got {n_mc!r}). "
                          "Pass a larger n_mc.")
    if not (math.isfinite(horizon) and horizon > 0) or any(not (math.isfinite(t) and t > 0) for t in landmarks):
        raise ConfigError(f"true_marginal_effects: horizon and landmarks must be positive months "
                          f"(got horizon={horizon!r}, landmarks={tuple(landmarks)!r}). Pass positive numbers.")
    SimulationSettings(seed=seed, confounding=confounding, hr_pfs=hr_pfs, hr_os=hr_os, prognostic=prognostic,
                       weibull_shape=weibull_shape, cutoff_date=cutoff_date)   # checks the knobs
    n = int(n_mc)
    ps, po, orders = _truth_population(n, int(seed), float(confounding), float(hr_pfs), float(hr_os),
                                       float(prognostic), float(weibull_shape), str(cutoff_date))
    w = {"ATE": np.ones(n), "ATT": ps, "ATC": 1 - ps}[estimand]
    est: list[EffectEstimate] = []

    def add(outcome: str, contrast: str, measure: str, value: float, se: float = math.nan,
            time: float = math.nan, scale: str = "identity") -> None:
        est.append(EffectEstimate(outcome=outcome, contrast=contrast, estimand=estimand, method="truth",
                                  measure=measure, value=float(value), se=float(se), variance="monte_carlo",
                                  n=n, time=float(time), scale=scale))

    for out in ("pfs", "os", "os_dx"):
        t1, t0 = po[f"{out}_1"], po[f"{out}_0"]
        o1, o0, o_stacked = orders[out]
        for lm in landmarks:
            s1, se1 = _wmean_se((t1 > lm).astype(float), w)
            s0, se0 = _wmean_se((t0 > lm).astype(float), w)
            add(out, ARM_NAMES[1], "surv", s1, se1, lm)
            add(out, ARM_NAMES[0], "surv", s0, se0, lm)
            add(out, _CONTRAST, "surv_diff", s1 - s0,
                _wmean_se((t1 > lm).astype(float) - (t0 > lm).astype(float), w)[1], lm)
            add(out, _CONTRAST, "surv_ratio", s1 / s0 if s0 > 0 else math.nan, time=lm)
        m1, m0 = _wquantile(t1, w, 0.5, o1), _wquantile(t0, w, 0.5, o0)
        add(out, ARM_NAMES[1], "median", m1)
        add(out, ARM_NAMES[0], "median", m0)
        add(out, _CONTRAST, "median_diff", m1 - m0)
        r1, rse1 = _wmean_se(np.minimum(t1, horizon), w)
        r0, rse0 = _wmean_se(np.minimum(t0, horizon), w)
        add(out, ARM_NAMES[1], "rmst", r1, rse1, horizon)
        add(out, ARM_NAMES[0], "rmst", r0, rse0, horizon)
        add(out, _CONTRAST, "rmst_diff", r1 - r0,
            _wmean_se(np.minimum(t1, horizon) - np.minimum(t0, horizon), w)[1], horizon)
        hr, se_log = cox_hr_no_ties(np.concatenate([t1, t0]), np.r_[np.ones(n), np.zeros(n)],
                                    np.concatenate([w, w]), order=o_stacked)
        add(out, _CONTRAST, "hr", hr, se_log, scale="log")
    settings = {"confounding": confounding, "hr_pfs": hr_pfs, "hr_os": hr_os, "prognostic": prognostic,
                "weibull_shape": weibull_shape, "cutoff_date": cutoff_date}
    return TrueEffects(estimand=estimand, estimates=tuple(est), conditional_hr={"pfs": hr_pfs, "os": hr_os},
                       settings=settings, n_mc=n, seed=int(seed), landmarks=tuple(float(t) for t in landmarks),
                       horizon=float(horizon))


# ----------------------------------------------------------------- record-validation rules of this registry
#: Date ordering of the synthetic GIST registry (docs/registry_schema.md); equal dates are allowed.
GIST_DATE_RULES: tuple[DateRule, ...] = tuple(DateRule(earlier_col=a, later_col=b) for a, b in (
    ("date_of_birth", "date_of_diagnosis"),
    ("date_of_diagnosis", "first_line_start_date"),
    ("first_line_start_date", "first_line_end_date"),
    ("first_line_end_date", "second_line_start_date"),
    ("second_line_start_date", "second_line_progression_date"),
    ("second_line_start_date", "second_line_end_date"),
    ("second_line_end_date", "third_line_start_date"),
    ("third_line_start_date", "third_line_failure_date"),
    ("date_of_diagnosis", "date_of_death"),
    ("date_of_diagnosis", "date_last_followup"),
))

#: Event dates that must not be after ``date_last_followup`` (which equals the date of death if dead).
GIST_EVENT_COLS: tuple[str, ...] = (
    "first_line_end_date", "second_line_start_date", "second_line_progression_date", "second_line_end_date",
    "third_line_start_date", "third_line_failure_date", "date_of_death",
)

#: Allowed codes per column of the synthetic GIST registry (docs/registry_schema.md).
GIST_VOCABULARIES: dict[str, list[Any]] = {
    "center": ["nki", "lumc", "erasmus", "radboud", "umcg"],
    "sex": ["male", "female"],
    "stage_at_diagnosis": ["localized", "locally_advanced", "metastasized", "multiple_localization"],
    "localization": ["gastric", "small_bowel", "duodenal", "rectum", "esophagus", "colon", "pelvic_cavity",
                     "peritoneum", "unknown"],
    "mitotic_count": ["low", "high", "not_reported"],
    "mutation": ["kit_exon_11", "kit_exon_13", "kit_exon_17", "kit_exon_9", "pdgfra_exon_14",
                 "pdgfra_exon_18_d842v", "pdgfra_exon_18_non_d842v", "sdh", "wt_kit_pdgfr_sdh", "wt_kit_pdgfr",
                 "unknown"],
    "first_line_agent": ["imatinib_400", "other"],
    "first_line_end_reason": ["progression", "intolerance", "ongoing"],
    "escalation_for_tdm": [True, False],
    "second_line_regimen": ["sunitinib_37.5_continuous", "sunitinib_50_intermittent", "imatinib_800", "other",
                            "none"],
    "second_line_end_reason": ["progression", "toxicity", "ongoing", "other", ""],
    "third_line_regimen": ["sunitinib", "other", "none"],
    "cause_of_death": ["gist", "toxicity", "other", "unknown", ""],
}

GIST_DATE_COLS: tuple[str, ...] = (
    "date_of_birth", "date_of_diagnosis", "first_line_start_date", "first_line_end_date",
    "second_line_start_date", "second_line_progression_date", "second_line_end_date", "third_line_start_date",
    "third_line_failure_date", "date_of_death", "date_last_followup",
)

#: The whole default rule set for the synthetic registry, as a config object.
GIST_VALIDATION = ValidationConfig(date_cols=list(GIST_DATE_COLS), date_rules=list(GIST_DATE_RULES),
                                   vocabularies=GIST_VOCABULARIES, last_followup_col="date_last_followup",
                                   event_cols=list(GIST_EVENT_COLS))


