"""The paper's result tables from evaluation summaries (:func:`divlib.study.evaluation.summarize`), as Markdown
and LaTeX, each named after the paper's table.

- :func:`table3` (Table III, Q2): per method, DRO@k, the aggregate diversity of all users' lists
  (item coverage, Gini index and entropy of item exposure), the predicted-relevance share (eq. 12)
  at k = 10, then the ground-truth measures (full-catalogue precision, recall and NDCG@k on held-out
  ratings, test MSE), "mean (std)" over the same seeds for every row, one column group per model,
  the paper's printed pair beside; two anchors (most popular, random) make the ground-truth numbers
  readable.
- :func:`gain_table` (Tables IV (DDT) and VI (MDR), Q3): the diversity gain over the relevance-only
  model in percentage points, 100 · (DRO − DRO_base), on ranks 1..k and k+1..2k of the run fine-tuned
  for that k, the paper's printed values beside.

Methods are named as in :mod:`divlib.study.methods`. Published numbers (``reports/paper/published.csv``,
:func:`divlib.study.readers.read_published`) are printed as the paper prints them. A dataset the paper lacks is shown beside
the published dataset of :data:`divlib.study.readers.PAPER_PROXY`, labelled as another dataset.
"""

from collections.abc import Sequence

import polars as pl

from divlib.errors import DivlibError
from divlib.study.evaluation import param_is
from divlib.study.methods import BY_KEY
from divlib.study.render import MISSING, Table, is_number, mean_std

MODEL_ORDER = ("nmf", "mf", "ncf")
PAPER_RERANKERS = ("mmr-paper", "dum", "dpp-paper")  # the re-rankers as the paper ran them
PUBLISHED_KEY = {"mmr-paper": "mmr", "dpp-paper": "dpp"}  # our method → its row in published.csv
TABLE3_ROWS = ("popular", "random", "base", *PAPER_RERANKERS, "dgrec", "ddt", "mdr")  # anchors,
# then the paper's row order
TABLE3_COLUMNS = {  # metric: column label ({k}: the list length); the paper prints PAPER_COLUMNS
    "dro": "DRO@{k}",
    "item_coverage": "item coverage@{k}",  # over all users' lists: divlib.metrics.aggregate_diversity
    "gini": "Gini@{k}",
    "entropy": "entropy@{k} (nats)",
    "relevance": "relevance@{k} (predicted)",
    "precision": "precision@{k}",
    "recall": "recall@{k}",
    "ndcg": "NDCG@{k}",
    "mse": "test MSE",
}
PAPER_COLUMNS = ("dro", "relevance")
GAIN_TABLES = {"ddt": "Table IV", "mdr": "Table VI"}


def model_order(models: Sequence[str]) -> list[str]:
    """``models`` in the paper's order (NMF, MF, NCF), unknown ones after, by name."""
    rank = {model: i for i, model in enumerate(MODEL_ORDER)}
    return sorted(models, key=lambda model: (rank.get(model, len(rank)), model))


def summary_row(
    summary: pl.DataFrame,
    *,
    model: str,
    method: str,
    k: int,
    param: float | None = None,
    train_k: int | None = None,
) -> dict | None:
    """The summary row of one run setting at ``k`` (``param`` and ``train_k`` None: any); None if it
    did not run. The ``base`` rows that several experiments' summaries share are equal, so the first
    is taken."""
    rows = summary.filter(
        (pl.col("model") == model) & (pl.col("method") == method) & (pl.col("k") == k)
    )
    if param is not None:
        rows = rows.filter(param_is(param))
    if train_k is not None:
        rows = rows.filter(pl.col("train_k") == train_k)
    return rows.row(0, named=True) if rows.height else None


HEADLINE = {  # Table III's rows and the numbers of each that dvc exp compares
    "base": ("dro", "ndcg"),
    "mmr-paper": ("dro",),
    "dum": ("dro",),
    "dpp-paper": ("dro",),
    "ddt": (
        "dro",
        "relevance",
        "ndcg",
        "gain_beyond_pp",
        "item_coverage_pct",
        "gini",
        "entropy_nats",
    ),
    "mdr": ("dro",),
}


def _headline_value(row: dict, name: str) -> float:
    """A headline number of a summary row: ``gain_beyond_pp``, the DRO gain in ranks k+1..2k over
    the relevance-only model in percentage points (100 · the mean paired gain);
    ``item_coverage_pct``, the item coverage in percent of the catalogue; ``entropy_nats``, the
    entropy of item exposure (in nats); else the metric."""
    if name == "gain_beyond_pp":
        return 100 * row["dro_beyond_gain"]
    if name == "item_coverage_pct":
        return 100 * row["item_coverage"]
    if name == "entropy_nats":
        return row["entropy"]
    return row[name]


def headline_metrics(
    summary: pl.DataFrame, *, models: Sequence[str], k: int, beta: float
) -> dict[str, dict[str, dict[str, float]]]:
    """The thirteen numbers per model that ``dvc exp show`` and ``dvc metrics diff`` compare, keyed by
    role: ``{model: {method: {"dro@k": …}}}`` for Table III's rows at ``k`` (:data:`HEADLINE`: DDT
    and MDR at β = ``beta``; the re-rankers under their published names, ``mmr`` and ``dpp``): DRO@k,
    ``relevance@k`` (predicted, eq. 12), ``ndcg@k`` (on held-out ratings),
    ``gain_beyond_pp@k``, DDT's DRO gain in ranks k+1..2k over the relevance-only model of the same
    seed in percentage points (the unit of Tables IV and VI), and DDT's aggregate diversity:
    ``item_coverage_pct@k`` (percent of the catalogue listed to someone), ``gini@k`` (of item
    exposure, 0 = even) and ``entropy_nats@k`` (of item exposure). The k in every name keeps values
    measured at different k apart; a row that did not run is left out. Few, so that
    ``dvc exp show --only-changed`` stays readable.
    """
    headline = {}
    for model in models:
        rows = {}
        for method, names in HEADLINE.items():
            param = beta if BY_KEY[method].trained else None
            row = summary_row(summary, model=model, method=method, k=k, param=param)
            if row is not None:
                rows[PUBLISHED_KEY.get(method, method)] = {
                    f"{name}@{k}": round(_headline_value(row, name), 4) for name in names
                }
        headline[model] = rows
    return headline


def published_value(paper: pl.DataFrame | None, **match: object) -> str:
    """A published "mean (std)" as printed, of the row matching ``match`` (column: value);
    :data:`MISSING` if none."""
    if paper is None:
        return MISSING
    rows = paper.filter(*[pl.col(column) == value for column, value in match.items()])
    if rows.is_empty():
        return MISSING
    row = rows.row(0, named=True)
    return row["mean"] + (f" ({row['std']})" if row["std"] else "")


def table3(
    summary: pl.DataFrame,
    *,
    dataset: str,
    models: Sequence[str],
    k: int,
    betas: Sequence[float],
    epochs: int,
    seeds: Sequence[int],
    select: str,
    published: pl.DataFrame | None,
    digits: int = 3,
) -> Table:
    """Table III: rows :data:`TABLE3_ROWS` (DDT and MDR once per β of ``betas``); per model of
    ``models`` the columns of :data:`TABLE3_COLUMNS` at k, "mean (std)" over seeds; then the paper's
    NMF pair (DRO, predicted relevance).

    Args:
        summary: the summaries of the baselines and the main_table runs over ``seeds`` alone
            (:func:`divlib.study.evaluation.summarize` of their per-user rows at those seeds).
        published: the paper's rows of one dataset (:func:`divlib.study.readers.paper_rows`).

    Raises:
        DivlibError: a row averages another number of seeds than ``seeds`` holds (the caption names
            them for every row).
    """
    paper = published_main_rows(published, k)
    ours = tuple(label.format(k=k) for label in TABLE3_COLUMNS.values())
    groups = [(model.upper(), len(ours)) for model in models]
    columns = ours * len(models)
    if paper is not None:
        groups.append((f"{_paper_label(paper, dataset)} NMF", len(PAPER_COLUMNS)))
        columns += tuple(TABLE3_COLUMNS[m].format(k=k) for m in PAPER_COLUMNS)
    rows = []
    for method in TABLE3_ROWS:
        for param in betas if BY_KEY.get(method) and BY_KEY[method].trained else [None]:
            label = BY_KEY[method].label + ("" if param is None else f" (β = {param:g})")
            cells = []
            for model in models:
                row = summary_row(summary, model=model, method=method, k=k, param=param) or {}
                _check_seeds(row, seeds, label)
                cells += [mean_std(row.get(m), row.get(f"{m}_std"), digits) for m in TABLE3_COLUMNS]
            if paper is not None:
                key = PUBLISHED_KEY.get(method, method)
                cells += [published_value(paper, method=key, metric=m) for m in PAPER_COLUMNS]
            rows.append((label, tuple(cells)))
    caption = _table3_caption(k, dataset, betas, epochs, seeds, select, paper)
    return Table(caption, "Method", tuple(groups), columns, tuple(rows))


def _check_seeds(row: dict, seeds: Sequence[int], label: str) -> None:
    """A DivlibError if the summary ``row`` averages another number of seeds than ``seeds``."""
    count = row.get("seeds")
    if count is not None and count != len(seeds):
        raise DivlibError(
            f"Table III: the {label} row averages {count} seeds, the caption names "
            f"{len(seeds)} ({', '.join(map(str, seeds))}); summarise every row over those seeds "
            "(divlib.study.readers.matched_per_user)"
        )


def gain_table(
    summary: pl.DataFrame,
    *,
    method: str,
    dataset: str,
    models: Sequence[str],
    ks: Sequence[int],
    beta: float,
    epochs: int,
    seeds: Sequence[int],
    published: pl.DataFrame | None,
) -> Table:
    """Table IV (``method`` ddt) or VI (mdr): rows k of ``ks``; per model of ``models`` the gain of the
    run fine-tuned for k (``train_k`` = k), evaluated at k, over the relevance-only model of its seed,
    in percentage points, on ranks 1..k and k+1..2k: "mean (std)" over seeds of the paired gains
    (:func:`divlib.study.evaluation.summarize`); then the paper's printed values.

    Args:
        summary: the gain_beyond_k experiment's summaries, stacked.
        published: the paper's rows of one dataset (:func:`divlib.study.readers.paper_rows`).
    """
    paper = published_gain_rows(published, method, beta)
    sources = ["ours"] + ([_paper_label(paper, dataset)] if paper is not None else [])
    columns = tuple(f"{source} {ranks}" for source in sources for ranks in ("1..k", "k+1..2k"))
    rows = []
    for k in ks:
        cells = []
        for model in models:
            row = summary_row(summary, model=model, method=method, k=k, param=beta, train_k=k)
            cells += [_points(row, "dro"), _points(row, "dro_beyond")]
            if paper is not None:
                cells += [
                    published_value(paper, model=model, k=k, metric=m)
                    for m in ("gain_pct", "gain_beyond_pct")
                ]
        rows.append((str(k), tuple(cells)))
    groups = tuple((model.upper(), len(columns)) for model in models)
    caption = _gain_caption(method, dataset, beta, epochs, seeds, paper)
    return Table(caption, "k", groups, columns * len(models), tuple(rows))


def _points(row: dict | None, metric: str) -> str:
    """A gain in percentage points, "mean (std)" over seeds; :data:`MISSING` if it did not run."""
    row = row or {}
    gain, std = row.get(f"{metric}_gain"), row.get(f"{metric}_gain_std")
    return mean_std(
        100 * gain if is_number(gain) else None, 100 * std if is_number(std) else None, 1
    )


def published_main_rows(published: pl.DataFrame | None, k: int) -> pl.DataFrame | None:
    """The published Table III rows at ``k`` (NMF, and DGRec, which has no model)."""
    if published is None:
        return None
    rows = published.filter(
        (pl.col("table") == "main")
        & (pl.col("k") == k)
        & pl.col("model").fill_null("nmf").eq("nmf")
    )
    return None if rows.is_empty() else rows


def published_gain_rows(
    published: pl.DataFrame | None, method: str, beta: float
) -> pl.DataFrame | None:
    """The published rows of Table IV (``method`` ddt) or VI (mdr) at ``beta``; None if none."""
    if published is None:
        return None
    rows = published.filter(
        (pl.col("table") == "gain_beyond_k") & (pl.col("method") == method) & param_is(beta)
    )
    return None if rows.is_empty() else rows


def _paper_label(paper: pl.DataFrame, dataset: str) -> str:
    reference = paper["dataset"][0]
    return "paper" if reference == dataset else f"paper {reference}"


def _where(paper: pl.DataFrame, dataset: str) -> str:
    reference = paper["dataset"][0]
    if reference == dataset:
        return "for this dataset"
    return f"for {reference}, another dataset than ours, shown as a reference for magnitudes only"


def _table3_caption(
    k: int,
    dataset: str,
    betas: Sequence[float],
    epochs: int,
    seeds: Sequence[int],
    select: str,
    paper: pl.DataFrame | None,
) -> str:
    settings = ", ".join(f"{b:g}" for b in betas)
    text = (
        f"Table III: diversity and relevance at k = {k} on {dataset}. DRO@{k}: mean pairwise genre "
        f"distance (1 − Jaccard) within the top-{k} list, higher is more diverse. Relevance@{k} "
        f"(predicted, eq. 12): the share of the top-{k} items whose preference likelihood "
        f"σ(1.5 · (r̂ − 3)) exceeds 0.8, a threshold on the relevance-only model's or the "
        f"fine-tuned model's own predicted ratings, not on held-out ones. Precision@{k}, "
        f"recall@{k}, NDCG@{k}: "
        f"on held-out ratings, full catalogue (every item the user did not rate in training or "
        f"validation is ranked; a test rating ≥ 4 is a hit; users without one are left out). Test "
        f"MSE: the mean over users of each user's squared error on their test ratings; only models "
        f"predict ratings ({MISSING} for re-rankers and anchors). Every row is a mean (std) over "
        f"the same seeds {', '.join(map(str, seeds))}; {MISSING}: not run. Rows: "
        f"{BY_KEY['popular'].label} and {BY_KEY['random'].label}, anchors without a model (the "
        f"unrated items by training popularity; a uniformly random order, drawn per seed; their "
        f"predicted relevance reads the relevance-only model's predictions); "
        f"{BY_KEY['base'].label}, each seed's pretrained model; {BY_KEY['mmr-paper'].label}, "
        f"{BY_KEY['dum'].label} and {BY_KEY['dpp-paper'].label} re-rank it as the paper's code "
        f"base (EXPLORE) does, over every item the user did not rate (DUM over the model's "
        f"candidate pool); {BY_KEY['dgrec'].label}, the GNN recommender of Yang et al. (WSDM 2023) "
        f"trained per seed on the training split (divlib.dgrec; its own model, so its column "
        f"under each model differs only in the model whose predictions judge relevance); "
        f"{BY_KEY['ddt'].label} and "
        f"{BY_KEY['mdr'].label} fine-tune it with β = {settings} for {epochs} epochs and keep the "
        f"epoch selected by '{select}'. Beyond the paper, the aggregate diversity of all users' "
        f"top-{k} lists together (RecBole's and Elliot's definitions): item coverage@{k}, the share "
        f"of the catalogue listed to at least one user; Gini@{k}, the Gini index of how often each "
        f"catalogue item is listed (0: every item equally often; 1 − {k}/m if every user gets the "
        f"same {k} items); entropy@{k}, the Shannon entropy of that exposure in nats (ln m at "
        f"most, ln {k} if every user gets the same items)."
    )
    if paper is None:
        return text + " The paper publishes no numbers for this dataset or for a similar one."
    return text + (
        f" Paper columns: published numbers {_where(paper, dataset)}, as printed (Table III: NMF, "
        f"DDT and MDR at β = 0.2 after 100 epochs, most diverse checkpoint, 10 runs; the re-rankers' "
        f"parameters are not published; its relevance is eq. 12's, predicted)."
    )


def _gain_caption(
    method: str,
    dataset: str,
    beta: float,
    epochs: int,
    seeds: Sequence[int],
    paper: pl.DataFrame | None,
) -> str:
    name = BY_KEY[method].label
    text = (
        f"{GAIN_TABLES.get(method, 'Gain table')}: diversity gain of {name} (β = {beta:g}, "
        f"{epochs} fine-tuning epochs) over the relevance-only model on {dataset}, in percentage "
        f"points: 100 × (DRO − DRO of the pretrained model of the same seed), the paper's form (an "
        f"absolute difference), on the top k ranks (1..k) and on the next k (k+1..2k). Each row k is "
        f"the run fine-tuned for that k, evaluated at that k. Mean (std) over seeds "
        f"{', '.join(map(str, seeds))} of the per-seed gains; {MISSING}: not run."
    )
    if paper is None:
        return text + " The paper publishes no gains for this dataset or for a similar one."
    return text + (
        f" Paper columns: published gains {_where(paper, dataset)}, as printed (β = 0.5, 10 "
        f"fine-tuning epochs, 10 runs), read in the order of the printed header (1..k for k = 5 … "
        f"40, then k+1..2k for k = 5 … 40), which the paper's text supports (\"79.3±7.6 in NCF at "
        f'k = 20"). Its NCF rows and all MDR rows alternate high/low as if typeset interleaved '
        f"(k = 5: 1..k, k+1..2k; k = 10: …), in which case these columns would be shuffled: "
        f"reports/paper/README.md, caveat 1."
    )
