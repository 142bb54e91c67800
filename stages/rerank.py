"""Re-rank each seed's pretrained model with MMR, DUM and DPP: their trade-off grids and the paper's
parametrisation.

    python stages/rerank.py DATASET MODEL

Reads ``rerank`` (pool size, MMR λ and DPP θ grids), ``seeds`` and ``evaluate.ks`` from params.yaml.
The trade-off grids take each user's candidates from the model's top ``pool`` items not rated in
training or validation, with min-max scaled relevance; the paper's rows (``mmr-paper``, ``dpp-paper``)
follow its baseline code (every unseen item, predicted ratings clipped to [1, 5]). Each re-ranker
selects 2·max(ks) items (greedy selections are prefix-consistent, so every k reads a prefix); see
:func:`divlib.rerank.rerank_all`. Writes ``data/rerank/DATASET/MODEL/lists.parquet`` (seed, method,
param, user, rank, item); see :func:`divlib.study.evaluation.rerank_baselines`.
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.evaluation import rerank_baselines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    parser.add_argument("model")
    args = parser.parse_args()
    params = load_params()
    rerank_baselines(
        params.rerank, params.seeds, params.evaluate.ks, dataset=args.dataset, model=args.model
    )


if __name__ == "__main__":
    main_guard(main)
