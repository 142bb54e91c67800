"""Where the workflow's files live, relative to one project root: the only place a path is spelled.

    data/raw/D/                     raw files as fetched (digests.json)
    data/prepared/D/                ratings, items, train, val, test (.parquet), meta.json
    data/similarity/D/distance.pt   the item distance
    models/D/M/base/seedS.pt        the model pretrained with seed S (+ epochs.parquet, every seed)
    models/D/dgrec/seedS.pt         DGRec trained with seed S (+ epochs.parquet, every seed)
    models/D/M/E/NAME/              one run of experiment E: selected.pt, final.pt, steps/epochs.parquet,
                                    run.json
    data/rerank/D/M/lists.parquet   the re-rankers' lists (every seed's model)
    data/evaluation/D/M/E/          per_user.parquet, per_run.parquet, summary.parquet; E = baselines
                                    for the pretrained models and the re-rankers
    data/sensitivity/D/results.parquet
    data/robustness/D/M/V/          one variant V of the robustness table (VARIANT_FILES): its own
                                    pretrained models (a recipe's), runs, summaries and per-seed means
    metrics/D/headline.json         the headline numbers ``dvc metrics`` and ``dvc exp`` compare (and
                                    data.json, similarity.json: the data's size)
    metrics/D/pretrain/M.json       the pretraining record per seed (a plain output, not a metric)
    metrics/D/[M/]NAME.json         per-run records: each experiment's runs, the sensitivity grid
                                    (plain outputs, not metrics)
    reports/D/                      figures/, tables/ (NAME.md, .tex, .json), report.ipynb, .html
    times/D/M/E.json                wall times of experiment E's runs (device, run, every step);
                                    distributed-NAME.json for a data-parallel run
    times/stages.jsonl              each stage's wall time, one line per stage run

Times are kept out of every output that git or ``dvc.lock`` tracks (``times/`` is in .gitignore and
no stage's output): they differ between two runs of the same code, and the results must not.

D is a dataset name, M a model name. The layout knows nothing of DVC: ``dvc.yaml`` names the same paths.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import torch

from divlib.errors import DivlibError, UnreadableFile
from divlib.io import first_line
from divlib.train import Interactions

RUN_FILES = {  # one fine-tuning run's folder (Layout.runs(D, M, E) / NAME)
    "selected": "selected.pt",  # the selected epoch's model (divlib.models.load_model)
    "final": "final.pt",  # the last epoch's model
    "steps": "steps.parquet",  # one row per step
    "epochs": "epochs.parquet",  # one row per epoch
    "record": "run.json",  # identity, record and options
}


def run_file(run: Path, name: str) -> Path:
    """The file ``name`` (a key of :data:`RUN_FILES`) of the run folder ``run``."""
    return run / RUN_FILES[name]


def seed_file(folder: Path, seed: int) -> Path:
    """The model pretrained with ``seed`` in a folder of pretrained models (``seedS.pt``)."""
    return folder / f"seed{seed}.pt"


VARIANT_FILES = {  # one robustness variant's folder (Layout.robustness(D, M, V))
    "bases": "base",  # a recipe's own pretrained models (seed_file), as models/D/M/base
    "runs": "runs",  # its fine-tuning runs, one folder each (RUN_FILES)
    "main_table": "main_table.parquet",  # summary: the pretrained model, re-rankers, Q2's DDT
    "gain_beyond_k": "gain_beyond_k.parquet",  # summary: the pretrained model, Q3's DDT runs
    "seeds": "seeds.parquet",  # per-seed means over users of both (column experiment)
    "setting": "variant.json",  # what the variant changes, resolved
}


def variant_file(folder: Path, name: str) -> Path:
    """The file ``name`` (a key of :data:`VARIANT_FILES`) of a robustness variant's ``folder``."""
    return folder / VARIANT_FILES[name]


WRITERS = {  # the first folders of a file → the stage that writes it (models/, data/evaluation/:
    # by experiment, Layout.writer)
    ("data", "raw"): "download",
    ("data", "prepared"): "prepare",
    ("data", "similarity"): "similarity",
    ("data", "rerank"): "rerank",
    ("data", "sensitivity"): "sensitivity",
    ("data", "robustness"): "robustness",
}
RUN_IDENTITY = ("method", "param", "seed")  # in every run.json, read by every reader of runs


@dataclass(frozen=True)
class Layout:
    """The file layout under ``root`` (default: the working directory)."""

    root: Path = Path()

    def raw(self, dataset: str) -> Path:
        return self.root / "data" / "raw" / dataset

    def manual(self, dataset: str) -> Path:
        """Where the user places the raw files of a dataset that cannot be downloaded."""
        return self.root / "data" / "manual" / dataset

    def prepared(self, dataset: str) -> Path:
        return self.root / "data" / "prepared" / dataset

    def meta(self, dataset: str) -> Path:
        """The prepared data's facts: sizes, split, source."""
        return self.prepared(dataset) / "meta.json"

    def items(self, dataset: str) -> Path:
        """The catalogue: item, title, categories."""
        return self.prepared(dataset) / "items.parquet"

    def distance(self, dataset: str) -> Path:
        return self.root / "data" / "similarity" / dataset / "distance.pt"

    def model(self, dataset: str, model: str) -> Path:
        """The folder of one model: ``base/`` and one folder of runs per experiment."""
        return self.root / "models" / dataset / model

    def bases(self, dataset: str, model: str) -> Path:
        """The pretrained models, one per seed, and their per-epoch losses."""
        return self.model(dataset, model) / "base"

    def base(self, dataset: str, model: str, seed: int) -> Path:
        return seed_file(self.bases(dataset, model), seed)

    def base_epochs(self, dataset: str, model: str) -> Path:
        return self.bases(dataset, model) / "epochs.parquet"

    def dgrec(self, dataset: str) -> Path:
        """The DGRec baselines, one per seed (:func:`seed_file`), and their per-epoch losses."""
        return self.model(dataset, "dgrec")

    def runs(self, dataset: str, model: str, experiment: str) -> Path:
        """The run folders of one experiment (a params.yaml section, e.g. ``beta_sweep``)."""
        return self.model(dataset, model) / experiment

    def distributed(self, dataset: str, model: str, name: str) -> Path:
        """A data-parallel run (outside every DVC stage's inputs)."""
        return self.root / "data" / "distributed" / dataset / model / name

    def rerank(self, dataset: str, model: str) -> Path:
        return self.root / "data" / "rerank" / dataset / model / "lists.parquet"

    def evaluation(self, dataset: str, model: str | None = None) -> Path:
        folder = self.root / "data" / "evaluation" / dataset
        return folder if model is None else folder / model

    def per_user(self, dataset: str, model: str, experiment: str) -> Path:
        """Every evaluated run × k × user of one experiment (``baselines``: models and re-rankers)."""
        return self.evaluation(dataset, model) / experiment / "per_user.parquet"

    def per_run(self, dataset: str, model: str, experiment: str) -> Path:
        """Every evaluated run × k of one experiment: the aggregate diversity of all users' lists."""
        return self.evaluation(dataset, model) / experiment / "per_run.parquet"

    def summary(self, dataset: str, model: str, experiment: str) -> Path:
        """Means (std) over seeds, gains and p-values per run setting and k."""
        return self.evaluation(dataset, model) / experiment / "summary.parquet"

    def sensitivity(self, dataset: str) -> Path:
        return self.root / "data" / "sensitivity" / dataset / "results.parquet"

    def robustness(self, dataset: str, model: str, variant: str) -> Path:
        """One variant of the robustness table (:data:`VARIANT_FILES`)."""
        return self.root / "data" / "robustness" / dataset / model / variant

    def pretraining(self, dataset: str, model: str) -> Path:
        """``metrics/D/pretrain/M.json``: the pretraining record per seed, in a folder of its own so
        that the report depends on it alone."""
        return self.root / "metrics" / dataset / "pretrain" / f"{model}.json"

    def metrics(self, dataset: str, name: str, model: str | None = None) -> Path:
        """``metrics/D/NAME.json``, or ``metrics/D/M/NAME.json`` for a model's metrics."""
        folder = self.root / "metrics" / dataset
        return (folder if model is None else folder / model) / f"{name}.json"

    def reports(self, dataset: str) -> Path:
        return self.root / "reports" / dataset

    def figures(self, dataset: str) -> Path:
        """PNG and PDF figures."""
        return self.reports(dataset) / "figures"

    def tables(self, dataset: str) -> Path:
        """Markdown and LaTeX tables, and each table as JSON for the report."""
        return self.reports(dataset) / "tables"

    def table(self, dataset: str, name: str, suffix: str) -> Path:
        """Table ``name`` (table3, …, verdicts) as ``.md``, ``.tex`` or ``.json``."""
        return self.tables(dataset) / f"{name}{suffix}"

    def report(self, dataset: str, suffix: str) -> Path:
        """The report: ``.ipynb`` (executed) or ``.html``."""
        return self.reports(dataset) / f"report{suffix}"

    def times(self, dataset: str, model: str, experiment: str) -> Path:
        """Wall times of one experiment's runs (:func:`divlib.study.experiment.run_times`), or with
        ``experiment="distributed-NAME"`` of a data-parallel run."""
        return self.root / "times" / dataset / model / f"{experiment}.json"

    def stage_times(self) -> Path:
        """One JSON line per stage run: the stage, its wall time and when it ended."""
        return self.root / "times" / "stages.jsonl"

    def published(self) -> Path:
        """The paper's printed numbers."""
        return self.root / "reports" / "paper" / "published.csv"

    def writer(self, path: str | Path) -> str | None:
        """The stage that writes ``path`` (dvc.yaml's outs), as ``finetune main_table`` or
        ``prepare``; None for a file no stage writes (or outside the project)."""
        try:
            parts = Path(path).resolve().relative_to(self.root.resolve()).parts
        except ValueError:
            return None
        if parts[:1] == ("models",) and len(parts) > 3 and parts[2] == "dgrec":  # models/D/dgrec
            return "dgrec"
        if parts[:1] == ("models",) and len(parts) > 3:  # models/D/M/base or models/D/M/E
            return "pretrain" if parts[3] == "base" else f"finetune {parts[3]}"
        if parts[:2] == ("data", "evaluation") and len(parts) > 4:  # data/evaluation/D/M/E
            return f"evaluate {parts[4]}"
        return WRITERS.get(parts[:2])


def read_runs(folder: Path) -> list[tuple[Path, dict]]:
    """Each fine-tuning run under ``folder`` (a :meth:`Layout.runs` folder) and its run.json, in name
    order; a run.json without the run's identity (:data:`RUN_IDENTITY`) is an UnreadableFile."""
    if not folder.is_dir():
        raise DivlibError(f"{folder} is missing; run the finetune stage first")
    runs = []
    for run in sorted(folder.iterdir()):
        path = run_file(run, "record")
        record = read_json(path)
        missing = [key for key in RUN_IDENTITY if key not in record]
        if missing:
            raise UnreadableFile(path, f"lacks the run's {', '.join(missing)}")
        runs.append((run, record))
    return runs


def load_splits(layout: Layout, dataset: str, *names: str) -> list:
    """The prepared splits ``names`` (of train, val, test) of ``dataset`` as
    :class:`divlib.train.Interactions`, in the order named."""
    folder = layout.prepared(dataset)
    meta = read_json(layout.meta(dataset))
    try:
        sizes = {"n_users": meta["users"], "n_items": meta["items"]}
    except KeyError as error:
        raise UnreadableFile(layout.meta(dataset), f"lacks {error}") from None
    return [Interactions.from_frame(read_parquet(folder / f"{n}.parquet"), **sizes) for n in names]


def read_parquet(path: Path) -> pl.DataFrame:
    """The table at ``path``; one that is there but is not Parquet (cut short, damaged) is an
    :class:`~divlib.errors.UnreadableFile` (a missing one stays a FileNotFoundError)."""
    try:
        return pl.read_parquet(path)
    except pl.exceptions.PolarsError as error:
        raise UnreadableFile(path, f"not a Parquet table ({first_line(error)})") from None


def read_json(path: Path) -> dict:
    """The JSON object at ``path``; one that is there but is not a JSON object is an
    :class:`~divlib.errors.UnreadableFile` (a missing one stays a FileNotFoundError)."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UnreadableFile(path, f"not JSON ({first_line(error)})") from None
    if not isinstance(data, dict):
        raise UnreadableFile(path, f"holds a {type(data).__name__}, not a JSON object")
    return data


def check_list_lengths(lengths: dict[str, int], exclude: torch.Tensor, *, excluded: str) -> None:
    """Each user has at least ``lengths[key]`` items not in ``exclude`` (``(n_users, m)`` bool: the
    items rated in ``excluded``), for every params.yaml ``key`` that sets a list's length; else one
    line naming the key, the user and how many items they have."""
    available = (~exclude).sum(dim=1)  # (n_users,)
    user = int(available.argmin())
    fewest = int(available[user])
    for key, needed in lengths.items():
        if needed > fewest:
            raise DivlibError(
                f"{key}: {needed} items per user do not fit the catalogue: user {user} has only "
                f"{fewest} items not rated in {excluded}; lower it"
            )


HERE = Layout()  # the working directory's files: where DVC runs the stages
