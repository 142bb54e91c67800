"""Sensitivity of DDT to ε and k: fine-tune one pretrained model over the grid ε × k of params.yaml.

    python stages/sensitivity.py DATASET

Reads ``sensitivity`` (model, method, β, the ε and k grids, epochs) and the other run settings from
``diversity`` and ``finetune`` (see :func:`divlib.study.experiment.sensitivity_runs`), from the model
pretrained with the first of ``seeds``. Each run is evaluated
at its own k over all users, training items excluded: DRO@k, the paper's predicted relevance share @k,
validation MSE. Writes ``data/sensitivity/DATASET/results.parquet`` and
``metrics/DATASET/sensitivity.json``.
"""

import argparse
import logging

from common import LAYOUT, learning_rate_named, load_params, main_guard

from divlib.io import atomic_path, write_json
from divlib.study.experiment import describe_run, sensitivity_results, sensitivity_runs, train_run
from divlib.train.grid import placement, run_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    params = load_params()
    specs = sensitivity_runs(params.sensitivity, params.finetune, params.diversity, dataset=dataset,
                             seed=params.seeds[0])  # fmt: skip
    logging.info("%d sensitivity runs", len(specs))
    devices = placement(params.grid.devices, params.grid.cpu_workers)
    with learning_rate_named("finetune.lr", params.finetune.lr):
        outcomes = run_grid(train_run, specs, devices, describe=describe_run)
    results = sensitivity_results(specs, outcomes)
    with atomic_path(LAYOUT.sensitivity(dataset)) as temporary:
        results.write_parquet(temporary)
    metrics = {
        f"eps={row['eps_setting']},k={row['k']}": {"dro": row["dro"], "val_mse": row["val_mse"]}
        for row in results.iter_rows(named=True)
    }
    write_json(metrics, LAYOUT.metrics(dataset, "sensitivity"))


if __name__ == "__main__":
    main_guard(main)
