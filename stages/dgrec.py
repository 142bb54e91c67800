"""Train DGRec, the paper's learned diversity baseline, on one dataset once per seed.

    python stages/dgrec.py DATASET

Reads ``dgrec`` and ``seeds`` from params.yaml. Writes ``models/DATASET/dgrec/seedS.pt`` (load with
``divlib.models.load_model``), ``epochs.parquet`` (per-epoch losses, every seed) and
``metrics/DATASET/dgrec.json`` (per seed: the epoch kept and its validation loss); see
:func:`divlib.study.dgrec.train_dgrec_models`.
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.dgrec import train_dgrec_models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    dataset = parser.parse_args().dataset
    params = load_params()
    train_dgrec_models(params.dgrec, params.seeds, dataset=dataset)


if __name__ == "__main__":
    main_guard(main)
