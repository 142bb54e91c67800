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
# The report of one dataset, run by stages/report.py, in the paper's order: Fig. 1 (Q1), Table III
# (Q2), Tables IV and VI (Q3), Fig. 2 (Q4), Table V, Lemma 3, the verdicts and their robustness,
# then the extras. It shows
# the pipeline's outputs (figures, tables, metrics) and recomputes nothing.
import json
from pathlib import Path

import polars as pl
from IPython.display import Image, Markdown, display

from divlib.study.layout import Layout
from divlib.study.render import frame_table, read_table, to_markdown

# %% tags=["parameters"]
dataset = "ml-100k"
root = "."
k = 10  # diversity.k: the list length fine-tuned for and shown
models = ["nmf", "ncf"]  # the pretrained models
seeds = [1, 2, 3]  # the seeds of every experiment unless it lists its own
experiments = {  # each experiment's models, seeds and fine-tuning epochs, as in params.yaml
    "beta_sweep": {"models": ["nmf", "ncf"], "seeds": [1, 2, 3], "epochs": 10},
    "main_table": {"models": ["nmf"], "seeds": [1, 2, 3], "epochs": 100},
    "gain_beyond_k": {"models": ["nmf", "ncf"], "seeds": [1, 2, 3], "epochs": 10},
    "training_curves": {"models": ["nmf", "ncf"], "seeds": [1], "epochs": 100},
    "adaptive_beta": {"models": ["nmf", "ncf"], "seeds": [1, 2, 3], "epochs": 10},
}

# %%
base = Path(root)
layout = Layout(base)
figures = layout.figures(dataset)
PAPER = {  # what each experiment reproduces
    "beta_sweep": "Q1: Fig. 1 and 4",
    "main_table": "Q2: Table III",
    "gain_beyond_k": "Q3: Tables IV and VI",
    "training_curves": "Q4: Fig. 2",
    "adaptive_beta": "Lemma 3",
}


def show(text: str) -> None:
    display(Markdown(text))


def show_table(frame: pl.DataFrame, caption: str = "") -> None:
    show(to_markdown(frame_table(frame, caption)))


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def listed(values: list) -> str:
    return ", ".join(map(str, values))


def seeds_of(name: str) -> str:
    """The seeds of experiment ``name`` as a phrase: "seeds 1, 2, 3" or "seed 1"."""
    values = experiments[name]["seeds"]
    return f"seed{'s' if len(values) > 1 else ''} {listed(values)}"


def epochs_of(name: str) -> str:
    return f"{experiments[name]['epochs']} epochs"


def show_stored_table(name: str, what: str, lead: str) -> None:
    """The tables stage's table ``name`` (its JSON, rendered here) under a one-line lead
    (**what.** lead), or a note that it is missing."""
    path = layout.table(dataset, name, ".json")
    if path.is_file():
        show(f"**{what}.** {lead}\n\n{to_markdown(read_table(path))}")
    else:
        show(f"*{what} is missing: {path.relative_to(base)} was not found.*")


def show_figure(name: str, caption: str) -> None:
    """The figures stage's PNG ``name`` under its caption, or a note that it is missing."""
    path = figures / f"{name}.png"
    if path.is_file():
        show(caption)
        display(Image(filename=str(path), metadata={"alt": caption}))
    else:
        show(f"*Figure {name} is missing: {path.relative_to(base)} was not found.*")


fewer = [name for name, setting in experiments.items() if setting["seeds"] != seeds]
show(
    f"# Diversity report: {dataset}\n\n"
    f"Models {listed(models).upper()}, lists of k = {k}. Every result is a mean (std) over "
    f"seeds {listed(seeds)}: each seed pretrains its own model and fine-tunes it (the data split is "
    "fixed)"
    + "".join(f"; {PAPER[name]} uses {seeds_of(name)} only" for name in fewer)
    + ". Built from the pipeline's outputs (figures, tables, metrics); nothing is recomputed."
)
show_table(
    pl.DataFrame(
        {
            "experiment": list(experiments),
            "reproduces": [PAPER[name] for name in experiments],
            "models": [listed(s["models"]).upper() for s in experiments.values()],
            "seeds": [listed(s["seeds"]) for s in experiments.values()],
            "fine-tuning epochs": [s["epochs"] for s in experiments.values()],
        }
    ),
    "The experiments (params.yaml).",
)

# %% [markdown]
# ## Dataset and pretraining

# %%
meta = read_json(layout.meta(dataset))
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
pretrained = {model: read_json(layout.pretraining(dataset, model)) for model in models}
rows = [
    {
        "model": model.upper(),
        "seed": seed.removeprefix("seed"),
        "validation MSE": v["val_mse"],
        "selected epoch": v["selected_epoch"],
        "epochs run": v["epochs_run"],
    }
    for model, by_seed in pretrained.items()
    if by_seed
    for seed, v in by_seed.items()
]
if rows:
    show_table(
        pl.DataFrame(rows),
        "Relevance pretraining, one model per seed: the epoch of lowest validation MSE is kept.",
    )
else:
    show(f"*Pretraining metrics are missing: no metrics/{dataset}/pretrain/MODEL.json was found.*")

# %% [markdown]
# ## Q1: diversity against β (Fig. 1)

# %%
show_figure(
    "fig1_beta_sweep",
    f"**Fig. 1.** Recall@{k}, DRO@{k}, category coverage@{k}, item coverage@{k} (the share of the "
    f"catalogue in at least one user's list; beyond the paper) and NDCG@{k} (recall and NDCG over "
    "the full catalogue, on held-out ratings: what the Q1 verdict judges) of DDT and MDR against β "
    "of L_JOINT = β·L_MSE − (1−β)·L_DDRO, one row per model, fine-tuned for "
    f"{epochs_of('beta_sweep')} from the pretrained model; mean ± std over "
    f"{seeds_of('beta_sweep')}. β = 1 (dotted) is the control, fine-tuned the same way for relevance "
    "only; dashed: the pretrained model.",
)

# %% [markdown]
# ## Q2: diversity and relevance of every method (Table III)

# %%
show_stored_table(
    "table3",
    "Table III",
    f"DRO@{k}, the aggregate diversity of all users' lists (item coverage, Gini index and entropy "
    f"of item exposure @{k}) and the paper's relevance@{k} (eq. 12, on predicted ratings) of the "
    f"anchors, the pretrained model, the re-rankers and the fine-tuned models "
    f"({epochs_of('main_table')}), beside ground-truth measures on held-out ratings "
    f"(full-catalogue precision, recall and NDCG@{k}; test MSE), every row a mean (std) over "
    f"{seeds_of('main_table')}.",
)
for name, measure in (
    ("q2_pareto_predicted", "the paper's predicted relevance (eq. 12)"),
    ("q2_pareto_ndcg", f"NDCG@{k} on held-out ratings"),
):
    show_figure(
        name,
        f"**Q2 at matched relevance, by {measure}.** DRO@{k} against {measure}: MMR over λ and "
        "DPP over θ as curves, the paper's settings, DUM, the pretrained model and the anchors as "
        "points, DDT and MDR with bars of ± their std over "
        f"{seeds_of('main_table')}; means over those seeds. A re-ranker's setting in the shaded "
        "region is at least as diverse and as relevant as DDT; the verdict (below) counts it as "
        "dominating DDT when its paired 95 % interval over seeds is clear of 0 on one axis.",
    )

# %% [markdown]
# ## Q3: diversity gain beyond the optimised top k (Tables IV and VI)

# %%
show_stored_table(
    "table4",
    "Table IV",
    "DDT's diversity gain over the pretrained model within the top k it was trained "
    f"for (1∼k) and beyond it (k+1∼2k), {epochs_of('gain_beyond_k')}, {seeds_of('gain_beyond_k')}.",
)
show_stored_table("table6", "Table VI", "The same for MDR.")

# %% [markdown]
# ## Q4: soft DDRO tracks hard DRO during training (Fig. 2)

# %%
show_figure(
    "fig2_training_curves",
    f"**Fig. 2.** The monitored users' soft DDRO (dashed) and hard DRO@{k} (solid) per epoch, "
    "fine-tuned from the pretrained model and trained from scratch on L_JOINT, one panel per model "
    f"and method; {epochs_of('training_curves')}, {seeds_of('training_curves')} (mean ± std where "
    "there are several).",
)
show(
    "**Why the from-scratch DDRO starts at 0.** The soft rank of eq. (7) projects −scores/ε onto the "
    "permutahedron, which pools items whose scores differ by less than about ε per rank. A fresh "
    "model's scores differ by a few thousandths, far less than the ε·m they must spread over before "
    f"any item's soft rank comes near k ({k}): at ε = 1/m that is a whole rating point. Until then "
    "every soft top-k membership σ((k − z̃)/τ) underflows to 0, and so do DDRO and its gradient: only "
    "L_MSE trains, and with few steps an epoch the zero phase lasts whole epochs. The verdict table's "
    "Q4 rows give its length in these runs. Rerun at the official code's ε = 1e-4 (`python "
    "bench/scratch_eps.py`; measured on ml-100k, seed 1, 8 steps an epoch), DDRO leaves 0 in epoch 2 "
    "for both models, against epoch 5 for NMF (after 12 steps instead of 33) and epoch 3 for NCF "
    "(after 9 instead of 17) at ε = 1/m."
)

# %% [markdown]
# ## Case study (Table V)

# %%
show_stored_table(
    "table5",
    "Table V",
    f"One user's top-{k} before and after DDT fine-tuning (the first seed's Table III run); the "
    "caption names the user and the rule of params.yaml's case_study that chose it.",
)

# %% [markdown]
# ## Lemma 3: the adaptive β

# %%
show_figure(
    "fig_lemma3_adaptive_beta",
    "**Lemma 3.** DDT with β chosen at every step: the paper's min-norm β* and the normalised "
    "b/(a+b), inside the feasible interval [β_low, β_high] in which the step decreases both losses "
    f"to first order; {epochs_of('adaptive_beta')}, mean over {seeds_of('adaptive_beta')}.",
)

# %% [markdown]
# ## Verdicts

# %%
show_stored_table(
    "verdicts",
    "Verdict table",
    "Each of the paper's claims against our numbers, decided by the stated rule. Every difference "
    "is paired by seed (each seed pretrains its own model) and weighed by its 95 % t interval over "
    "seeds: positive when the interval lies above 0, negative when below, else inconclusive; "
    "'comparisons' counts the intervals a verdict rests on, and a claim with none (no runs, or one "
    "seed) is 'not decided'. Q1 judges relevance by full-catalogue recall on held-out ratings, not "
    "by the paper's predicted relevance; Lemma 3's β* lies in its interval by algebra (a unit "
    "test), so its verdict judges the drift of β* during training.",
)

# %% [markdown]
# ## Robustness of the verdicts (beyond the paper)

# %%
show_stored_table(
    "robustness",
    "Robustness table",
    "Q2 and Q3 judged by the same rules as the verdict table, once per variant: the default "
    "setting with one change (the pretraining recipe, the item similarity S, or ε). A verdict "
    "that changes across a row depends on that choice.",
)
show_figure(
    "robustness_gain_beyond_k",
    "**Robustness: what the sign of the beyond-k gain follows.** Each point is one seed: the "
    "pretrained model's DRO on ranks k+1..2k (x) against DDT's DRO gain there over that model "
    "(y, points), one colour per pretraining recipe, one panel per model and k; r: Pearson's "
    "correlation over the panel's points. A gain that falls as the pretrained model's own "
    "diversity beyond k rises follows the pretraining, not DDT.",
)

# %% [markdown]
# ## Beyond the paper

# %%
EXTRAS = {
    "tradeoff": f"**Trade-off.** DRO@{k} against relevance@{k}, one panel per model: DDT and MDR over "
    "β (Fig. 1's runs), MMR over λ and DPP over θ (tuned grids), and single points: the pretrained "
    "model, DUM, and MMR and DPP as the paper ran them.",
    "sensitivity": "**Sensitivity.** DDT's DRO@k and relevance@k against the soft-rank strength ε, "
    f"one line per k, fine-tuned from the model pretrained with seed {seeds[0]}; dotted: that model.",
    "fig4_beta_sweep_appendix": f"**Fig. 4 (appendix).** Test MSE, HR@{k} and precision@{k} on the "
    "test items against β, as Fig. 1.",
    "category_histogram": f"**Genres.** Share of top-{k} slots per genre, over all users, before and "
    "after the case study's DDT run.",
}
for name, caption in EXTRAS.items():
    show_figure(name, caption)
shown = {
    "fig1_beta_sweep",
    "fig2_training_curves",
    "fig_lemma3_adaptive_beta",
    *EXTRAS,
    "q2_pareto_predicted",
    "q2_pareto_ndcg",
    "robustness_gain_beyond_k",
}
for path in sorted(figures.glob("*.png")):
    if path.stem not in shown:
        show_figure(path.stem, f"**{path.stem.replace('_', ' ')}.**")
