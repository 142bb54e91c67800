"""Write the paper's tables for one dataset: Tables III, IV, V and VI, and the verdicts on its claims.

    python stages/tables.py DATASET

Reads params.yaml (``seeds``, ``diversity.k``, ``finetune.select`` and the sections ``beta_sweep``,
``main_table``, ``gain_beyond_k``, ``training_curves``, ``adaptive_beta``, ``case_study``), the
evaluation summaries of the baselines and of those experiments, the beta_sweep, baselines and
main_table per-user rows, the training_curves and adaptive_beta run logs, the main_table DDT run and
its pretrained model (Table V, its user chosen by ``case_study``), and the published
numbers ``reports/paper/published.csv``. Writes ``reports/DATASET/tables/``: ``table3``, ``table4``
(DDT), ``table6`` (MDR) and ``verdicts`` as ``.md``, ``.tex`` and ``.json``, ``table5`` as ``.md``
and ``.json``; and ``metrics/DATASET/headline.json``, Table III's numbers keyed by role, which
``dvc exp show`` and ``dvc metrics diff`` compare (:func:`divlib.study.results.write_tables`).
"""

import argparse
import logging
import time

from common import LAYOUT, load_params, main_guard

from divlib.study.results import write_tables


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    start = time.perf_counter()
    write_tables(LAYOUT, load_params(), dataset)
    elapsed = time.perf_counter() - start
    logging.info("%s: tables written to %s in %.1f s", dataset, LAYOUT.tables(dataset), elapsed)


if __name__ == "__main__":
    main_guard(main)
