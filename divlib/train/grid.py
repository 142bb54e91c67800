"""Spread independent runs over devices: one worker process per device, results in job order.

Each job must carry its own seed (runs never share random state), so the grid gives the same results as
running the jobs one after another; every job runs with the same number of CPU threads (``threads``) in
either case, because a CPU reduction's order, and so its rounding, depends on the thread count.
"""

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

import torch

Job = TypeVar("Job")
Result = TypeVar("Result")

_worker_device: torch.device | None = None


def visible_devices(cpu_workers: int = 1) -> list[torch.device]:
    """Every visible CUDA device, or ``cpu_workers`` CPU slots when there is none."""
    if torch.cuda.is_available():
        return [torch.device("cuda", index) for index in range(torch.cuda.device_count())]
    return [torch.device("cpu")] * cpu_workers


def placement(devices: str | list[str], cpu_workers: int = 1) -> list[torch.device]:
    """``"auto"``: :func:`visible_devices`; otherwise the devices named (``["cuda:0", "cuda:1"]``)."""
    if devices == "auto":
        return visible_devices(cpu_workers)
    return [torch.device(device) for device in devices]


def resolve_device(requested: str) -> torch.device:
    """``"auto"``: the first CUDA device if there is one, else the CPU; otherwise the named device."""
    if requested == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(requested)
    logging.getLogger(__name__).info("device: %s", device)
    return device


def run_grid(
    function: Callable[[Job, torch.device], Result],
    jobs: Sequence[Job],
    devices: Sequence[torch.device],
    *,
    threads: int = 1,
) -> list[Result]:
    """``[function(job, device) for job in jobs]``, with the jobs spread over ``devices``.

    One device runs the jobs in this process; several start one spawned worker per device, each taking
    the next job when it is free. ``function`` and the jobs must be picklable (a module-level function).
    """
    if len(devices) <= 1:
        device = devices[0] if devices else torch.device("cpu")
        return [_with_threads(function, job, device, threads) for job in jobs]
    context = multiprocessing.get_context("spawn")
    slots = context.Manager().Queue()
    for device in devices:
        slots.put(str(device))
    with ProcessPoolExecutor(
        len(devices), mp_context=context, initializer=_claim, initargs=(slots,)
    ) as pool:
        return list(pool.map(_run_on_worker_device, [(function, job, threads) for job in jobs]))


def _claim(slots) -> None:
    """Worker start-up: take one device for the life of the worker."""
    global _worker_device
    _worker_device = torch.device(slots.get())
    if _worker_device.type == "cuda":
        torch.cuda.set_device(_worker_device)


def _run_on_worker_device(task):
    function, job, threads = task
    return _with_threads(function, job, _worker_device, threads)


def _with_threads(function, job, device, threads: int):
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return function(job, device)
    finally:
        torch.set_num_threads(previous)
