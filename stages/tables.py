"""Write the paper's tables for one dataset: Tables III, IV, V and VI, and the verdicts on its claims.

    python stages/tables.py DATASET

Reads params.yaml (``seeds``, ``diversity.k``, ``finetune.select`` and the sections ``beta_sweep``,
``main_table``, ``gain_beyond_k``, ``training_curves``, ``adaptive_beta``), the evaluation summaries of
those experiments, the per-user rows of the baselines and main_table (at the main_table seeds: Table
III, Q2 and the headline) and of the beta_sweep, the training_curves and
adaptive_beta run logs, the main_table DDT run and its pretrained model (Table V), and the published
numbers ``reports/paper/published.csv``. Writes ``reports/DATASET/tables/``: ``table3``, ``table4``
(DDT), ``table6`` (MDR) and ``verdicts`` as ``.md``, ``.tex`` and ``.json``, ``table5`` as ``.md``
and ``.json``; and ``metrics/DATASET/headline.json``, Table III's numbers keyed by role, which
``dvc exp show`` and ``dvc metrics diff`` compare (:func:`divlib.study.results.write_tables`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.layout import HERE
from divlib.study.results import write_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)

    write_tables(HERE, load_params(), parser.parse_args().dataset)


if __name__ == "__main__":
    main_guard(main)
