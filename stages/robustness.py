"""One variant of the robustness table: Q2's and Q3's DDT runs, re-rankings and evaluation under an
alternative pretraining recipe, item similarity or ε.

    python stages/robustness.py DATASET MODEL VARIANT

VARIANT is a key of ``robustness.variants`` in params.yaml: the default setting with at most a
pretraining ``recipe`` (a key of ``robustness.recipes``: changes to the ``pretrain`` section, which
this stage pretrains once per seed; ``default`` reuses the pretrain stage's models), the item
``similarity`` (``genre-jaccard``, ``embedding-cosine``: the cosine of each seed's pretrained item
embeddings) or ``eps`` changed. Reads ``robustness`` (models, seeds, ks, recipes, the variant),
``pretrain``, ``seeds``, ``diversity``, ``finetune``, ``main_table`` (the chosen β and the epochs of
Q2), ``gain_beyond_k`` (β and epochs of Q3) and ``rerank``. Writes
``data/robustness/DATASET/MODEL/VARIANT/`` (the recipe's models, the runs, the summaries and per-seed
means the tables and figures stages read); the runs' devices and wall times go to
``times/DATASET/MODEL/robustness-VARIANT.json`` (:func:`divlib.study.robustness.run_variant`).
"""

import argparse

from divlib.study.cli import dataset_argument, load_params, main_guard
from divlib.study.robustness import run_variant


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    dataset_argument(parser)
    parser.add_argument("model")
    parser.add_argument("variant")
    args = parser.parse_args()
    run_variant(load_params(), args.variant, dataset=args.dataset, model=args.model)


if __name__ == "__main__":
    main_guard(main)
