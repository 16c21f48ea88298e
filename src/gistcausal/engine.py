"""Where replicate loops run: local processes or a Dask cluster (the ``analysis.engine`` setting).

Every replicate loop of gistcausal (the whole-pipeline bootstrap, plasmode, the specification grid, the DoWhy
refuters, the clone-censor-weight bootstrap, the coverage study) hands its work to an :class:`Executor` as a
list of *items* (a chunk of replicate seeds, a specification, a refuter) and one *shared* object (the problem:
arrays, the config, the cohort frame) that is sent to each worker once. Each item carries its own seed, so the
numbers never depend on the engine, the number of workers or the order in which items finish; callers put the
results back in item order.

Engines
    ``Engine(kind="local", n_workers=None)``: joblib/loky worker processes, one per core (``n_workers=1``: in
    this process, no pickling). ``Engine(kind="dask", address="tcp://host:8786")``: an existing Dask
    scheduler (``distributed.Client(address)``); ``address=None`` starts a ``distributed.LocalCluster`` of
    ``n_workers`` single-threaded worker processes for the lifetime of the executor. The shared object is
    scattered to every worker once; items are submitted through a bounded window (twice the workers) and
    consumed as they complete, so memory holds a few results at a time.

A run of the pipeline forks its local workers from a server process that imported the modules its tasks need
(:meth:`Executor.warm_up`; Python's ``forkserver`` start method, the default from Python 3.14 on Linux), rather
than starting each as a new interpreter that imports them again.

This module is at the base layer (it imports no config, statistics or pipeline), so the statistics and the
analysis steps can both accept an ``engine=`` argument. joblib and distributed are imported when used.
"""
from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from gistcausal.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")

#: Engine kinds.
KINDS = ("local", "dask")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True, slots=True)
class Engine:
    """Where replicate loops run (see the module docstring).

    Parameters
    ----------
    kind : {"local", "dask"}, default="local"
    address : str, optional
        Dask scheduler address (``tcp://host:8786``); ``kind="dask"`` only. None: a local Dask cluster.
    n_workers : int, optional
        Worker processes (local processes, or the workers of the local Dask cluster); None: one per core.
        1 with ``kind="local"`` runs in this process. Not allowed with an ``address`` (the cluster decides).

    Raises
    ------
    ConfigError
        A value outside its allowed values, with the fix in the ``analysis.engine`` YAML syntax.
    """

    kind: Literal["local", "dask"] = "local"
    address: str | None = None
    n_workers: int | None = None

    def __post_init__(self) -> None:
        where = "analysis.engine"
        if self.kind not in KINDS:
            from gistcausal._checks import closest

            close = closest(self.kind, KINDS, cutoff=0.5)
            hint = f"Did you mean '{close}'? Use `kind: {close}`" if close else "Use `kind: local`"
            raise ConfigError(f"{where}: kind must be 'local' or 'dask' (got {self.kind!r}). {hint}.")
        if self.n_workers is not None and not (_is_int(self.n_workers) and self.n_workers >= 1):
            raise ConfigError(f"{where}: n_workers must be an integer >= 1 or null for one per core (got "
                              f"{self.n_workers!r}). Use `n_workers: 2`.")
        if self.address is not None:
            if self.kind != "dask":
                raise ConfigError(f"{where}: address applies to kind 'dask' only (got kind {self.kind!r} with "
                                  f"address {self.address!r}). Set `kind: dask`, or remove `address:`.")
            if not isinstance(self.address, str) or not self.address.strip():
                raise ConfigError(f"{where}: address must be a scheduler address (got {self.address!r}). Use "
                                  "`address: tcp://scheduler-host:8786`.")
            if self.n_workers is not None:
                raise ConfigError(f"{where}: n_workers applies to a local cluster; a scheduler at an address has "
                                  f"its own workers (got n_workers {self.n_workers} with address "
                                  f"{self.address!r}). Remove `n_workers:`.")

    @property
    def workers(self) -> int:
        """Local worker processes this engine starts (the cluster's count is known only once connected)."""
        return self.n_workers if self.n_workers is not None else (os.cpu_count() or 1)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "address": self.address, "n_workers": self.n_workers}

    def summary(self) -> str:
        if self.kind == "local":
            return "in this process" if self.workers == 1 else f"{self.workers} local processes"
        return f"Dask scheduler {self.address}" if self.address else f"local Dask cluster, {self.workers} workers"


class Executor:
    """Runs items of a replicate loop on an :class:`Engine`; a context manager owning the Dask client.

    The Dask client (and a local cluster when ``address`` is None) is started at the first :meth:`imap_unordered` and
    closed by :meth:`close`, so a run that opens one executor pays the cluster start-up once and a run that
    never maps anything pays nothing. An existing ``distributed.Client`` can be passed as ``client``; it is
    used and not closed.
    """

    def __init__(self, engine: Engine | None = None, *, client: Any = None) -> None:
        self.engine = engine or Engine()
        self._client = client
        self._own_client = False

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._own_client and self._client is not None:
            cluster = getattr(self._client, "cluster", None)
            self._client.close()
            if cluster is not None:
                cluster.close()
        if self._own_client:
            self._client, self._own_client = None, False

    @property
    def serial(self) -> bool:
        """True when items run one after the other in this process."""
        return self.engine.kind == "local" and self.engine.workers == 1 and self._client is None

    @property
    def local_pool(self) -> bool:
        """True when items run on this machine's worker processes (a local engine with two or more workers), the
        processes :func:`run_beside` starts work in."""
        return self.engine.kind == "local" and self.engine.workers >= 2 and self._client is None

    def n_workers(self) -> int:
        """Workers items are spread over (connects to Dask to count a cluster's workers)."""
        if self.engine.kind == "dask" or self._client is not None:
            return max(1, len(self.client().scheduler_info().get("workers", {})))
        return self.engine.workers

    def client(self) -> Any:
        """The Dask client (started on first use; ``kind="dask"`` or a client given)."""
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.engine.address is not None:
                self._client = Client(self.engine.address)
            else:
                import dask

                # single-threaded worker processes: replicates hold the GIL in numpy/pandas code, so the
                # workers' statistical profiler (a thread sampling every stack each 10 ms) is switched off
                with dask.config.set({"distributed.worker.profile.enabled": False}):
                    cluster = LocalCluster(n_workers=self.engine.workers, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
                self._client = Client(cluster)
            self._own_client = True
        return self._client

    def imap_unordered(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
                       first: Sequence[int] | None = None) -> Iterator[tuple[int, R]]:
        """``(i, fn(shared, items[i]))`` for every item, in the order they finish.

        ``fn`` must be a module-level function (it is pickled to the workers); ``shared`` is sent once per
        worker. Exceptions raised by ``fn`` propagate to the caller (count expected failures inside ``fn``).
        ``first`` (indices of ``items``) are handed out before the others, in that order: a loop whose items differ
        much in cost puts its longest first, so that it does not start last and run alone (longest processing time
        first). Where an item runs never changes its result.
        """
        items = list(items)
        if not items:
            return iter(())
        order = _dispatch_order(len(items), first)
        if self.engine.kind == "dask" or self._client is not None:
            return self._imap_dask(fn, items, shared, order)
        if self.engine.workers == 1 or len(items) == 1:
            return ((i, fn(shared, items[i])) for i in order)
        return self._imap_local(fn, items, shared, order)

    def map_replicates(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
            progress: Callable[[int, int], None] | None = None,
            size: Callable[[T], int] | None = None, first: Sequence[int] | None = None) -> list[R]:
        """``[fn(shared, item) for item in items]`` on the engine, in item order.

        ``progress(done, total)`` is called with 0 first and after each finished item, counting ``size(item)``
        units per item (replicates in a chunk; default 1). ``first``: as in :meth:`imap_unordered`.
        """
        items = list(items)
        sizes = [size(it) if size is not None else 1 for it in items]
        total = sum(sizes)
        report = progress or (lambda _d, _t: None)
        report(0, total)
        out: list[Any] = [None] * len(items)
        done = 0
        for i, r in self.imap_unordered(fn, items, shared=shared, first=first):
            out[i] = r
            done += sizes[i]
            report(done, total)
        return out

    def begin_map(self, fn: Callable[[Any, T], R], items: Iterable[T], *, shared: Any = None,
                  first: Sequence[int] | None = None) -> Callable[[], list[R]]:
        """:meth:`map_replicates` started now: returns a function that waits for and returns the results in item
        order.

        On a local pool (:attr:`local_pool`) the items are handed to the worker processes at once, so a loop the
        caller starts meanwhile shares the workers with them and each worker takes the next item of either loop
        when it is free (the specification grid, whose boosting row is one long item, beside the DoWhy
        refuters). Serial and Dask executors run the items when the results are asked for. The returned function
        must be called (it also takes the results off the pool); an exception raised by ``fn`` is raised by it.
        """
        items = list(items)
        if not self.local_pool or len(items) < 2:
            return lambda: self.map_replicates(fn, items, shared=shared, first=first)
        order = _dispatch_order(len(items), first)
        pending = self._parallel_local(fn, items, shared, order)

        def wait() -> list[R]:
            out: list[Any] = [None] * len(items)
            for i, r in pending:
                out[i] = r
            return out

        return wait

    def warm_up(self, modules: Sequence[str]) -> Callable[..., None]:
        """Start the local worker processes now and import ``modules`` in each; returns a function that waits until
        they are ready, or with ``stop_now=True`` ends the warm-up (no new round starts) and waits for the round under
        way. The pipeline calls ``stop_now=True`` at the end of a run, so no warm-up outlives the run that started it.

        A worker imports what its first task needs when that task arrives (gistcausal, scikit-learn and DoWhy: about
        2 s of CPU each), at a moment when both cores are busy. The pipeline warms the workers up while this process
        generates or reads the records, which one core does alone. The workers import one at a time (rounds of
        1, 2, ... tasks: in round k the k - 1 warm workers return at once and one more imports), so the warm-up
        takes the idle core only instead of slowing this process down (two workers importing at once beside the
        records' generation made it 2 s slower at 1e6 patients). A warm worker holds its task 50 ms, so that each of
        a round's tasks goes to another worker; a round that still reached fewer workers (a process not started yet)
        is repeated, up to five times. The imports run in a background thread's joblib calls, consumed there, so the
        caller never holds an unconsumed joblib generator (one collected unconsumed makes joblib kill the pool's
        workers, with any other loop's tasks); nothing is ever imported in this process by the warm-up (when the
        pool fails, the warm-up stops). A module that cannot be imported is skipped (the task that needs it reports
        the error). Serial and Dask executors: nothing to do.

        Where the platform allows, the workers are forked from a server process that imported ``modules`` once
        (:func:`_fork_workers_from_server`, started here; loky's start method is restored at ``stop_now=True``): the
        rounds then find the modules imported, and every worker the pool starts later (joblib replaces its pool
        when a loop asks for other thread limits) starts with them too.
        """
        if not self.local_pool or not modules:
            return lambda stop_now=False: None
        names = tuple(modules)
        workers = self.engine.workers
        restore = _fork_workers_from_server(names, workers)
        stop = threading.Event()

        def warm() -> None:
            from joblib import delayed

            try:
                for k in range(1, workers + 1):
                    for _ in range(5):
                        if stop.is_set():
                            return
                        pids = list(joblib_parallel(workers, backend="loky", return_as="generator")(
                            delayed(_import_modules)(names, 0.05) for _ in range(k)))
                        if len(set(pids)) >= k:
                            break
            except Exception:  # noqa: BLE001 - best effort: the tasks import what they need anyway
                pass

        thread = threading.Thread(target=warm, name="gistcausal-warm-up", daemon=True)
        thread.start()

        def wait(stop_now: bool = False) -> None:
            if stop_now:
                stop.set()
            thread.join()
            if stop_now:
                restore()

        return wait

    def _parallel_local(self, fn: Callable, items: list, shared: Any, order: list[int]) -> Iterator[tuple[int, Any]]:
        """joblib's generator over the items, its first tasks already dispatched (joblib starts on the call).

        ``shared`` goes to each worker once (:class:`_SharedFile`) rather than with every item: a plasmode task
        (64 MB at 229,000 patients) went with each of its 8 chunks and the grid's cohort (27 MB) with each of its 12
        rows, about 1 GB pickled, sent and unpickled per run of 1e6 patients (issue 17)."""
        from joblib import delayed

        jobs = min(self.engine.workers, len(items))
        par = joblib_parallel(jobs, backend="loky", return_as="generator_unordered", pre_dispatch="2*n_jobs")
        ref = _SharedFile.write(shared) if shared is not None else None
        if ref is None:
            return par(delayed(_indexed_local)(fn, shared, i, items[i]) for i in order)
        try:
            results = par(delayed(_indexed_shared)(fn, ref.with_active(), i, items[i]) for i in order)
        except BaseException:
            ref.remove()
            raise
        return _removing(results, ref)

    def _imap_local(self, fn: Callable, items: list, shared: Any, order: list[int]) -> Iterator[tuple[int, Any]]:
        yield from self._parallel_local(fn, items, shared, order)

    def _imap_dask(self, fn: Callable, items: list, shared: Any, order: list[int]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        client = self.client()
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        # a fresh key for each loop (hash=False): with the default content hash a loop shipping the same data as
        # the loop before reused its key while the scheduler was still forgetting it, and the tasks were cancelled
        # for "lost dependencies" (the engine benchmark's repeated runs)
        remote = client.scatter(shared, broadcast=True, hash=False) if shared is not None else None
        pending = iter([(i, items[i]) for i in order])

        def submit(pair: tuple[int, Any]) -> Any:
            return client.submit(_indexed, fn, remote, pair[0], pair[1], pure=False)

        window = [submit(p) for p in _take(pending, 2 * workers)]
        seq = as_completed(window)
        for fut in seq:
            res = fut.result()
            fut.release()
            yield res
            for p in _take(pending, 1):
                seq.add(submit(p))


def joblib_parallel(n_jobs: int | None, **options: Any) -> Any:
    """``joblib.Parallel(n_jobs, **options)`` with arrays pickled to the workers rather than memory-mapped through
    temporary files (``max_nbytes=None``), for every local loop of gistcausal.

    At the end of each call joblib deletes its temporary folder, and while a worker still maps a file (or another
    loop, :meth:`Executor.begin_map` or a :func:`run_beside` task, is running) it retries up to ten times 0.1 s in
    the calling process: 1.4 s of sleeping in a run of 1e6 patients, more than the pickling costs (issue 17)."""
    from joblib import Parallel

    return Parallel(n_jobs=n_jobs, max_nbytes=None, **options)


def _fork_workers_from_server(modules: tuple[str, ...], workers: int) -> Callable[[], None]:
    """Have the local worker processes forked from a server process that imported ``modules`` once; returns the
    function that restores the previous setting (the pipeline calls it at the end of the run).

    loky, joblib's process pool, starts each worker as a new interpreter that imports what its tasks need: about
    3 s of CPU per worker for gistcausal, pandas, scikit-learn and DoWhy, paid again by every worker the pool
    starts (issue 17). Python's ``forkserver`` start method imports ``modules`` once, in a server process started
    here, and forks each worker from it, so a worker starts with them imported (copy-on-write pages shared with the
    server). The server is started now, while this process reads the records, and imports on the core this
    process leaves idle. A forked worker does not import this process's main script (loky's workers never do;
    see :mod:`gistcausal._forkserver_main`), so a script without a ``__main__`` guard still runs once. The server
    is multiprocessing's own: it lives as long as this process (idle between runs, its pages shared with the
    workers) and serves this process's later runs too.

    The BLAS and OpenMP thread counts joblib gives its workers (one thread each when every core runs a worker;
    a variable already set is kept) are set in the server's environment, which the forked workers inherit (loky
    passes its ``env`` to loky-started workers only). Nothing is changed where the platform has no ``forkserver``
    (Windows), where loky's start method was set by the caller, or where a loky pool already runs (it is reused,
    with its own start method). Which process a task runs in never changes its result.
    """
    import multiprocessing as mp

    from joblib.externals.loky import reusable_executor
    from joblib.externals.loky.backend import context as loky_context

    if ("forkserver" not in mp.get_all_start_methods() or loky_context.get_start_method() is not None
            or getattr(reusable_executor, "_executor", None) is not None):
        return lambda: None
    from multiprocessing import forkserver

    try:   # the variables and values joblib would give loky-started workers (joblib's private helper)
        from joblib._parallel_backends import LokyBackend

        env = {str(k): str(v) for k, v in LokyBackend()._prepare_worker_env(n_jobs=max(workers, 1)).items()}
    except Exception:  # noqa: BLE001 - another joblib: loky starts its workers as before
        return lambda: None
    try:   # the parent's main script, as a new worker would import it (see gistcausal._forkserver_main)
        from multiprocessing import spawn

        main_path = spawn.get_preparation_data("gistcausal").get("init_main_from_path")
    except Exception:  # noqa: BLE001 - e.g. called while this process itself starts: no server
        return lambda: None
    if main_path:
        env["GISTCAUSAL_PARENT_MAIN"] = str(main_path)
    mp.get_context("forkserver").set_forkserver_preload(["gistcausal._forkserver_main", *modules])
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        forkserver.ensure_running()   # a no-op where this process's server already runs (its modules stay)
    except Exception:  # noqa: BLE001 - no server: loky starts its workers as before
        return lambda: None
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    loky_context.set_start_method("forkserver", force=True)
    return lambda: loky_context.set_start_method(None, force=True)


def _import_modules(names: tuple[str, ...], hold: float = 0.0) -> int:
    """Import ``names`` in this (worker) process, then keep the worker ``hold`` seconds; the process id (see
    :meth:`Executor.warm_up`)."""
    import importlib
    import time

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if hold > 0:
        time.sleep(hold)
    return os.getpid()


def _dispatch_order(n: int, first: Sequence[int] | None) -> list[int]:
    """Indices ``0..n-1`` with ``first`` (validated: distinct indices below ``n``) at the front."""
    head = [int(i) for i in (first or ())]
    if len(set(head)) != len(head) or any(not 0 <= i < n for i in head):
        raise ValueError(f"first: distinct item indices in [0, {n}) expected (got {list(first or ())})")
    chosen = set(head)
    return head + [i for i in range(n) if i not in chosen]


def _indexed(fn: Callable, shared: Any, i: int, item: Any) -> tuple[int, Any]:
    return i, fn(shared, item)


def _indexed_local(fn: Callable, shared: Any, i: int, item: Any) -> tuple[int, Any]:
    return i, worker_task(fn, shared, item)


def _indexed_shared(fn: Callable, ref: "_SharedFile", i: int, item: Any) -> tuple[int, Any]:
    return i, worker_task(lambda: fn(ref.load(), item))


#: glibc's ``mallopt(3)`` parameters (``<malloc.h>``) and the values a local worker runs with (:func:`worker_task`).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_TRIM_THRESHOLD = 1 << 30
_MMAP_THRESHOLD = 32 << 20      # glibc's largest on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX)
#: This process's C library once its heap is set for worker tasks; None where it is not glibc or the setting failed.
_HEAP: list[Any] = []


def _is_glibc() -> bool:
    """Whether this process runs on GNU libc, the C library whose heap :func:`worker_task` sets."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, OSError, ValueError):   # no os.confstr / the name unknown here / no value (None)
        return False


def _worker_heap() -> Any:
    """glibc, its heap set to keep freed memory for reuse (first call in this process); None elsewhere."""
    if not _HEAP:
        libc = None
        if _is_glibc():
            import ctypes

            try:
                libc = ctypes.CDLL("libc.so.6")
                if not (libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
                        and libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)):
                    libc = None
            except (AttributeError, OSError):   # no libc.so.6 / no mallopt
                libc = None
        _HEAP.append(libc)
    return _HEAP[0]


def worker_task(fn: Callable[..., R], *args: Any) -> R:
    """``fn(*args)`` as a task of a local worker process: freed memory is kept for reuse while it runs and given
    back to the system when it ends.

    The statistics allocate and free arrays of a column's length all the time (a temporary per operation). By
    default glibc maps a block above its mmap threshold (128 kB, raised as larger blocks are freed, up to 32 MB)
    afresh each time and returns the free top of its heap to the system beyond twice that, so the next burst of
    temporaries has its pages mapped and zeroed again by the kernel, one page fault per 4 kB. The clone-censor-weight
    bootstrap of a registry of 1e6 patients (one long task) took 3.6 million page faults: 7.5 s of system time
    beside 16 s of computation. With the thresholds raised for the worker process (``mallopt``: blocks up to
    32 MB come from the heap, which is trimmed only beyond 1 GB) it took 49,000 faults and 0.4 s (issue 17).
    ``malloc_trim(0)`` after each task returns what the task freed, so a worker's resident size between tasks is
    what it was (loky restarts a worker that grows by more than 300 MB) and an idle worker holds no more than
    before. Only local workers are set (the loky processes gistcausal's loops start); Dask workers and the calling
    process keep their allocator's defaults. The setting stays with a worker process for its life: a joblib call of
    the caller's own that reuses the pool runs with it (without the trim after each of its tasks), and loky restarts
    such a worker if it then grows by 300 MB. Elsewhere than glibc (musl, macOS, Windows) this is a plain call.
    """
    libc = _worker_heap()
    try:
        return fn(*args)
    finally:
        if libc is not None:
            libc.malloc_trim(0)


#: Shared objects this (worker) process has loaded, by token (:meth:`_SharedFile.load`).
_LOADED: dict[str, Any] = {}
#: The loops of this (calling) process whose items are still running: token -> file (:class:`_SharedFile`).
_RUNNING: dict[str, str] = {}
_RUNNING_LOCK = threading.Lock()


@atexit.register
def _remove_running() -> None:
    """The files of loops still running when this process exits (an abandoned generator never closed)."""
    with _RUNNING_LOCK:
        paths = list(_RUNNING.values())
    for path in paths:
        _unlink(path)


@dataclass(frozen=True, slots=True)
class _SharedFile:
    """A local loop's shared object, pickled once by the calling process into a private temporary file (created
    by ``tempfile.mkstemp``: readable by this user only) and loaded once by each worker process, which keeps it by
    ``token`` for the loop's other items.

    The file is removed when the loop's results have all been taken (or the loop is abandoned), and at the latest
    when this process exits; a process killed outright (SIGKILL, power loss) leaves it in the temporary folder,
    readable by this user only, as joblib's memory-mapped files did. It holds the loop's data (for plasmode and the
    grid: cohort rows), so a site whose temporary folder is shared or kept should point ``TMPDIR`` at a private
    one. A worker keeps the objects of the loops still running when the item was handed out (``active``) and
    forgets the others, so an idle pool does not hold a finished loop's data beyond its next item."""

    token: str
    path: str
    active: tuple[str, ...] = ()

    @classmethod
    def write(cls, shared: Any) -> "_SharedFile | None":
        """``shared`` pickled into a new temporary file; None (send it with each item, as before) if it cannot
        be written, e.g. a full disk."""
        import pickle
        import tempfile
        import uuid

        try:
            import cloudpickle as pickler     # what loky sends items with (functions by value where needed)
        except ImportError:                   # pragma: no cover - loky falls back to pickle alike
            pickler = pickle

        path = None
        try:
            fd, path = tempfile.mkstemp(prefix="gistcausal-shared-", suffix=".pkl")
            with os.fdopen(fd, "wb") as fh:
                pickler.dump(shared, fh, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as err:
            if path is not None:
                _unlink(path)
            if isinstance(err, OSError):
                return None
            raise                             # not picklable: raised as when joblib sent it
        ref = cls(uuid.uuid4().hex, path)
        with _RUNNING_LOCK:
            _RUNNING[ref.token] = path
        return ref

    def with_active(self) -> "_SharedFile":
        """This reference with the tokens of the loops running now (read when the item is handed out)."""
        with _RUNNING_LOCK:
            active = tuple(_RUNNING)
        return _SharedFile(self.token, self.path, active)

    def load(self) -> Any:
        """The shared object in a worker: loaded from the file the first time, then kept."""
        for token in [t for t in _LOADED if t != self.token and t not in self.active]:
            del _LOADED[token]
        obj = _LOADED.get(self.token, _MISSING)
        if obj is _MISSING:
            import pickle

            with open(self.path, "rb") as fh:
                obj = pickle.load(fh)
            _LOADED[self.token] = obj
        return obj

    def remove(self) -> None:
        with _RUNNING_LOCK:
            _RUNNING.pop(self.token, None)
        _unlink(self.path)


_MISSING = object()


def _removing(results: Iterator[Any], ref: _SharedFile) -> Iterator[Any]:
    """``results`` (joblib's generator, already started), removing ``ref``'s file once they are all taken or
    the generator is closed."""
    try:
        yield from results
    finally:
        ref.remove()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _take(it: Iterator[Any], n: int) -> list[Any]:
    out = []
    for _ in range(n):
        try:
            out.append(next(it))
        except StopIteration:
            break
    return out


class _Borrowed:
    """An executor passed in by the caller: used, not closed."""

    def __init__(self, ex: Executor) -> None:
        self.ex = ex

    def __enter__(self) -> Executor:
        return self.ex

    def __exit__(self, *exc: Any) -> None:
        return None


def open_executor(engine: Engine | Executor | None) -> Any:
    """Context manager yielding an :class:`Executor`: the one given, or a new one for ``engine`` closed on
    exit (None: in this process, the default of library functions). Functions with an ``engine=`` argument use it, so a caller that runs several loops
    opens one executor (one Dask cluster) and passes it down."""
    if isinstance(engine, Executor):
        return _Borrowed(engine)
    if engine is not None and not isinstance(engine, Engine):
        raise ConfigError(f"engine: must be an Engine or an Executor (got {type(engine).__name__}). Pass "
                          "Engine(kind='local') or Engine(kind='dask', address='tcp://host:8786').")
    return Executor(Engine(n_workers=1) if engine is None else engine)


def run_beside(engine: Engine, fn: Callable[..., R], *args: Any) -> Callable[[], R]:
    """Start ``fn(*args)`` in a local worker process now; return a function that waits for and returns its result.

    The caller goes on with other work meanwhile (writing a report: the figures are drawn in a worker while this
    process writes the tables). The worker is one of the same joblib/loky processes the replicate loops use, so
    after a run it is already started. With a serial engine (one worker) or a Dask engine (whose workers may not
    see this machine's files), ``fn`` runs in this process when the result is asked for. An exception raised by
    ``fn`` is raised by the returned function, in either case. When the worker itself fails (it could not be
    started, was killed, e.g. out of memory, or the arguments could not be sent), ``fn`` runs in this process
    instead, so the work is never lost to the machinery.
    """
    wait = run_beside_each(engine, fn, [args])
    return lambda: wait()[0]


def run_beside_each(engine: Engine, fn: Callable[..., R], tasks: Sequence[tuple[Any, ...]]) -> Callable[[], list[R]]:
    """:func:`run_beside` for several calls at once: start ``fn(*args)`` for each ``args`` of ``tasks`` in the local
    worker processes now; return a function that waits for them and returns their results in the order of ``tasks``.

    One joblib call holds all the tasks, so they share the pool's workers (with two workers, two tasks run side by
    side while the caller goes on). Serial and Dask engines, errors and a failing worker behave as in
    :func:`run_beside`: the calls are then made in this process when the results are asked for.
    """
    tasks = [tuple(args) for args in tasks]

    def here() -> list[R]:
        return [fn(*args) for args in tasks]

    if engine.kind != "local" or engine.workers < 2 or not tasks:
        return here
    import pickle
    from concurrent.futures.process import BrokenProcessPool

    from joblib import delayed

    try:
        results = joblib_parallel(engine.workers, backend="loky",
                                  return_as="generator")([delayed(worker_task)(fn, *args) for args in tasks])
    except (BrokenProcessPool, pickle.PicklingError, OSError):
        return here

    def wait() -> list[R]:
        try:
            return list(results)
        except (BrokenProcessPool, pickle.PicklingError):
            return here()

    return wait


#: This process's depth inside :func:`one_blas_thread` / :func:`one_thread` blocks, per threadpoolctl API (and the
#: process it counts for: a forked child starts at 0). A nested block leaves the limit to the outer one:
#: threadpoolctl scans the loaded libraries at each block, about 7 ms, and the clone-censor-weight bootstrap opened
#: a block per replicate inside the emulation's own (0.7 s of CPU at 1e6 patients, issue 17).
#: ``generation`` counts the restarts from 0, so a block entered before one does not count down after it.
_DEPTH: dict[str, int] = {"pid": -1, "generation": 0, "blas": 0, "openmp": 0}
_DEPTH_LOCK = threading.Lock()


#: This process's threadpoolctl controller and what it was made for: (pid, number of imported modules, controller).
_CONTROLLER: list[tuple[int, int, Any]] = []


def _controller() -> Any:
    """A ``threadpoolctl.ThreadpoolController`` of the thread-pool libraries loaded in this process.

    Making one scans every loaded shared library (about 4 ms), which ``threadpool_limits`` did at each block: at
    each replicate of the clone-censor-weight bootstrap (0.8 s of CPU at 1e6 patients, issue 17). It is made again
    when this is another process (a forked worker) or a module was imported since (a library such as scikit-learn's
    OpenMP runtime is loaded by the import of a compiled module), so a library loaded later is still limited."""
    from threadpoolctl import ThreadpoolController

    key = (os.getpid(), len(sys.modules))
    if not _CONTROLLER or _CONTROLLER[0][:2] != key:
        _CONTROLLER[:] = [(key[0], key[1], ThreadpoolController())]
    return _CONTROLLER[0][2]


@contextmanager
def _one_thread_of(*apis: str) -> Iterator[None]:
    """One thread for each threadpoolctl user API in ``apis`` not already limited by an enclosing block."""
    with _DEPTH_LOCK:
        if _DEPTH["pid"] != os.getpid():
            _DEPTH.update(pid=os.getpid(), generation=_DEPTH["generation"] + 1, blas=0, openmp=0)
        generation = _DEPTH["generation"]
        todo = [api for api in apis if _DEPTH[api] == 0]
        for api in apis:
            _DEPTH[api] += 1
    try:
        if not todo:
            yield
        else:
            with _controller().limit(limits=1, user_api=todo[0] if len(todo) == 1 else None):
                yield
    finally:
        with _DEPTH_LOCK:
            if _DEPTH["generation"] == generation and _DEPTH["pid"] == os.getpid():
                for api in apis:
                    _DEPTH[api] -= 1


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread (threadpoolctl), restoring the previous limit on exit.

    The tasks of a replicate loop (a specification, a refuter, a bootstrap chunk, the clone-censor-weight fits)
    multiply tall, narrow matrices (n x p with p about a dozen), where a second BLAS thread saves nothing and,
    on a shared machine or beside other workers, spins: a logistic Newton fit of 46,000 rows took 35 ms of CPU
    with two OpenBLAS threads and 12 ms with one, a CCW replicate at 425,000 clones 917 vs 553 ms (issue 17).
    Results do not depend on the thread count beyond summation order (about 1e-15). Inside another such block
    of this process the limit is already set, and left to that block."""
    with _one_thread_of("blas"):
        yield


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block with one BLAS and one OpenMP thread (threadpoolctl), restoring the previous limits on exit.

    :func:`one_blas_thread` for tasks that also fit OpenMP learners (scikit-learn's histogram gradient
    boosting in the specification grid's boosting propensity model): a task of a replicate loop runs beside
    the loop's other workers, where a second OpenMP thread competes for the same cores and spins at every tree.
    The 15 calibrated boosting fits of the grid at 229,000 rows took 84 s of CPU with two OpenMP threads on a
    loaded 2-core machine, 15 s with one (issue 17). The fitted models do not depend on the thread count.

    threadpoolctl limits only the libraries loaded when the block starts, and scikit-learn loads its OpenMP runtime
    when its first compiled module is imported, which in a fresh worker is inside the block (the boosting fit
    imports ``sklearn.ensemble``): that runtime then kept one thread per core. So the runtime is loaded first."""
    try:   # a private module of scikit-learn: if a release moves it, the limit is what it was before
        import sklearn.utils._openmp_helpers  # noqa: F401 - loads the OpenMP runtime so the limit reaches it
    except ImportError:
        pass
    with _one_thread_of("blas", "openmp"):
        yield


def engine_from_jobs(n_jobs: int | None) -> Engine:
    """The local engine of a joblib-style ``n_jobs`` (-1: all cores; -2: all but one; k: k; None: 1, as joblib)."""
    if n_jobs is None:
        return Engine(n_workers=1)
    if n_jobs == -1:
        return Engine()
    if not _is_int(n_jobs) or n_jobs == 0:
        raise ConfigError(f"n_jobs: must be a non-zero integer (got {n_jobs!r}). Pass -1 for all cores.")
    cpus = os.cpu_count() or 1
    return Engine(n_workers=n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs))


__all__ = ["Engine", "Executor", "open_executor", "run_beside", "run_beside_each", "engine_from_jobs",
           "joblib_parallel", "one_blas_thread", "one_thread", "worker_task", "KINDS"]
