"""The training curves: which trainer log values `train` logs with dvclive step by step, where dvclive puts them, and
reading them back for the figures.

dvclive's layout in the curves folder: one table per series, `plots/metrics/train/loss.tsv` (columns step and loss),
`train/learning_rate.tsv`, `train/grad_norm.tsv` and `eval/loss.tsv`, and `metrics.json` with the latest value of
each and its step. The step is the trainer's global step, so a step's train and eval rows line up, and no row holds a
timestamp: the files depend on the run, not on the machine or the hour. dvc.yaml declares them by hand (the top-level
`plots:` and `metrics:`); dvclive edits neither dvc.yaml nor the experiments.

Light to import (no torch): the plot stage and the size study read the curves through it.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pressft.errors import UserError
from pressft.io import parse_tsv

# dvclive series -> the trainer's log key; the key of an evaluation starts "eval_", and its series sit in "eval/" as
# transformers' own dvclive callback names them. Timings (train_runtime, eval_runtime, ...) are left out.
SERIES = {"train/loss": "loss", "train/learning_rate": "learning_rate", "train/grad_norm": "grad_norm",
          "eval/loss": "eval_loss"}
# Digits kept: further ones are float noise that differs between CPUs (docs/gpu-and-machines.md); the rate is exact.
DIGITS = {"loss": 5, "grad_norm": 5, "eval_loss": 5}


def series_file(series: str) -> str:
    """Where dvclive writes a series (Live.log_metric), relative to the curves folder."""
    return f"plots/metrics/{series}.tsv"


def curve_points(entry: dict[str, Any]) -> dict[str, float]:
    """{series: value} of one trainer log entry: the train series of a training step, eval/loss of an evaluation,
    nothing for the closing summary of a run."""
    return {series: round(entry[key], DIGITS[key]) if key in DIGITS else entry[key]
            for series, key in SERIES.items() if entry.get(key) is not None}


def curve_rows(read: Callable[[str], str]) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """(train rows, eval rows) by step, with the trainer's keys (step, loss, learning_rate, grad_norm; step,
    eval_loss); `read` gives the text of a file of the curves folder by its relative path."""
    tables: dict[str, dict[int, dict[str, float]]] = {"train": {}, "eval": {}}
    for series, key in SERIES.items():
        group, column = series.split("/")
        for row in parse_tsv(read(series_file(series)).splitlines()):
            step = int(row["step"])
            tables[group].setdefault(step, {"step": step})[key] = row[column]
    train, evals = ([table[step] for step in sorted(table)] for table in tables.values())
    return train, evals


def read_curves(folder: str | Path) -> tuple[list[dict[str, float]], list[dict[str, float]]]:
    """curve_rows of a curves folder on disk."""

    def read(path: str) -> str:
        file = Path(folder) / path
        if not file.exists():
            raise UserError(f"{file} does not exist; run the train stage first (dvc repro train)")
        return file.read_text(encoding="utf-8")

    return curve_rows(read)
