"""The ``dgrec`` stage: DGRec (:mod:`divlib.dgrec`), the paper's learned diversity baseline, trained
once per seed on the training split with early stopping on the validation pairs.

Each seed's initialisation and negatives derive from the seed and the dataset
(:func:`~divlib.study.experiment.derive_seed`); the runs are on the CPU, one after the other (ml-100k:
seconds per seed with the ``genre-jaccard`` selection). Its lists enter the ``evaluate-baselines``
stage of every pretrained model (:func:`divlib.study.evaluation.evaluate_experiment`).
"""

import logging
import time

import polars as pl

from divlib.dgrec import DGRecOptions, train_dgrec
from divlib.io import atomic_path, write_json
from divlib.models import save_model
from divlib.study.data import category_matrix
from divlib.study.experiment import derive_seed, record_run_times
from divlib.study.layout import HERE, Layout, load_splits, read_parquet, seed_file
from divlib.study.params import DGRec

DEVICE = "cpu"  # the published models were trained on the CPU

log = logging.getLogger(__name__)


def train_dgrec_models(
    section: DGRec, seeds: list[int], *, dataset: str, layout: Layout = HERE
) -> None:
    """Train DGRec on ``dataset`` once per seed. Writes ``models/D/dgrec/`` (``seedS.pt``, loadable by
    :func:`divlib.models.load_model`, and every seed's ``epochs.parquet``; all or nothing),
    ``metrics/D/dgrec.json`` (per seed: the epoch kept, its validation loss, the epochs run) and the
    wall time of each seed in ``times/D/dgrec/train.json``."""
    train, val = load_splits(layout, dataset, "train", "val")
    categories, _ = category_matrix(read_parquet(layout.items(dataset)))
    summary, times, epochs = {}, {}, []
    with atomic_path(layout.dgrec(dataset)) as out:
        for seed in seeds:
            start = time.perf_counter()
            options = DGRecOptions(**section.model_dump())
            model, result = train_dgrec(
                train,
                categories,
                options,
                seed=derive_seed(seed, dataset, "dgrec"),
                device=DEVICE,
                validation=val,
                name=f"{dataset}/dgrec seed {seed}",
            )
            config = model.config() | {"options": options.__dict__, "grid_seed": seed}
            save_model(seed_file(out, seed), model, name="dgrec", config=config)
            epochs.append(pl.DataFrame(result.epochs).select(pl.lit(seed).alias("seed"), pl.all()))
            kept = result.epochs[result.selected_epoch - 1]
            summary[f"seed{seed}"] = {
                "val_loss": round(kept["val_loss"], 6),
                "selected_epoch": result.selected_epoch,
                "epochs_run": len(result.epochs),
            }
            seconds = round(time.perf_counter() - start, 3)
            times[f"seed{seed}"] = {"device": DEVICE, "wall_seconds": seconds}
            log.info(
                "%s/dgrec seed %d: %d epochs in %.1f s", dataset, seed, len(epochs[-1]), seconds
            )
        pl.concat(epochs).write_parquet(out / "epochs.parquet")
    write_json(summary, layout.metrics(dataset, "dgrec"))
    record_run_times(times, layout.times(dataset, "dgrec", "train"))
