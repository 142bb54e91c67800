"""Write the paper's tables for one dataset: Tables III, IV, V and VI, and the verdicts on its claims.

    python stages/tables.py DATASET

Reads params.yaml (``seeds``, ``diversity.k``, ``finetune.select`` and the sections ``beta_sweep``,
``main_table``, ``gain_beyond_k``, ``training_curves``, ``adaptive_beta``), the evaluation summaries of
the baselines and of those experiments, the beta_sweep per-user rows, the training_curves and
adaptive_beta run logs, the main_table DDT run and its pretrained model (Table V), and the published
numbers ``reports/paper/published.csv``. Writes ``reports/DATASET/tables/``: ``table3``, ``table4``
(DDT), ``table6`` (MDR) and ``verdicts`` as ``.md`` and ``.tex``, and ``table5.md`` (see
:mod:`divlib.study.tables`, :mod:`divlib.study.verdicts`); and ``metrics/DATASET/headline.json``, Table III's
numbers keyed by role (:func:`divlib.study.tables.headline_metrics`), which ``dvc exp show`` and ``dvc
metrics diff`` compare. The chosen setting, shown by Table V and the headline, is the first β of
``main_table.betas``.
"""

import argparse
import logging
import time

import polars as pl
from common import LAYOUT, load_params, main_guard

from divlib.io import atomic_path, write_json
from divlib.study.evaluation import run_means
from divlib.study.figure_data import (
    adaptive_steps,
    case_study_markdown,
    load_case_study,
    read_summaries,
    training_curves,
)
from divlib.study.tables import (
    frame_table,
    gain_table,
    headline_metrics,
    model_order,
    paper_rows,
    read_published,
    table3,
    to_latex,
    to_markdown,
)
from divlib.study.verdicts import (
    adaptive_claims,
    beta_sweep_claims,
    curve_claims,
    dominance_claims,
    gain_claims,
    verdict_frame,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    dataset = parser.parse_args().dataset
    params = load_params()
    start = time.perf_counter()
    k, main_table, gains = params.diversity.k, params.main_table, params.gain_beyond_k
    (beta,) = gains.betas  # one β: params checks it
    published = paper_rows(read_published(LAYOUT.published()), dataset)
    main_models, gain_models = model_order(main_table.models), model_order(gains.models)
    compared = pl.concat(
        [read_summaries(LAYOUT, dataset, main_models, experiment)
         for experiment in ("baselines", "main_table")],
        how="diagonal_relaxed",
    )  # fmt: skip
    gain_summary = read_summaries(LAYOUT, dataset, gain_models, "gain_beyond_k")
    tables = {
        "table3": table3(
            compared, dataset=dataset, models=main_models, k=k, betas=main_table.betas,
            epochs=main_table.epochs, seeds=params.seeds_of("main_table"),
            select=params.finetune.select, published=published,
        ),
        **{
            name: gain_table(
                gain_summary, method=method, dataset=dataset, models=gain_models, ks=gains.ks,
                beta=beta, epochs=gains.epochs, seeds=params.seeds_of("gain_beyond_k"),
                published=published,
            )
            for name, method in (("table4", "ddt"), ("table6", "mdr"))
        },
    }  # fmt: skip
    sweep = pl.concat(
        [pl.read_parquet(LAYOUT.per_user(dataset, model, "beta_sweep"))
         for model in model_order(params.beta_sweep.models)],
        how="diagonal_relaxed",
    )  # fmt: skip
    verdicts = verdict_frame(
        beta_sweep_claims(run_means(sweep), k=k),
        dominance_claims(compared, k=k, betas=main_table.betas, published=published),
        gain_claims(gain_summary, ks=gains.ks, beta=beta, published=published),
        curve_claims(
            training_curves(LAYOUT, dataset, model_order(params.training_curves.models)), k=k
        ),
        adaptive_claims(adaptive_steps(LAYOUT, dataset, model_order(params.adaptive_beta.models))),
    )
    tables["verdicts"] = frame_table(
        verdicts,
        f"The paper's claims on {dataset}: our numbers, the paper's, and the rule that decides.",
    )
    out = LAYOUT.tables(dataset)
    for name, table in tables.items():
        for suffix, render in ((".md", to_markdown), (".tex", to_latex)):
            with atomic_path(out / f"{name}{suffix}") as temporary:
                temporary.write_text(render(table))
    chosen = params.chosen_beta
    headline = headline_metrics(compared, models=main_models, k=k, beta=chosen)
    write_json(headline, LAYOUT.metrics(dataset, "headline"))
    case = load_case_study(LAYOUT, dataset, main_models[0], k, beta=chosen)
    with atomic_path(out / "table5.md") as temporary:
        temporary.write_text(case_study_markdown(case, dataset, k))
    logging.info("%s: tables written to %s in %.1f s", dataset, out, time.perf_counter() - start)


if __name__ == "__main__":
    main_guard(main)
