"""Sensitivity of DDT to ε and k: fine-tune one pretrained model over the grid ε × k of params.yaml.

    python stages/sensitivity.py DATASET

Reads ``sensitivity`` (model, method, β, the ε and k grids, epochs) and the other run settings from
``diversity`` and ``finetune`` (see :func:`divlib.study.experiment.sensitivity_runs`), from the model
pretrained with the first of ``seeds``. Each run is evaluated
at its own k over all users, training items excluded: DRO@k, the paper's predicted relevance share @k,
validation MSE. Writes ``data/sensitivity/DATASET/results.parquet`` and
``metrics/DATASET/sensitivity.json`` (:func:`divlib.study.experiment.run_sensitivity`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.experiment import run_sensitivity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    dataset = parser.parse_args().dataset
    params = load_params()
    run_sensitivity(
        params.sensitivity,
        params.finetune,
        params.diversity,
        params.grid,
        dataset=dataset,
        seed=params.seeds[0],
    )


if __name__ == "__main__":
    main_guard(main)
