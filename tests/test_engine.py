"""The ``analysis.engine`` setting (issue 17): honoured by every replicate loop, rejected with a fix when wrong,
and the same numbers on any engine and worker count (checked on a real ``distributed.LocalCluster``)."""
from __future__ import annotations

import contextlib
import sys
import types
import warnings

import numpy as np
import pandas as pd
import pytest

from gistcausal import engine as _engine
from gistcausal.engine import Engine, Executor, engine_from_jobs, open_executor
from gistcausal.errors import ConfigError


def _square(shared: int, item: int) -> int:
    return shared * item * item


@pytest.fixture(scope="module")
def cluster_client():
    """A real two-worker Dask cluster (threads, so it starts in about a second on a shared machine)."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


# ---------------------------------------------------------------------------------------------------
# the executor
# ---------------------------------------------------------------------------------------------------
def test_map_replicates_in_item_order_with_progress_in_units():
    calls = []
    with open_executor(Engine(n_workers=1)) as ex:
        out = ex.map_replicates(_square, [1, 2, 3], shared=2, progress=lambda d, t: calls.append((d, t)),
                                size=lambda item: 10)
    assert out == [2, 8, 18]
    assert calls == [(0, 30), (10, 30), (20, 30), (30, 30)]


def test_local_processes_and_dask_give_the_items_in_order(cluster_client):
    with open_executor(Engine(n_workers=2)) as ex:
        local = ex.map_replicates(_square, list(range(7)), shared=3)
    with Executor(Engine(kind="dask"), client=cluster_client) as ex:
        dask = ex.map_replicates(_square, list(range(7)), shared=3)
        assert ex.n_workers() == 2
    assert local == dask == [3 * i * i for i in range(7)]
    assert cluster_client.status == "running"   # a client passed in is used, not closed


def _sum_times(shared: tuple, item: int) -> float:
    return float(shared[0].sum()) * item


def test_dask_loops_shipping_the_same_data_one_after_another_all_finish(cluster_client, monkeypatch):
    """Each loop scatters its shared object under a key of its own: with Dask's content hash a loop shipping the
    same data as the loop before reused that key while the scheduler was still forgetting it, and about one
    loop in 30 had its tasks cancelled for "lost dependencies" (the engine benchmark's repeated runs)."""
    keys = []
    scatter = cluster_client.scatter

    def recording(data, **kw):
        fut = scatter(data, **kw)
        keys.extend(f.key for f in (fut if isinstance(fut, (list, tuple)) else [fut]))   # a tuple: one each
        return fut

    monkeypatch.setattr(cluster_client, "scatter", recording)
    shared = (np.arange(50_000.0), "same data each time")
    want = [float(shared[0].sum()) * i for i in range(6)]
    for _ in range(40):
        with Executor(Engine(kind="dask"), client=cluster_client) as ex:
            assert ex.map_replicates(_sum_times, list(range(6)), shared=shared) == want
    assert len(set(keys)) == len(keys) == 2 * 40


def _timed(shared: float, item: float) -> tuple[float, float]:
    """Sleeps ``item`` seconds; returns when it started and ended (wall clock, seconds since the epoch)."""
    import time

    t0 = time.time()
    time.sleep(item)
    return t0, time.time()


def test_first_items_are_handed_out_first_and_results_stay_in_item_order(cluster_client):
    """``first=`` (issue 17: the grid's boosting row) changes the order items start in, never the results."""
    started = []

    def record(shared, item):
        started.append(item)
        return shared * item

    with open_executor(Engine(n_workers=1)) as ex:
        assert ex.map_replicates(record, [1, 2, 3, 4], shared=2, first=[2, 0]) == [2, 4, 6, 8]
    assert started == [3, 1, 2, 4]
    with open_executor(Engine(n_workers=2)) as ex:
        assert ex.map_replicates(_square, list(range(6)), shared=3, first=[5]) == [3 * i * i for i in range(6)]
        # with two workers and the long item first, the short ones run beside it, all started before it ends
        spans = ex.map_replicates(_timed, [0.05, 0.05, 0.05, 1.5], shared=0, first=[3])
        assert max(s for s, _ in spans[:3]) < spans[3][1]
        with pytest.raises(ValueError, match="distinct item indices"):
            ex.map_replicates(_square, [1, 2], shared=1, first=[0, 0])
        with pytest.raises(ValueError, match="distinct item indices"):
            ex.map_replicates(_square, [1, 2], shared=1, first=[2])
    with Executor(Engine(kind="dask"), client=cluster_client) as ex:
        assert ex.map_replicates(_square, list(range(5)), shared=3, first=[4, 1]) == [3 * i * i for i in range(5)]


def test_begin_map_shares_the_pool_with_a_loop_started_meanwhile_and_raises_its_errors():
    """begin_map (issue 17: the specification grid beside the refuters) hands its items to the local workers at
    once; a loop started after it runs on the worker its long item leaves free, before that item ends. Serial
    executors compute when the results are asked for; results come back in item order; errors are raised."""
    import os

    with open_executor(Engine(n_workers=2)) as ex:
        wait = ex.begin_map(_timed, [2.0, 0.01], shared=0)
        others = ex.map_replicates(_timed, [0.01, 0.01, 0.01], shared=0)
        long_item = wait()
        assert len(long_item) == 2 and long_item[0][1] - long_item[0][0] >= 2.0
        assert long_item[0][0] < min(start for start, _ in others)  # the first loop started at once
        assert max(end for _, end in others) < long_item[0][1]       # the second did not wait for it
        assert ex.begin_map(_square, [1, 2, 3], shared=2)() == [2, 8, 18]
    calls = []

    def record(shared, item):
        calls.append(item)
        return os.getpid()

    with open_executor(Engine(n_workers=1)) as ex:
        wait = ex.begin_map(record, [1, 2], shared=None)
        assert calls == []                       # serial: nothing runs until the results are asked for
        assert wait() == [os.getpid()] * 2 and calls == [1, 2]
    with open_executor(Engine(n_workers=2)) as ex:
        waiting = ex.begin_map(_negative_raises, [1, -1, 2], shared=None)
        with pytest.raises(ValueError, match="negative: -1"):
            waiting()


def _has_module(shared: str, item: float) -> tuple[int, bool]:
    import os
    import sys
    import time

    time.sleep(item)
    return os.getpid(), shared in sys.modules


def _array_kind(shared: np.ndarray, item: int) -> str:
    return type(shared).__name__


def test_local_workers_get_arrays_pickled_not_memory_mapped():
    """Large shared arrays reach the workers pickled (``max_nbytes=None``): joblib's memory-mapped temporary files
    made every loop's end wait for their deletion, up to 1 s each (issue 17)."""
    from gistcausal.engine import run_beside_each

    big = np.zeros(400_000)   # 3.2 MB, above joblib's 1 MB memmapping threshold
    with open_executor(Engine(n_workers=2)) as ex:
        assert ex.map_replicates(_array_kind, [0, 1, 2], shared=big) == ["ndarray"] * 3
        assert ex.begin_map(_array_kind, [0, 1], shared=big)() == ["ndarray"] * 2
    assert run_beside_each(Engine(n_workers=2), _array_kind, [(big, 0), (big, 1)])() == ["ndarray"] * 2
    from gistcausal.inference.bootstrap import local_map_chunks   # the library's n_jobs= path

    assert sorted(local_map_chunks(2)(_array_kind, [(big, 0), (big, 1)])) == ["ndarray"] * 2


def test_warm_up_imports_the_modules_in_every_local_worker():
    """warm_up (issue 17: the run's workers import gistcausal, scikit-learn and DoWhy while the records are read)
    imports the modules in each worker, skips one that does not exist, and does nothing on a serial executor."""
    with open_executor(Engine(n_workers=1)) as ex:
        assert ex.warm_up(["tabnanny"])() is None
    with open_executor(Engine(n_workers=2)) as ex:
        join = ex.warm_up(["tabnanny", "gistcausal_no_such_module"])
        join()
        seen = ex.map_replicates(_has_module, [0.2] * 6, shared="tabnanny")
    assert all(has for _, has in seen)
    assert len({pid for pid, _ in seen}) == 2


_FORKSERVER = """
import os, sys
sys.path.insert(0, {src!r})
from joblib.externals.loky.backend import context
from gistcausal.engine import Engine, open_executor

def where(shared, item):
    return os.getpid(), os.getppid(), "tabnanny" in sys.modules, os.environ.get("OMP_NUM_THREADS")

# no `if __name__ == "__main__":` guard, as in many users' scripts: the workers must not run this again
print("RAN", flush=True)
with open_executor(Engine(n_workers=2)) as ex:
    stop = ex.warm_up(["tabnanny"])
    during = context.get_start_method()
    seen = ex.map_replicates(where, range(6))
    stop(stop_now=True)
    after = context.get_start_method()
print(during, after, os.getpid(), "tabnanny" in sys.modules, os.environ.get("OMP_NUM_THREADS"), seen)
"""


def test_warm_up_forks_the_workers_from_a_server_that_imported_the_modules(tmp_path):
    """warm_up starts a forkserver that imports the modules once; the run's loky workers are forked from it (their
    parent is the server, not this process), start with the modules imported and with joblib's thread count (one
    BLAS/OpenMP thread each when every core runs a worker) and do not run the main script again (it has no
    ``__main__`` guard); this process imports nothing, and loky's start method is restored when the warm-up ends (issue 17: each spawned worker spent about 3 s of CPU importing). Runs in a
    fresh interpreter: the test process's own loky pool (reused across tests) is left alone by design."""
    import ast
    import os
    import subprocess
    import sys
    from pathlib import Path

    import multiprocessing as mp

    if "forkserver" not in mp.get_all_start_methods():
        pytest.skip("no forkserver start method on this platform")
    script = tmp_path / "fork.py"
    script.write_text(_FORKSERVER.format(src=str(Path(_engine.__file__).parents[1])), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300,
                         check=True).stdout
    assert out.count("RAN") == 1        # a forked worker does not import the main script (loky's never do)
    out = out.split("RAN", 1)[1].split(maxsplit=5)
    during, after, me, imported_here, omp_here = out[:5]
    seen = ast.literal_eval(out[5])
    assert (during, after) == ("forkserver", "None")
    assert (imported_here, omp_here) == ("False", "None")   # nothing imported nor set in this process
    parents = {ppid for _, ppid, _, _ in seen}
    assert len(parents) == 1 and int(me) not in parents      # forked by the server
    assert all(has for _, _, has, _ in seen)
    from joblib.externals.loky import cpu_count

    threads = str(max(cpu_count() // 2, 1))
    assert {omp for _, _, _, omp in seen} == {threads}


def test_engine_from_jobs_follows_joblib():
    assert engine_from_jobs(1) == Engine(n_workers=1)
    assert engine_from_jobs(None) == Engine(n_workers=1)
    assert engine_from_jobs(-1) == Engine()


@pytest.mark.parametrize("kwargs,message", [
    ({"kind": "dsk"}, "analysis.engine: kind must be 'local' or 'dask' (got 'dsk'). Did you mean 'dask'? Use "
                      "`kind: dask`."),
    ({"kind": "local", "address": "tcp://h:8786"},
     "analysis.engine: address applies to kind 'dask' only (got kind 'local' with address 'tcp://h:8786'). Set "
     "`kind: dask`, or remove `address:`."),
    ({"kind": "dask", "address": "tcp://h:8786", "n_workers": 4},
     "analysis.engine: n_workers applies to a local cluster; a scheduler at an address has its own workers (got "
     "n_workers 4 with address 'tcp://h:8786'). Remove `n_workers:`."),
    ({"n_workers": 0}, "analysis.engine: n_workers must be an integer >= 1 or null for one per core (got 0). Use "
                       "`n_workers: 2`."),
])
def test_engine_rejects_bad_values(kwargs, message):
    with pytest.raises(ConfigError) as err:
        Engine(**kwargs)
    assert str(err.value) == message


# ---------------------------------------------------------------------------------------------------
# the config key
# ---------------------------------------------------------------------------------------------------
def _raw(default_config, **analysis):
    raw = default_config.model_dump(by_alias=True, exclude={"source_path"})
    raw["analysis"].pop("engine")
    raw["analysis"].update(analysis)
    return raw


def test_config_engine_key_is_read(default_config):
    from gistcausal.analysis.spec import engine
    from gistcausal.design.config import config_from_dict

    cfg = config_from_dict(_raw(default_config, engine={"kind": "dask", "address": "tcp://sched:8786"}))
    assert engine(cfg) == Engine(kind="dask", address="tcp://sched:8786")
    assert engine(default_config) == Engine()


@pytest.mark.parametrize("analysis,message", [
    ({"engine": {"kind": "dsk"}},
     "<dict>: analysis.engine.kind: Input should be 'local' or 'dask' (got dsk). Did you mean 'dask'? Use "
     "`kind: dask`."),
    ({"engine": {"address": "tcp://h:8786"}},
     "<dict>: analysis.engine: address applies to kind 'dask' only (got kind: local, address: tcp://h:8786). "
     "Set `kind: dask`, or remove `address:`. Fix the value."),
    ({"jobs": 2},
     "<dict>: analysis: analysis.jobs moved to analysis.engine.n_workers (got jobs: 2). Remove it and set "
     "`analysis: {engine: {n_workers: 2}}`. Fix the value."),
    ({"plasmode": {"backend": "dask"}},
     "<dict>: analysis.plasmode: analysis.plasmode.backend moved to analysis.engine, which every replicate loop "
     "uses (got backend: dask). Remove it and set `analysis: {engine: {kind: dask}}`. Fix the value."),
])
def test_config_engine_rejected_with_fix(default_config, analysis, message):
    from gistcausal.design.config import config_from_dict

    with pytest.raises(ConfigError) as err:
        config_from_dict(_raw(default_config, **analysis))
    assert str(err.value) == "invalid configuration:\n  " + message


def test_config_engine_changes_which_executor_runs(default_config, default_cohort, monkeypatch):
    """kind: dask sends the bootstrap to Dask; n_workers: 1 runs it in this process (no pool at all)."""
    from gistcausal.analysis.causal import causal_analysis
    from gistcausal.design.config import config_from_dict

    used = []

    def fake_dask(self, fn, items, shared, order):  # records the route, runs in process (no scheduler needed)
        used.append("dask")
        return ((i, fn(shared, items[i])) for i in order)

    def fake_local(self, fn, items, shared, order):
        used.append("local")
        return ((i, fn(shared, items[i])) for i in order)

    monkeypatch.setattr(Executor, "_imap_dask", fake_dask)
    monkeypatch.setattr(Executor, "_imap_local", fake_local)
    # several chunks of replicates, so there is something to spread over workers (at this n the batched
    # bootstrap would otherwise compute all 20 replicates in one chunk, in this process)
    import gistcausal.inference.bootstrap_batched as bb

    monkeypatch.setattr(bb, "CHUNK_BYTES", 8 * 5 * len(default_cohort.frame))
    survival = {**default_config.analysis.survival.model_dump(), "variance": "bootstrap", "bootstrap_replicates": 20,
                "estimands": ["ATE"]}
    results = {}
    for engine in ({"kind": "dask"}, {"n_workers": 1}, {"n_workers": 2}):
        used.clear()
        cfg = config_from_dict(_raw(default_config, engine=engine, survival=survival, causal=True))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ca = causal_analysis(cfg, default_cohort, lambda _m: None)
        results[str(engine)] = (set(used), ca.bootstrap[("pfs", "ATE")].replicates)
    assert results["{'kind': 'dask'}"][0] == {"dask"}
    assert results["{'n_workers': 1}"][0] == set()
    assert results["{'n_workers': 2}"][0] == {"local"}
    tables = [r[1] for r in results.values()]
    pd.testing.assert_frame_equal(tables[0], tables[1])
    pd.testing.assert_frame_equal(tables[0], tables[2])


# ---------------------------------------------------------------------------------------------------
# same seeds, same numbers, on a real cluster
# ---------------------------------------------------------------------------------------------------
def test_bootstrap_identical_on_local_cluster(default_config, default_cohort, cluster_client):
    from gistcausal.analysis.iptw import bootstrap_estimates

    kw = dict(outcome="pfs", estimand="ATE", n_boot=40, random_state=11)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = bootstrap_estimates(default_config, default_cohort.frame, engine=Engine(n_workers=1), **kw)
        dask = bootstrap_estimates(default_config, default_cohort.frame, progress=lambda d, t: calls.append((d, t)),
                                   engine=Executor(Engine(kind="dask"), client=cluster_client), **kw)
    pd.testing.assert_frame_equal(local.replicates, dask.replicates, check_exact=True)
    assert local.to_dict() == dask.to_dict()
    assert calls[0] == (0, 40) and calls[-1] == (40, 40)   # progress counts replicates done


def test_specification_grid_identical_on_local_cluster(default_config, default_cohort, cluster_client):
    from gistcausal.analysis.specification import specification_grid

    local = specification_grid(default_config, default_cohort.frame, outcome="pfs")
    calls = []
    dask = specification_grid(default_config, default_cohort.frame, outcome="pfs",
                              engine=Executor(Engine(kind="dask"), client=cluster_client),
                              progress=lambda d, t: calls.append(d))
    pd.testing.assert_frame_equal(local.to_frame(), dask.to_frame(), check_exact=True)
    assert calls == list(range(len(local.rows)))   # 0, then one per specification (the reference row is not one)


def test_refuters_identical_on_local_cluster(cluster_client):
    """One task per refuter; DoWhy's global-RNG draws stay seeded when two refuters share a process."""
    from gistcausal.stats.refutation import refute

    rng = np.random.default_rng(1)
    n = 200
    x1, x2 = rng.normal(size=n), rng.binomial(1, 0.4, n)
    a = rng.binomial(1, 1 / (1 + np.exp(-(0.5 * x1 - 0.3 * x2))))
    t, c = rng.exponential(10 * np.exp(-0.3 * a + 0.2 * x1)), rng.uniform(0, 30, n)
    df = pd.DataFrame({"treatment": a, "time": np.minimum(t, c), "event": (t <= c).astype(int), "x1": x1, "x2": x2})
    kw = dict(treatment_col="treatment", time_col="time", event_col="event", covariates=["x1", "x2"], horizon=12,
              num_simulations=5, random_state=3)
    serial = refute(df, **kw)
    dask = refute(df, engine=Executor(Engine(kind="dask"), client=cluster_client), **kw)
    pd.testing.assert_frame_equal(serial.table, dask.table, check_exact=True)
    assert serial.estimate == dask.estimate
    # the estimate, its identified estimand and the warnings come from the tasks (this process imports no DoWhy)
    assert serial.estimand == dask.estimand and "adjusting for" in dask.estimand
    assert serial.warnings == dask.warnings
    assert serial.to_dict() == dask.to_dict()


def _profiler_enabled() -> bool:
    import dask

    return bool(dask.config.get("distributed.worker.profile.enabled"))


def test_own_local_cluster_workers_run_without_the_sampling_profiler():
    """The executor's own LocalCluster starts its worker processes with Dask's statistical profiler off (a thread
    that samples every stack each 10 ms competes for the GIL with the replicates); the caller's config is left as
    it was."""
    with Executor(Engine(kind="dask", n_workers=1)) as ex:
        flags = ex.client().run(_profiler_enabled)
        assert list(flags.values()) == [False]
    assert _profiler_enabled()


def _negative_raises(shared: object, x: int) -> int:
    if x < 0:
        raise ValueError(f"negative: {x}")
    return x


def _pid_or_raise(x: int) -> int:
    import os

    if x < 0:
        raise ValueError(f"negative: {x}")
    return os.getpid()


def test_run_beside_runs_in_a_worker_process_and_raises_its_errors():
    import os

    from gistcausal.engine import Engine, run_beside

    assert run_beside(Engine(n_workers=2), _pid_or_raise, 1)() != os.getpid()  # another process
    assert run_beside(Engine(n_workers=1), _pid_or_raise, 1)() == os.getpid()  # serial: this process
    assert run_beside(Engine(kind="dask"), _pid_or_raise, 1)() == os.getpid()  # Dask: this process, no cluster
    for n in (1, 2):
        waiting = run_beside(Engine(n_workers=n), _pid_or_raise, -1)
        with pytest.raises(ValueError, match="negative: -1"):
            waiting()


def test_run_beside_each_runs_the_calls_in_workers_in_order_and_raises_their_errors():
    """run_beside_each (issue 17: the report's two halves of figures) returns the results in the order of the
    tasks, computed in worker processes with a local engine of two workers and here otherwise."""
    import os

    from gistcausal.engine import Engine, run_beside_each

    pids = run_beside_each(Engine(n_workers=2), _pid_or_raise, [(1,), (2,), (3,)])()
    assert len(pids) == 3 and os.getpid() not in pids
    assert run_beside_each(Engine(n_workers=2), abs, [(-1,), (2,), (-3,)])() == [1, 2, 3]
    assert run_beside_each(Engine(n_workers=1), _pid_or_raise, [(1,), (2,)])() == [os.getpid()] * 2
    assert run_beside_each(Engine(kind="dask"), _pid_or_raise, [(1,)])() == [os.getpid()]
    assert run_beside_each(Engine(n_workers=2), _pid_or_raise, [])() == []
    for n in (1, 2):
        waiting = run_beside_each(Engine(n_workers=n), _pid_or_raise, [(1,), (-1,)])
        with pytest.raises(ValueError, match="negative: -1"):
            waiting()


def test_one_blas_thread_limits_and_restores():
    """one_blas_thread() runs its block with one BLAS thread and restores the previous limit (issue 17)."""
    from threadpoolctl import threadpool_info

    from gistcausal.engine import one_blas_thread

    def blas():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas()
    with one_blas_thread():
        assert blas() and all(n == 1 for n in blas())
    assert blas() == before


def test_nested_thread_blocks_leave_the_limit_to_the_outer_one(monkeypatch):
    """A one_blas_thread / one_thread block inside another of the same process does not scan the libraries again
    (threadpoolctl, about 7 ms a block: the CCW bootstrap opened one per replicate inside the emulation's own,
    issue 17), an API the outer block did not limit is limited, and each limit is restored when its block ends.
    A forked child (another pid) counts from 0, so its blocks limit again."""
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime, so threadpoolctl lists it
    import threadpoolctl
    from threadpoolctl import threadpool_info

    from gistcausal import engine

    def threads(api):
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == api]

    calls = []
    real = threadpoolctl.threadpool_limits
    # two threads each to start from, whatever limits the tests before left in this process
    stack = contextlib.ExitStack()
    monkeypatch.setattr(engine, "_DEPTH", {"pid": -1, "generation": 0, "blas": 0, "openmp": 0})
    stack.enter_context(real(limits=2, user_api="blas"))
    stack.enter_context(real(limits=2, user_api="openmp"))
    controller = engine._controller

    class Spy:   # records each limit a block sets (user_api None: both)
        def limit(self, **kw):
            calls.append(kw["user_api"])
            return controller().limit(**kw)

    monkeypatch.setattr(engine, "_controller", Spy)
    before = {api: threads(api) for api in ("blas", "openmp")}
    assert before["openmp"] and max(before["openmp"]) > 1
    with engine.one_blas_thread():
        for _ in range(3):
            with engine.one_blas_thread():
                assert all(n == 1 for n in threads("blas"))
        with engine.one_thread():
            assert all(n == 1 for n in threads("blas") + threads("openmp"))
        assert threads("openmp") == before["openmp"]
        assert all(n == 1 for n in threads("blas"))
    assert calls == ["blas", "openmp"]
    assert {api: threads(api) for api in ("blas", "openmp")} == before
    with engine.one_blas_thread():
        monkeypatch.setitem(engine._DEPTH, "pid", -7)   # as in a child forked inside the block
        with engine.one_blas_thread():
            pass
    assert calls == ["blas", "openmp", "blas", "blas"]
    assert (engine._DEPTH["blas"], engine._DEPTH["openmp"]) == (0, 0)
    assert {api: threads(api) for api in ("blas", "openmp")} == before
    stack.close()


def test_thread_limits_reuse_one_library_scan_until_a_module_is_imported(monkeypatch):
    """The threadpoolctl controller (a scan of every loaded library, about 4 ms) is made once per process and reused
    by each block, and made again after an import (which may load a library) or in another process (issue 17)."""
    import threadpoolctl

    from gistcausal import engine

    made = []
    real = threadpoolctl.ThreadpoolController
    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", lambda: made.append(1) or real())
    monkeypatch.setattr(engine, "_CONTROLLER", [])
    monkeypatch.setattr(engine, "_DEPTH", {"pid": -1, "generation": 0, "blas": 0, "openmp": 0})
    for _ in range(5):
        with engine.one_blas_thread():
            pass
    assert len(made) == 1
    monkeypatch.setitem(sys.modules, "gistcausal_test_new_module", types.ModuleType("gistcausal_test_new_module"))
    with engine.one_blas_thread():
        pass
    assert len(made) == 2
    pid, n, ctl = engine._CONTROLLER[0]
    monkeypatch.setattr(engine, "_CONTROLLER", [(pid + 1, n, ctl)])   # as in a forked child
    with engine.one_blas_thread():
        pass
    assert len(made) == 3


def test_one_thread_limits_blas_and_openmp_and_restores():
    """one_thread() runs its block with one BLAS and one OpenMP thread, which a learner's own
    ``threadpool_limits(None)`` (propensity._cross_fit at 50,000+ rows) keeps, and restores both (issue 17)."""
    import sklearn.ensemble  # noqa: F401 - loads the OpenMP runtime, so threadpoolctl lists it
    from threadpoolctl import threadpool_info, threadpool_limits

    from gistcausal.engine import one_thread

    def threads(api):
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == api]

    before = {api: threads(api) for api in ("blas", "openmp")}
    assert before["openmp"]
    with one_thread():
        with threadpool_limits(limits=None, user_api="openmp"):
            for api in ("blas", "openmp"):
                assert threads(api) and all(n == 1 for n in threads(api))
    assert {api: threads(api) for api in ("blas", "openmp")} == before


def test_one_thread_reaches_an_openmp_runtime_first_loaded_inside_the_block():
    """In a fresh worker the boosting fit imports scikit-learn inside one_thread(); threadpoolctl limits only what
    is loaded when the block starts, so the OpenMP runtime then kept a thread per core (a 229,000-row boosting
    row: 10.7 s of CPU in 6.0 s wall). A fresh interpreter imports scikit-learn inside the block."""
    import json
    import subprocess
    import sys

    code = ("import json, sys\n"
            "assert 'sklearn' not in sys.modules\n"
            "from threadpoolctl import threadpool_info\n"
            "from gistcausal.engine import one_thread\n"
            "assert 'sklearn' not in sys.modules, 'the check needs scikit-learn first imported in the block'\n"
            "with one_thread():\n"
            "    import sklearn.ensemble\n"
            "    n = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'openmp']\n"
            "print(json.dumps(n))\n")
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "", "OPENBLAS_NUM_THREADS": ""}
    env = {k: v for k, v in env.items() if v != ""}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    threads = json.loads(out)
    assert threads and all(n == 1 for n in threads)


def _exit_in_a_worker(main_pid: int) -> str:
    import os

    if os.getpid() != main_pid:
        os._exit(3)  # the worker dies, as when the system kills it for memory
    return "drawn here"


def test_run_beside_falls_back_to_this_process_when_the_worker_dies():
    import os

    from gistcausal.engine import Engine, run_beside

    assert run_beside(Engine(n_workers=2), _exit_in_a_worker, os.getpid())() == "drawn here"
    assert run_beside(Engine(n_workers=2), _pid_or_raise, 1)() != os.getpid()  # the pool works again afterwards


class _Counted:
    """A shared object counting its pickles in this process (class attribute) and its unpickles per process."""

    pickled = 0

    def __init__(self, n: int) -> None:
        self.data = np.arange(n, dtype=float)

    def __getstate__(self) -> dict:
        type(self).pickled += 1
        return {"data": self.data}

    def __setstate__(self, state: dict) -> None:
        self.data = state["data"]
        _UNPICKLED.append(1)


_UNPICKLED: list = []


def _loads_here(shared: _Counted, item: int) -> tuple[int, int, float, int]:
    import os
    import time

    from gistcausal import engine

    time.sleep(0.05)
    return os.getpid(), len(_UNPICKLED), float(shared.data.sum()) + item, len(engine._LOADED)


def test_a_local_loop_sends_its_shared_object_to_each_worker_once_and_cleans_up():
    """issue 17: the shared object of a local loop is pickled once (not with each of its items: the plasmode task,
    64 MB at 1e6 patients, went with each chunk) and each worker unpickles it once; its temporary file is gone when
    the results are taken, and a worker forgets a finished loop's object when the next loop's item arrives."""
    import glob
    import tempfile

    from gistcausal import engine

    pattern = f"{tempfile.gettempdir()}/gistcausal-shared-*"
    before = set(glob.glob(pattern))
    _Counted.pickled = 0
    shared = _Counted(1000)
    with open_executor(Engine(n_workers=2)) as ex:
        out = ex.map_replicates(_loads_here, list(range(8)), shared=shared)
        assert [v for _, _, v, _ in out] == [499500.0 + i for i in range(8)]
        assert _Counted.pickled == 1
        loads: dict[int, int] = {}
        for pid, n, _, _ in out:
            loads[pid] = max(loads.get(pid, 0), n)
        assert all(n == 1 for n in loads.values()), loads      # one unpickle per worker process
        assert set(glob.glob(pattern)) == before and engine._RUNNING == {}
        second = _Counted(10)
        waiting = ex.begin_map(_loads_here, [0, 1, 2, 3], shared=second)
        later = waiting()
        assert [v for _, _, v, _ in later] == [45.0, 46.0, 47.0, 48.0]
        assert all(kept == 1 for _, _, _, kept in later)        # the first loop's object was forgotten
        assert set(glob.glob(pattern)) == before and engine._RUNNING == {}


def test_warm_up_ends_when_asked():
    """The pipeline ends the warm-up with its run (``stop_now=True``: no round starts after it, the one under way
    is waited for), so no warm-up thread outlives a run (one still importing beside the next run's main thread
    raced its compiles: CPython 3.11.7's 'AST constructor recursion depth mismatch' in a test)."""
    import threading

    with open_executor(Engine(n_workers=2)) as ex:
        wait = ex.warm_up(["json"])
        wait(stop_now=True)
        assert not any(t.name == "gistcausal-warm-up" and t.is_alive() for t in threading.enumerate())


_CHURN = """
import json, resource, sys
import numpy as np
sys.path.insert(0, {src!r})
from gistcausal import engine

def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20

def churn():
    # what a statistic does: several temporaries of a column's length (8 MB), all freed, again and again
    for _ in range(20):
        arrays = [np.ones(1 << 20) for _ in range(6)]
        del arrays
    return rss_mb()

before = rss_mb()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
inside = engine.worker_task(churn) if {tuned} else churn()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
print(json.dumps({{"faults": faults, "before": before, "inside": inside, "after": rss_mb(),
                   "heap": engine._HEAP[0] is not None if engine._HEAP else None}}))
"""


def _churn_in_fresh_process(tuned: bool) -> dict:
    import json
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run([sys.executable, "-c", _CHURN.format(src=src, tuned=tuned)], capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


#: The heap settings are glibc's (``mallopt``, ``malloc_trim``); elsewhere ``worker_task`` is a plain call.
_GLIBC_ONLY = pytest.mark.skipif(not _engine._is_glibc(), reason="the heap settings apply to glibc only")


@_GLIBC_ONLY
def test_worker_task_keeps_freed_memory_while_it_runs_and_gives_it_back_after():
    """issue 17: glibc gave the free top of the heap back after each burst of temporaries and the next burst
    faulted every page in again (the clone-censor-weight bootstrap at 1e6 patients: 3.6 million page faults, 7.5 s
    of system time); a worker task keeps the freed memory while it runs (a fraction of the faults) and returns it
    when it ends (the resident size drops back, so loky does not restart the worker)."""
    plain, task = _churn_in_fresh_process(False), _churn_in_fresh_process(True)
    assert task["heap"] is True and plain["heap"] is None
    assert plain["faults"] > 30_000                  # the 48 MB faulted in again, round after round
    assert task["faults"] < plain["faults"] / 5, (plain, task)
    assert task["inside"] > task["before"] + 40      # the 48 MB of temporaries kept while the task runs ...
    assert task["after"] < task["before"] + 20       # ... and given back when it ends


def _heap_is_set(shared: object = None, item: object = None) -> bool:
    from gistcausal import engine

    return bool(engine._HEAP) and engine._HEAP[0] is not None


@_GLIBC_ONLY
def test_local_worker_tasks_run_with_the_worker_heap_and_this_process_keeps_its_own():
    """Every local dispatch (a loop's items with and without a shared object, run_beside) goes through
    :func:`gistcausal.engine.worker_task`; the calling process's allocator is left as it was."""
    from gistcausal import engine
    from gistcausal.engine import run_beside

    assert run_beside(Engine(n_workers=2), _heap_is_set)() is True
    with open_executor(Engine(n_workers=2)) as ex:
        assert [v for v in ex.map_replicates(_heap_is_set, [0, 1, 2, 3], shared=None)] == [True] * 4
        assert [v for v in ex.map_replicates(_heap_is_set, [0, 1, 2, 3], shared=[1, 2])] == [True] * 4
    assert engine._HEAP == []
