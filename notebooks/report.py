# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %%
# The report of one dataset, run by stages/report.py. It reads the pipeline's outputs (metrics, summaries,
# tables, figures) and recomputes nothing.
import json
import re
from pathlib import Path

import polars as pl
from IPython.display import Image, Markdown, display

from divlib.tables import describe_tradeoff, frame_table, model_order, nearest_settings, to_markdown

# %% tags=["parameters"]
dataset = "ml-100k"
root = "."
choose = {"ddt": 0.5, "mdr": 0.5, "mmr": 0.5, "dpp": 0.7}  # the setting of each trade-off grid

# %%
base = Path(root)
reports = base / "reports" / dataset
evaluation = base / "data" / "evaluation" / dataset
metrics = base / "metrics" / dataset
models = model_order([p.parent.name for p in evaluation.glob("*/summary.parquet")])
FIGURES = {  # the figures stage's PNGs, in reading order, with their captions
    "tradeoff": "Diversity (DRO@k) against predicted relevance (@k), one panel per model: DDT and MDR "
    "over β, MMR over λ, DPP over θ, the other methods as single points.",
    "beta_sweep": "Metrics @k of DDT and MDR against β of L_JOINT = β·L_MSE − (1−β)·L_DDRO, one "
    "column per model; dashed: the relevance-only model.",
    "training_curves": "Soft DDRO (dashed) and hard DRO@k (solid) during training, DDT fine-tuned "
    "from the pretrained model and trained from scratch.",
    "adaptive_beta": "DDT-adaptive: β per step inside its feasible band.",
    "sensitivity": "DDT's DRO@k and relevance@k against the soft-rank strength ε, one line per k.",
    "category_histogram": "Share of top-k slots per genre before and after DDT, over all users.",
}


def show(text: str) -> None:
    display(Markdown(text))


def show_table(frame: pl.DataFrame, caption: str = "") -> None:
    show(to_markdown(frame_table(frame, caption)))


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def show_file(path: Path, what: str) -> None:
    """Show a Markdown output of the pipeline, its headings below this report's, or say it is missing."""
    if path.is_file():
        show(re.sub(r"^(#+) ", r"##\1 ", path.read_text(), flags=re.MULTILINE))
    else:
        show(f"*{what} is missing: {path.relative_to(base)} was not found.*")


def main_k(evaluated: dict) -> int:
    """The k of ``evaluate.json`` (its metrics are named ``name@k``)."""
    return int(next(iter(next(iter(evaluated.values())))).split("@")[1])


show(
    f"# Diversity report: {dataset}\n\n"
    f"Models: {', '.join(m.upper() for m in models) or 'none evaluated yet'}. Built from the "
    f"pipeline's outputs (metrics, evaluation summaries, tables, figures); nothing is recomputed."
)

# %% [markdown]
# ## Dataset

# %%
meta = read_json(base / "data" / "prepared" / dataset / "meta.json")
if meta is None:
    show("*data/prepared meta.json is missing.*")
else:
    split = meta["split"]
    facts = {
        "users": meta["users"],
        "items": meta["items"],
        "ratings": meta["ratings"],
        "density": meta["density"],
        "rating range": f"{meta['rating_min']:g}–{meta['rating_max']:g}",
        "categories (genres)": meta["categories"],
        "distinct category sets": meta["category_sets"],
        "catalogue DRO (all item pairs)": meta["catalogue_dro"],
        "train / validation / test ratings": f"{split['train']} / {split['val']} / {split['test']}",
        "source": meta["source"],
    }
    frame = pl.DataFrame({"property": list(facts), "value": [str(v) for v in facts.values()]})
    show_table(frame)

# %% [markdown]
# ## Diversity and relevance

# %%
show_file(reports / "tables" / "main.md", "The main table")

# %% [markdown]
# ### The trade-off, in numbers
#
# Predicted relevance is the paper's measure: it is computed from each model's own predicted ratings,
# so fine-tuning can raise it while the held-out NDCG falls.

# %%
evaluated = {m: read_json(metrics / m / "evaluate.json") for m in models}
k = main_k(evaluated[models[0]]) if models else None
for model in models:
    summary = pl.read_parquet(evaluation / model / "summary.parquet")
    sentences = describe_tradeoff(summary, k=k, choose=nearest_settings([summary], choose))
    show(f"**{model.upper()}**\n\n" + "\n".join(f"- {s}" for s in sentences))

# %% [markdown]
# ## Diversity gain beyond the optimised top k

# %%
show_file(reports / "tables" / "gain_beyond_k.md", "The gain table")

# %% [markdown]
# ## Figures

# %%
folder = reports / "figures"
others = sorted(p.stem for p in folder.glob("*.png") if p.stem not in FIGURES)
for name, caption in (FIGURES | dict.fromkeys(others, "")).items():
    path = folder / f"{name}.png"
    if path.is_file():
        show(f"**{name.replace('_', ' ')}.** {caption}")
        display(Image(filename=str(path), metadata={"alt": caption or name}))
    else:
        show(f"*Figure {name} is missing: {path.relative_to(base)} was not found.*")
show_file(folder / "case_study.md", "The case study")

# %% [markdown]
# ## Per-model metrics

# %%
for model in models:
    show(f"### {model.upper()}")
    pretrain = read_json(metrics / model / "pretrain.json")
    if pretrain:
        show(
            f"Pretraining: validation MSE {pretrain['val_mse']:.4f} "
            f"at epoch {pretrain['selected_epoch']}."
        )
    finetuned = read_json(metrics / model / "finetune.json")
    if finetuned:
        runs = pl.DataFrame(
            [
                {"run": run, "DRO before": v["dro_before"], "DRO after": v["dro_after"],
                 "validation MSE": v["val_mse"]}
                for run, v in finetuned.items()
            ]
        )  # fmt: skip
        show_table(
            runs,
            f"Fine-tuning runs: DRO@{k} of all users (training items excluded) before and after, "
            "and the selected epoch's validation MSE.",
        )
    if evaluated[model]:
        rows = pl.DataFrame(
            [{"run": run} | values for run, values in evaluated[model].items()]
        ).rename(lambda name: name.removesuffix(f"@{k}"))
        show_table(rows, f"Evaluation at k = {k} (metrics/{dataset}/{model}/evaluate.json).")
