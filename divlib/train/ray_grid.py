"""Run a grid of independent runs on a Ray cluster: one Ray task per run, results in job order.

The contract of :func:`divlib.train.grid.run_grid`, and its progress lines: each job carries its own
seed and runs with ``threads`` torch threads, so a run gives the same result here as on the local grid.
A task asks Ray for a GPU when the cluster has one (Ray sets CUDA_VISIBLE_DEVICES; the run uses
``cuda:0``), else for ``threads`` CPUs. The cluster: ``address``, else the RAY_ADDRESS environment
variable, else a new local Ray instance; a Ray connection this process already has is used as it is.
Ray is an optional extra (``pip install 'divlib[ray]'``), imported when a grid starts.
"""

import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType

import torch

from divlib.errors import DivlibError
from divlib.train.grid import Job, Result, collect_results, timed_run

log = logging.getLogger(__name__)


def ray_address(address: str | None = None) -> str | None:
    """The cluster a grid runs on: ``address``, else RAY_ADDRESS; None: a new local Ray instance."""
    return address or os.environ.get("RAY_ADDRESS") or None


REACH_SECONDS = 10.0  # how long a cluster's head may take to accept a connection


def check_reachable(address: str | None, *, timeout: float = REACH_SECONDS) -> None:
    """The head at ``address`` (``HOST:PORT``) accepts a TCP connection within ``timeout`` seconds;
    else a one-line DivlibError (``ray.init`` would retry without end). ``auto``, ``ray://…`` and
    None are left to Ray."""
    if not address or address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as error:
        reason = str(error) or type(error).__name__
        raise DivlibError(
            f"no Ray cluster answers at {address} ({reason}); start its head there "
            f"(ray start --head --port {port}) or give the address of a running one"
        ) from None


def run_grid_on_ray(
    function: Callable[[Job, torch.device], Result],
    jobs: Sequence[Job],
    *,
    address: str | None = None,
    gpus_per_run: float | None = None,
    threads: int = 1,
    describe: Callable[[Job, Result], str] = lambda job, _: str(job),
) -> list[Result]:
    """``[function(job, device) for job in jobs]``, one Ray task per job.

    ``gpus_per_run``: the GPUs a task asks for (0.5: two runs share one); None: 1 when the cluster
    has a GPU, else 0. ``function`` must be importable on every node (a module-level function of an
    installed package, or a partial of one) and the jobs picklable. Logs ``[3/66] DESCRIPTION, 12.3 s (ETA 4 min)`` as each task
    ends. The first error cancels the other tasks and is raised here as its own type. A Ray instance
    this call started is shut down at the end; one it connected to is only disconnected from.
    """
    ray = _import_ray()
    jobs = list(jobs)
    opens = not ray.is_initialized()  # else a connection this process has: used, left open
    if opens:
        _connect(ray, ray_address(address))
    try:
        return collect_results(_tasks(ray, function, jobs, gpus_per_run, threads), jobs, describe)
    finally:
        if opens:
            ray.shutdown()


def _import_ray() -> ModuleType:
    """The ray module, or a one-line DivlibError naming the extra that installs it."""
    try:
        import ray
    except ImportError:
        raise DivlibError("the ray backend needs Ray: pip install 'divlib[ray]'") from None
    return ray


def _connect(ray: ModuleType, address: str | None) -> None:
    """Connect to the cluster at ``address``, or start a local instance (no dashboard); the workers'
    output reaches this process's stderr; an address that does not answer fails at once
    (:func:`check_reachable`). Keeps this process's SIGTERM handler (ray.init sets its own)."""
    handler = signal.getsignal(signal.SIGTERM)
    check_reachable(address)
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(address="local", include_dashboard=False, log_to_driver=True)
    signal.signal(signal.SIGTERM, handler)


def _tasks(
    ray: ModuleType, function: Callable, jobs: list, gpus_per_run: float | None, threads: int
) -> Iterator[tuple[int, object, float]]:
    """(index, result, seconds) of each job as its task ends; an error or closing this cancels the
    tasks not yet done."""
    resources = ray.cluster_resources()
    gpus = min(1, resources.get("GPU", 0)) if gpus_per_run is None else gpus_per_run
    log.info(
        "Ray: %g CPUs, %g GPUs; each run asks for %d CPUs and %g GPUs",
        resources.get("CPU", 0),
        resources.get("GPU", 0),
        threads,
        gpus,
    )
    task = ray.remote(_run_task).options(num_cpus=threads, num_gpus=gpus)
    level = logging.getLogger().getEffectiveLevel()
    pending = {task.remote(function, job, threads, level): index for index, job in enumerate(jobs)}
    try:
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(done)
            try:
                result, seconds = ray.get(done)
            except ray.exceptions.RayTaskError as error:
                raise error.cause from error  # the task's own exception, its traceback chained
            yield index, result, seconds
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _run_task(function: Callable, job, threads: int, level: int) -> tuple[object, float]:
    """One job inside a Ray task, on the GPU Ray assigned it or the CPU; its log records (at the
    driver's ``level``) go to the worker's stderr, which Ray forwards to the driver."""
    import ray

    root = logging.getLogger()
    if not root.handlers:  # a worker process runs many tasks; one handler
        root.addHandler(logging.StreamHandler())
    root.setLevel(level)
    device = torch.device("cuda", 0) if ray.get_gpu_ids() else torch.device("cpu")
    return timed_run(function, job, device, threads)
