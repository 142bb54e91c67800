"""The tables stage's work for one dataset: Tables III–VI, the verdicts on the paper's claims and the
headline metrics, read from the pipeline's outputs (:mod:`~divlib.study.readers`), built by
:mod:`~divlib.study.tables` and :mod:`~divlib.study.verdicts`, rendered by :mod:`~divlib.study.render`.

The chosen setting, shown by Table V and the headline, is the first β of ``main_table.betas``. Table
III, its verdict (Q2) and the headline read the baselines and the main_table runs at the main_table
seeds alone (:func:`~divlib.study.readers.matched_per_user`, and
:func:`~divlib.study.readers.matched_per_run` for the aggregate diversity), so every row averages the
same seeds. Table V's user is chosen by the rule of ``case_study``
(:func:`divlib.study.figure_data.case_user`).
"""

from divlib.io import atomic_path, write_json
from divlib.study.evaluation import run_means, summarize
from divlib.study.figure_data import case_study_table, case_user, case_users, load_case_study
from divlib.study.layout import Layout
from divlib.study.params import Params
from divlib.study.readers import (
    adaptive_steps,
    matched_per_run,
    matched_per_user,
    paper_rows,
    read_per_user,
    read_published,
    read_summaries,
    training_steps,
)
from divlib.study.render import Table, frame_table, to_latex, to_markdown, write_table
from divlib.study.robustness import robustness_table
from divlib.study.tables import gain_table, headline_metrics, model_order, table3
from divlib.study.verdicts import (
    adaptive_claims,
    beta_sweep_claims,
    curve_claims,
    dominance_claims,
    gain_claims,
    verdict_frame,
)

RENDERINGS = {".md": to_markdown, ".tex": to_latex}
MARKDOWN_ONLY = ("table5",)  # the case study: titles and genres, no numbers to typeset


def paper_tables(layout: Layout, params: Params, dataset: str) -> tuple[dict[str, Table], dict]:
    """Every table of ``dataset`` by name (table3, table4, table6, verdicts, table5) and the headline
    metrics (:func:`~divlib.study.tables.headline_metrics`)."""
    k, main_table, gains = params.diversity.k, params.main_table, params.gain_beyond_k
    (beta,), chosen = gains.betas, params.chosen_beta  # one gain β: params checks it
    published = paper_rows(read_published(layout.published()), dataset)
    main_models, gain_models = model_order(main_table.models), model_order(gains.models)
    main_seeds = params.seeds_of("main_table")
    matched = matched_per_user(layout, dataset, main_models, k=k, seeds=main_seeds)
    aggregates = matched_per_run(layout, dataset, main_models, k=k, seeds=main_seeds)
    # every Table III row over the main_table seeds
    compared = summarize(matched, per_run=aggregates)
    gain_summary = read_summaries(layout, dataset, gain_models, "gain_beyond_k")
    tables = {
        "table3": table3(
            compared,
            dataset=dataset,
            models=main_models,
            k=k,
            betas=main_table.betas,
            epochs=main_table.epochs,
            seeds=main_seeds,
            select=params.finetune.select,
            published=published,
        )
    }
    for name, method in (("table4", "ddt"), ("table6", "mdr")):
        tables[name] = gain_table(
            gain_summary,
            method=method,
            dataset=dataset,
            models=gain_models,
            ks=gains.ks,
            beta=beta,
            epochs=gains.epochs,
            seeds=params.seeds_of("gain_beyond_k"),
            published=published,
        )
    sweep = read_per_user(layout, dataset, model_order(params.beta_sweep.models), "beta_sweep")
    steps = training_steps(layout, dataset, model_order(params.training_curves.models))
    verdicts = verdict_frame(
        beta_sweep_claims(run_means(sweep), k=k),
        dominance_claims(run_means(matched), k=k, betas=main_table.betas, published=published),
        gain_claims(gain_summary, ks=gains.ks, beta=beta, published=published),
        curve_claims(steps, k=k),
        adaptive_claims(adaptive_steps(layout, dataset, model_order(params.adaptive_beta.models))),
    )
    tables["verdicts"] = frame_table(
        verdicts,
        f"The paper's claims on {dataset}: our numbers, the paper's, and the rule that decides. "
        "Differences are paired by seed, [low, high] their 95 % t interval over seeds; "
        "comparisons: the intervals a verdict rests on (not decided: none, e.g. one seed).",
    )
    case = load_case_study(layout, dataset, params.case_model, k, beta=chosen)
    user, reason = case_user(
        case_users(layout, dataset, case, k),
        case.before,
        rule=params.case_study.rule,
        min_train_ratings=params.case_study.min_train_ratings,
        k=k,
    )
    tables["table5"] = case_study_table(case, dataset, k, user=user, reason=reason)
    return tables, headline_metrics(compared, models=main_models, k=k, beta=chosen)


def write_tables(layout: Layout, params: Params, dataset: str) -> None:
    """Write :func:`paper_tables` of ``dataset`` and the robustness table
    (:func:`~divlib.study.robustness.robustness_table`): each table as Markdown, LaTeX (but
    :data:`MARKDOWN_ONLY`) and JSON under ``reports/DATASET/tables/``, and the headline metrics to
    ``metrics/DATASET/headline.json``, which ``dvc exp show`` and ``dvc metrics diff`` compare."""
    tables, headline = paper_tables(layout, params, dataset)
    tables["robustness"] = robustness_table(layout, params, dataset)  # beyond the paper
    for name, table in tables.items():
        for suffix, render in RENDERINGS.items():
            if suffix == ".md" or name not in MARKDOWN_ONLY:
                with atomic_path(layout.table(dataset, name, suffix)) as temporary:
                    temporary.write_text(render(table))
        write_table(table, layout.table(dataset, name, ".json"))
    write_json(headline, layout.metrics(dataset, "headline"))
