"""One DDT fine-tuning epoch at Netflix-Prize size on the CPU: time per step and per epoch, the phases of
a step, peak memory, and the bytes and flops of a step for a roofline.

    /usr/bin/time -v python bench/netflix.py [--users 480189] [--items 17770] [--ratings 100000000]
        [--model nmf] [--dim 10] [--batch 80960] [--users-per-step 1024] [--steps N]
        [--pretrain-epochs 1] [--profile-steps 2] [--threads T] [--val-fraction 0.01] [--glibc-malloc]

Data: :func:`divlib.study.data.synthetic_ratings` (int32 ids, float32 ratings, drawn in chunks of users); a
random ``--val-fraction`` of the ratings is held out (each column copied once, then the generated table
freed) and the training ratings become :class:`~divlib.train.Interactions` with int32 ids, without a
further copy. Model: ``--model`` of dimension ``--dim``, initialised from seed 0 and fitted for
``--pretrain-epochs`` relevance epochs (:func:`~divlib.train.pretrain`, batch ``--batch``, lr 0.01; 0
keeps the random initialisation, whose scores lie too close together for ε = 1/m). Fine-tuning: the
steps of :func:`~divlib.train.finetune` (:func:`~divlib.train.diversify.epoch_steps`), DDT, β = 0.5,
k = 10, ε = 1/m, AdamW lr 0.01, ``--batch`` ratings and ``--users-per-step`` users of L_DDRO per step,
the seen items of each step's users from the ratings grouped by user
(:class:`~divlib.train.interactions.SeenItems`); the per-epoch summary (validation MSE and DRO@k of 256
monitored users, about one step's work) is not run. Unless ``--glibc-malloc``, malloc keeps freed
memory for reuse from the first step on (:func:`keep_freed_memory`).

Printed: the machine's measured matrix-product and copy rates; generation time; seconds per step
(median and mean; the first step, which also shuffles the epoch, apart); seconds per epoch, measured
over the whole epoch or, with ``--steps N``, extrapolated from its first N steps (first step + mean of
the others × the remaining steps); over ``--profile-steps`` more steps under :mod:`torch.profiler`,
each labelled phase's share of a step (``scores``, ``ddro``, ``backward``, ``optimizer``; the rest:
batch, MSE forward, logging), its operator calls and the bytes its operators allocate; a roofline: the
flops and bytes of each phase against the measured rates; the resident memory after each stage and its
peak (``/usr/bin/time -v`` reports the same peak).
"""

import argparse
import ctypes
import ctypes.util
import math
import os
import resource
import statistics
import time

import numpy as np
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

from divlib import GroupedDistance
from divlib.models import build_model
from divlib.study.data import category_matrix, synthetic_ratings
from divlib.train import DiversityLoss, DiversityOptions, FinetuneOptions, PretrainOptions, pretrain
from divlib.train.diversify import epoch_steps
from divlib.train.interactions import Interactions

PHASES = ("scores", "ddro", "backward", "optimizer")
LR, BETA, K = 0.01, 0.5, 10
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters, malloc.h
ADAM_BYTES = 28  # AdamW reads parameter, gradient, two moments and writes three: 7 float32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=480_189)
    parser.add_argument("--items", type=int, default=17_770)
    parser.add_argument("--ratings", type=int, default=100_000_000)
    parser.add_argument("--model", default="nmf", choices=["nmf", "mf", "ncf"])
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--batch", type=int, default=80_960)
    parser.add_argument("--users-per-step", type=int, default=1024)
    parser.add_argument("--steps", type=int, help="time the first N steps and extrapolate")
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--profile-steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--val-fraction", type=float, default=0.01)
    parser.add_argument("--glibc-malloc", action="store_true", help="leave malloc's defaults")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    machine = {
        "gemm": measured_gemm(),
        "copy": measured_copy(1 << 26),
        "cached": measured_copy(1 << 19),
    }
    print(
        f"{args.model} dim {args.dim}, {args.threads} threads: matrix product "
        f"{machine['gemm']:.0f} GFLOP/s, copy {machine['copy']:.1f} GB/s (256 MiB), "
        f"{machine['cached']:.1f} GB/s (2 MiB, in cache); load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
        flush=True,
    )
    train, val, distance = generate(args)
    model = fitted_model(args, train, val)
    steps, per_epoch, restart = fine_tuning(args, model, train, distance)
    if not args.glibc_malloc:
        keep_freed_memory()
    timed = min(args.steps or per_epoch, per_epoch)
    walls, cpus = time_steps(steps, timed)
    rest = walls[1:] or walls
    if timed == per_epoch:
        epoch, how = sum(walls), "measured"
    else:
        epoch = walls[0] + statistics.mean(rest) * (per_epoch - 1)
        how = f"extrapolated from its first {timed} steps"
    print(
        f"step: median {statistics.median(rest):.3f} s, mean {statistics.mean(rest):.3f} s "
        f"(CPU {statistics.mean(cpus[1:] or cpus):.3f} s), first {walls[0]:.3f} s (with the "
        f"epoch's shuffle); epoch: {epoch:.0f} s = {epoch / 60:.1f} min ({how}); {memory()}",
        flush=True,
    )
    if not args.profile_steps:
        return
    if timed == per_epoch:  # profile the next epoch, after its first step (the shuffle)
        steps = restart()
        next(steps)
    count = min(args.profile_steps, per_epoch - 1)
    phases, step_wall = profile_phases(steps, count)
    print(f"phases over {count} profiled steps ({step_wall:.3f} s a step); {memory()}")
    for name, (seconds, calls, moved) in phases.items():
        print(
            f"  {name:10s} {seconds:7.3f} s {seconds / step_wall:6.1%}  {calls:7.0f} operator "
            f"calls  {moved / 1e9:6.2f} GB allocated ({rate(moved, seconds)} GB/s)"
        )
    roofline(model, args.users_per_step, phases, machine, per_epoch)


def roofline(model: nn.Module, users: int, phases: dict, machine: dict, per_epoch: int) -> None:
    """Per step: the scores' flops and bytes, DDRO's allocated bytes and AdamW's bytes, each against
    the machine's measured rates, and the epoch those bounds would allow."""
    pairs = users * model.n_items
    flops = analytic_score_flops(model, users)
    parameters = sum(p.numel() for p in model.parameters())
    activations = activation_bytes(model, users)
    slowest = max(
        flops / machine["gemm"], 4 * pairs / machine["copy"], activations / machine["cached"]
    )
    bounds = {
        "scores": slowest / 1e9,
        "ddro": phases["ddro"][2] / machine["copy"] / 1e9,
        "optimizer": ADAM_BYTES * parameters / machine["copy"] / 1e9,
    }
    print(
        f"roofline of a step ({users} users x {model.n_items:,} items = {pairs:,} pairs), bounds "
        f"at the measured rates:"
    )
    print(
        f"  scores     {flops / 1e9:.2f} GFLOP ({flops / pairs:.0f} a pair), {4 * pairs / 1e6:.0f} "
        f"MB of scores written, {activations / 1e9:.1f} GB of hidden "
        f"activations through the caches; bound {bounds['scores']:.3f} s, measured "
        f"{phases['scores'][0]:.3f} s = {rate(flops, phases['scores'][0]).strip()} GFLOP/s"
    )
    print(
        f"  ddro       {phases['ddro'][2] / 1e9:.2f} GB allocated = "
        f"{phases['ddro'][2] / (4 * pairs):.0f} float32 passes over the scores; bound "
        f"{bounds['ddro']:.3f} s, measured {phases['ddro'][0]:.3f} s"
    )
    print(
        f"  optimizer  AdamW on {parameters:,} parameters x {ADAM_BYTES} bytes = "
        f"{ADAM_BYTES * parameters / 1e6:.0f} MB; bound {bounds['optimizer']:.3f} s, measured "
        f"{phases['optimizer'][0]:.3f} s"
    )
    print(
        f"  an epoch of {per_epoch} steps at these bounds: "
        f"{sum(bounds.values()) * per_epoch / 60:.1f} min; the scores alone "
        f"{flops * per_epoch / 1e12:.2f} TFLOP; peak RSS {peak_gib():.2f} GiB"
    )


def generate(args) -> tuple[Interactions, Interactions, GroupedDistance]:
    """The synthetic ratings, split into training and held-out, and the items' distance."""
    start = time.perf_counter()
    raw = synthetic_ratings(users=args.users, items=args.items, ratings=args.ratings, seed=1)
    generated = time.perf_counter() - start
    train, val = hold_out(raw.ratings, args.val_fraction, n_users=args.users, n_items=args.items)
    distance = GroupedDistance.from_categories(category_matrix(raw.items)[0])
    print(
        f"{args.users:,} users x {args.items:,} items: {len(train) + len(val):,} ratings generated "
        f"in {generated:.1f} s, {len(train):,} training, {len(val):,} held out; {memory()}",
        flush=True,
    )
    return train, val, distance


def fitted_model(args, train: Interactions, val: Interactions) -> nn.Module:
    """``--model`` from seed 0, fitted for ``--pretrain-epochs`` relevance epochs."""
    model = build_model(args.model, n_users=args.users, n_items=args.items, dim=args.dim, seed=0)
    if not args.pretrain_epochs:
        print("random initialisation (no pretraining)")
        return model
    start = time.perf_counter()
    options = PretrainOptions(epochs=args.pretrain_epochs, lr=LR, batch_size=args.batch)
    fitted = pretrain(model, train, val, options=options, device="cpu")
    model.load_state_dict(fitted.selected_state)
    print(
        f"pretrained {args.pretrain_epochs} epoch(s) in {time.perf_counter() - start:.1f} s, "
        f"val MSE {fitted.epochs[-1]['val_mse']:.3f}; {memory()}",
        flush=True,
    )
    return model


def fine_tuning(args, model: nn.Module, train: Interactions, distance: GroupedDistance) -> tuple:
    """The first epoch's steps as :func:`~divlib.train.finetune` sets them up, the number of steps of
    an epoch, and a function that starts the next epoch."""
    start = time.perf_counter()
    loss = DiversityLoss(distance, train.seen_items(), DiversityOptions(k=K, eps=1 / args.items))
    options = FinetuneOptions(
        method="ddt",
        beta=BETA,
        epochs=1,
        lr=LR,
        batch_size=args.batch,
        users_per_step=args.users_per_step,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=options.weight_decay)
    generator = torch.Generator().manual_seed(0)
    per_epoch = math.ceil(len(train) / args.batch)
    print(
        f"seen items grouped by user in {time.perf_counter() - start:.1f} s; {per_epoch} steps per "
        f"epoch of {args.batch:,} ratings, {args.users_per_step} users of L_DDRO each; {memory()}",
        flush=True,
    )
    model.train()

    def restart():
        return epoch_steps(model, optimizer, train, loss, options, generator=generator)

    return restart(), per_epoch, restart


def keep_freed_memory() -> None:
    """Have glibc's malloc keep freed blocks for reuse. By default it maps each block above 32 MB
    afresh and unmaps it when freed, so every (users × items) temporary of a step faults its pages in
    again (18k faults for 73 MB, about 4 µs each on this VM: an NMF step took 1.3 times as long)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not (libc.mallopt(M_MMAP_MAX, 0) and libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1)):
        raise SystemExit("mallopt failed; run with --glibc-malloc")
    print("malloc: freed memory kept for reuse (mmap off, no trimming)")


def hold_out(frame, fraction: float, *, n_users: int, n_items: int) -> tuple:
    """Training and held-out :class:`Interactions` (int32 ids) from a random ``fraction`` of rows."""
    held = np.random.default_rng(0).random(len(frame), dtype=np.float32) < fraction
    columns = [frame[name].to_numpy() for name in ("user", "item", "rating")]
    parts = []
    for keep in (~held, held):
        tensors = [torch.from_numpy(column[keep]) for column in columns]
        parts.append(Interactions(*tensors, n_users=n_users, n_items=n_items))
    return parts[0], parts[1]


def time_steps(steps, count: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each of the next ``count`` steps."""
    walls, cpus = [], []
    for _ in range(count):
        wall, cpu = time.perf_counter(), time.process_time()
        value, _ = next(steps)
        if not torch.isfinite(value):
            raise SystemExit(f"step {len(walls) + 1}: the loss is {float(value)}")
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus


def profile_phases(steps, count: int) -> tuple[dict, float]:
    """Per labelled phase and step: seconds, operator calls (top-level aten operators) and the bytes
    of the tensors its operators allocate (each written at least once: a lower bound of its memory
    traffic); and the wall seconds of a profiled step."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        start = time.perf_counter()
        for _ in range(count):
            next(steps)
        step_wall = (time.perf_counter() - start) / count
    totals = {name: [0.0, 0, 0] for name in PHASES}
    for event in prof.events():
        phase = phase_of(event)
        if phase is None:
            continue
        if event.name == phase or event.name.startswith("Optimizer.step#"):
            totals[phase][0] += event.cpu_time_total / 1e6
        elif event.name.startswith("aten::"):
            totals[phase][2] += max(event.self_cpu_memory_usage, 0)
            parent = event.cpu_parent
            totals[phase][1] += parent is None or not parent.name.startswith("aten::")
    return {name: [value / count for value in values] for name, values in totals.items()}, step_wall


def phase_of(event) -> str | None:
    """The labelled phase an event lies in (itself included), or None."""
    while event is not None:
        if event.name in PHASES:
            return event.name
        if event.name.startswith("Optimizer.step#"):
            return "optimizer"
        event = event.cpu_parent
    return None


def analytic_score_flops(model: nn.Module, users: int) -> int:
    """Flops of ``score_all`` for ``users`` users: 2·B·m·d for NMF/MF; for NCF the first layer on B
    users and m items apart, then per pair the add and ReLU of the first hidden layer and each layer
    above it (2·in·out + out bias, + out ReLU but at the output)."""
    m, dim = model.n_items, model.items.shape[1]
    if not hasattr(model, "mlp"):
        return 2 * users * m * dim
    linears = [layer for layer in model.mlp if isinstance(layer, nn.Linear)]
    first = linears[0].out_features
    per_pair = (
        2 * first
        + sum(
            3 * layer.out_features + 2 * layer.in_features * layer.out_features
            for layer in linears[1:]
        )
        - 1
    )
    return per_pair * users * m + 2 * first * dim * (users + m)


def activation_bytes(model: nn.Module, users: int) -> int:
    """Bytes of NCF's hidden activations moved per step: each hidden number written, read and written
    by its ReLU, read by the next layer (4 float32 passes); 0 for the factorisations."""
    if not hasattr(model, "mlp"):
        return 0
    widths = [layer.out_features for layer in model.mlp if isinstance(layer, nn.Linear)][:-1]
    return 4 * 4 * sum(widths) * users * model.n_items


def measured_gemm() -> float:
    """GFLOP/s of a 2048² float32 matrix product."""
    x = torch.rand(2048, 2048)
    x @ x
    start = time.perf_counter()
    for _ in range(3):
        x @ x
    return 3 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def measured_copy(numbers: int) -> float:
    """GB/s (read + write) of copying ``numbers`` float32, 1 GiB in all."""
    source, target = torch.rand(numbers), torch.empty(numbers)
    target.copy_(source)
    repeats = max(1, (1 << 28) // numbers)
    start = time.perf_counter()
    for _ in range(repeats):
        target.copy_(source)
    return repeats * 2 * source.nbytes / (time.perf_counter() - start) / 1e9


def rate(amount: float, seconds: float) -> str:
    return f"{amount / seconds / 1e9:6.1f}" if seconds > 0 else "     -"


def memory() -> str:
    pages = int(open("/proc/self/statm").read().split()[1])
    return f"RSS {pages * os.sysconf('SC_PAGE_SIZE') / 2**30:.2f} GiB (peak {peak_gib():.2f})"


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


if __name__ == "__main__":
    main()
