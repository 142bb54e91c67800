"""Spread independent runs over devices: one worker process per device, results in job order.

Each job must carry its own seed (runs never share random state), so the grid gives the same results as
running the jobs one after another; every job runs with the same number of CPU threads (``threads``) in
either case, because a CPU reduction's order, and so its rounding, depends on the thread count.

Each worker talks to the parent over its own pipe: the parent hands it the next job when it is free,
and it sends back results, errors and its log records, which the parent logs as its own. A worker that
dies is noticed at once; an error or an interruption in the parent stops every worker.
:mod:`divlib.train.ray_grid` runs the same grid on a Ray cluster, with the same progress lines.
"""

import logging
import multiprocessing
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from logging.handlers import QueueHandler
from multiprocessing.connection import Connection, wait
from typing import TypeVar

import torch

from divlib.errors import DivlibError
from divlib.train.common import duration

Job = TypeVar("Job")
Result = TypeVar("Result")

log = logging.getLogger(__name__)


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


def run_grid(
    function: Callable[[Job, torch.device], Result],
    jobs: Sequence[Job],
    devices: Sequence[torch.device],
    *,
    threads: int = 1,
    describe: Callable[[Job, Result], str] = lambda job, _: str(job),
) -> list[Result]:
    """``[function(job, device) for job in jobs]``, with the jobs spread over ``devices``.

    One device runs the jobs in this process; several start one spawned worker per device, each taking
    the next job when it is free. ``function`` and the jobs must be picklable (a module-level function).
    As each job ends, logs ``[3/66] DESCRIPTION, 12.3 s (ETA 4 min)`` with ``describe(job, result)``.
    The first error stops the grid: the workers are stopped and the error is raised here.
    """
    jobs = list(jobs)
    if len(devices) <= 1:
        device = devices[0] if devices else torch.device("cpu")
        finished = (
            (index, *timed_run(function, job, device, threads)) for index, job in enumerate(jobs)
        )
    else:
        finished = _in_workers(function, jobs, devices, threads)
    return collect_results(finished, jobs, describe)


def collect_results(
    finished: Iterator[tuple[int, Result, float]],
    jobs: list[Job],
    describe: Callable[[Job, Result], str],
) -> list[Result]:
    """The results of ``jobs`` in job order, from ``finished``: (index, result, seconds) of each job as
    it ends. Logs ``[3/66] DESCRIPTION, 12.3 s (ETA 4 min)`` for each; closes ``finished`` at the end
    or on an error, so that whatever runs the jobs stops."""
    results: list = [None] * len(jobs)
    start = time.perf_counter()
    with closing(finished):
        for done, (index, result, seconds) in enumerate(finished, start=1):
            results[index] = result
            left = len(jobs) - done
            eta = f" (ETA {duration((time.perf_counter() - start) / done * left)})" if left else ""
            log.info(
                "[%d/%d] %s, %.1f s%s", done, len(jobs), describe(jobs[index], result), seconds, eta
            )
    return results


def _in_workers(
    function: Callable, jobs: list, devices: Sequence[torch.device], threads: int
) -> Iterator[tuple[int, object, float]]:
    """(index, result, seconds) of each job as a worker finishes it; closing this stops the workers."""
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger().getEffectiveLevel()
    todo = iter(enumerate(jobs))
    workers: dict[Connection, tuple[multiprocessing.Process, torch.device]] = {}
    try:
        for device in devices:
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_worker, args=(theirs, function, device, threads, level), daemon=True
            )
            process.start()
            theirs.close()
            workers[mine] = (process, device)
        busy = set(workers)  # the workers with a job
        for connection in workers:
            _hand_out(connection, next(todo, None), busy)
        while busy:
            for connection in wait(list(busy)):
                message = _receive(connection, *workers[connection])
                if message[0] == "log":
                    record = message[1]
                    logging.getLogger(record.name).handle(record)
                elif message[0] == "error":
                    _, error, where = message
                    raise error from RuntimeError(where)
                else:
                    yield message[1:]
                    _hand_out(connection, next(todo, None), busy)
    except BaseException:
        for process, _ in workers.values():
            process.terminate()
        raise
    finally:
        for connection, (process, _) in workers.items():
            process.join()
            connection.close()


def _hand_out(connection: Connection, job: tuple | None, busy: set[Connection]) -> None:
    """Send a worker its next (index, job), or None to stop it (then it is no longer busy)."""
    connection.send(job)
    if job is None:
        busy.discard(connection)


def _receive(
    connection: Connection, process: multiprocessing.Process, device: torch.device
) -> tuple:
    """The worker's next message; an error naming the device if the worker died."""
    try:
        return connection.recv()
    except EOFError:
        process.join(timeout=5)
        raise DivlibError(
            f"the worker on {device} stopped (exit code {process.exitcode}) in the middle of a job; "
            "if it ran out of memory, use fewer workers (grid.cpu_workers or grid.devices)"
        ) from None


def _worker(
    connection: Connection, function: Callable, device: torch.device, threads: int, level: int
) -> None:
    """A spawned worker: jobs from the parent until it sends None; results, errors and log records
    back to it. After an error it waits to be stopped: the tensors it sent (torch passes them as file
    descriptors) can be read only while it lives."""
    # Ctrl-C reaches the whole process group; the parent stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    root = logging.getLogger()
    root.handlers = [_Forward(connection)]
    root.setLevel(level)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    for index, job in iter(connection.recv, None):
        try:
            result, seconds = timed_run(function, job, device, threads)
        except Exception as error:
            where = f"in the worker on {device}:\n{traceback.format_exc()}"
            connection.send(("error", error, where))
        else:
            connection.send(("done", index, result, seconds))


class _Forward(QueueHandler):
    """Sends a worker's log records to the parent over the worker's pipe."""

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.send(("log", record))


def timed_run(function: Callable, job, device: torch.device, threads: int) -> tuple[object, float]:
    """``function(job, device)`` on ``threads`` CPU threads, and its wall time in seconds."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        return function(job, device), time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
