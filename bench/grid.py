"""Optimizer steps per second of a β-sweep stage: its runs one at a time, and as the stage runs them.

    python bench/grid.py [--models nmf ncf] [--runs N] [--dataset ml-100k]

Reads the workflow's files and params.yaml (run ``dvc repro pretrain`` first): the ``beta_sweep`` runs
of each model (66 at the default settings; ``--runs N`` takes N of them, spread evenly over the grid's
methods, βs and seeds). Both ways run in this one process, one after the other, on the same machine:

* **one at a time**: every run in this process on one CPU thread, in turn;
* **as the stage**: the stage's own grid (:func:`divlib.study.experiment.grid_backend`: the ``grid``
  section, its ``devices`` and ``cpu_workers``).

Prints, per model, the steps per second of each way and their ratio, and checks that both gave the same
runs (selected epoch and every record), so that the ratio compares equal work.

``--stacked R`` also weighs training R runs as one batched program: it times DDRO with DRO@k (forward
and backward, what a step spends most on) of R runs' scores for all users as one call on the stacked
``(R·users, items)`` scores, against R calls on ``(users, items)``, on one thread.
"""

import argparse
import sys
import time

import torch

from divlib.models import load_model
from divlib.objectives import ddro_and_dro
from divlib.similarity import load_distance
from divlib.study.cli import load_params
from divlib.study.experiment import diversity_options, experiment_runs, grid_backend, train_run
from divlib.study.layout import HERE as LAYOUT
from divlib.study.layout import load_splits
from divlib.train.grid import run_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["nmf", "ncf"])
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per model (default: all; 0: none)"
    )
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--stacked", type=int, default=0, help="also time R runs' DDRO stacked")
    args = parser.parse_args()
    params = load_params()
    if args.stacked:
        for model in args.models:
            stacked_ddro(params, args.dataset, model, args.stacked)
    grid, where = grid_backend(params.grid)
    print(
        f"{args.dataset}, beta_sweep; the stage's grid: {where}; {torch.get_num_threads()} threads"
    )
    for model in args.models if args.runs != 0 else ():
        specs = experiment_runs(params, "beta_sweep", dataset=args.dataset, model=model)
        if args.runs is not None:
            specs = specs[:: max(1, len(specs) // args.runs)][: args.runs]
        if not LAYOUT.base(args.dataset, model, specs[0].seed).is_file():
            sys.exit(
                f"error: {LAYOUT.bases(args.dataset, model)} is missing; run dvc repro pretrain"
            )
        ways = {
            "one at a time": lambda s: run_grid(train_run, s, [torch.device("cpu")]),
            "as the stage": lambda s: grid(train_run, s),
        }
        rates, outcomes = {}, {}
        for name, way in ways.items():
            start = time.perf_counter()
            outcomes[name] = way(specs)
            seconds = time.perf_counter() - start
            steps = sum(len(outcome.result.steps) for outcome in outcomes[name])
            rates[name] = steps / seconds
            print(
                f"{model} {name:14s} {len(specs)} runs, {steps} steps in {seconds:6.1f} s: "
                f"{rates[name]:6.1f} steps/s"
            )
        for alone, staged in zip(*outcomes.values(), strict=True):
            assert alone.record == staged.record and alone.result.steps == staged.result.steps
        print(f"{model} ratio {rates['as the stage'] / rates['one at a time']:.2f} (same runs)")


def stacked_ddro(params, dataset: str, model: str, runs: int, repeats: int = 3) -> None:
    """Seconds of DDRO with DRO@k for ``runs`` runs' scores: stacked in one call, and one call each."""
    (train,) = load_splits(LAYOUT, dataset, "train")
    options = diversity_options(params.diversity, train.n_items)
    distance = load_distance(LAYOUT.distance(dataset))
    network, _ = load_model(LAYOUT.base(dataset, model, params.seeds[0]))
    seen = train.seen()
    with torch.no_grad():
        base = network.score_all(torch.arange(train.n_users))
    generator = torch.Generator().manual_seed(0)
    scores = [base + 1e-3 * torch.randn(base.shape, generator=generator) for _ in range(runs)]

    def step(rows: torch.Tensor, exclude: torch.Tensor) -> None:
        rows = rows.clone().requires_grad_()
        soft, _ = ddro_and_dro(
            rows,
            distance=distance,
            k=options.k,
            eps=options.eps,
            tau=options.tau,
            exclude=exclude,
            offset=options.offset,
        )
        torch.autograd.grad(soft.sum(), rows)

    ways = {
        "one call each": lambda: [step(rows, seen) for rows in scores],
        "stacked": lambda: step(torch.cat(scores), seen.repeat(runs, 1)),
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seconds = {}
    for name, way in ways.items():
        way()  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            way()
        seconds[name] = (time.perf_counter() - start) / repeats
        print(
            f"{model} DDRO of {runs} runs, {name:13s}: {seconds[name] * 1e3 / runs:6.1f} ms a run"
        )
    torch.set_num_threads(threads)
    print(f"{model} stacked / one call each: {seconds['stacked'] / seconds['one call each']:.2f}")


if __name__ == "__main__":
    main()
