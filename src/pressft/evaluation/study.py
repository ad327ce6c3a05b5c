"""The data-size study's numbers: one DVC experiment per training size and training seed (same test set, nested
training sets), collected into one row per size with every headline metric's mean over seeds, each seed's score and
their spread, the base model and the best baseline, and verdicts that hold across seeds and articles together (its
table and figures: presentation/study_report.py)."""

import json
import subprocess
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from pressft.errors import UserError
from pressft.evaluation.metrics import Statistic, across_seeds_difference, headline_statistic
from pressft.io import parse_jsonl
from pressft.model.curves import curve_rows
from pressft.tasks import REGISTRY


Point = tuple[int, int]  # (train.size, train.seed): one experiment of the study


def experiment_name(size: int, seed: int) -> str:
    return f"size-{size}-seed-{seed}"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
    return done.stdout


def _params_at(repo: Path, commit: str) -> dict[str, Any]:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(_git(repo, "show", f"{commit}:params.yaml"))


def _without_point(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "train": {key: value for key, value in params["train"].items() if key not in ("size", "seed")}}


def experiments(repo: Path, *, ancestors: bool = False, expected: dict[str, Any] | None = None,
                log=lambda line: None) -> dict[Point, str]:
    """{(train.size, train.seed): experiment commit} of the experiments based on the current HEAD (DVC keeps them as
    git refs).

    An experiment counts by the size and seed in its params, whatever its name, so a hand-made
    `dvc exp run --queue -S train.size=N -S train.seed=S` sweep is found as well as the script's runs; one that also
    changed another param is not a point of this study and is skipped, with a line saying so. With `ancestors`,
    a point HEAD has no experiment of comes from the nearest commit before it that has one: the study's outputs
    are committed after its experiments ran, so collecting again starts from a later commit.
    With `expected` (the params a study's other overrides compose, e.g. `preset=real`), an experiment counts when its
    params other than size and seed are those, instead of its base commit's.
    """
    history = _git(repo, "rev-list", "HEAD").split() if ancestors else [_git(repo, "rev-parse", "HEAD").strip()]
    distance = {commit: i for i, commit in enumerate(history)}
    reference = _without_point(expected) if expected is not None else None
    base_params: dict[str, dict[str, Any]] = {}
    found: dict[Point, tuple[int, str]] = {}
    for line in _git(repo, "for-each-ref", "refs/exps", "--format=%(refname) %(objectname)").splitlines():
        ref, commit = line.split()
        parts = ref.split("/")  # refs/exps/<base sha[:2]>/<base sha[2:]>/<name>
        base = parts[2] + parts[3] if len(parts) == 5 else ""
        if base not in distance:
            continue
        params = _params_at(repo, commit)
        if reference is None and base not in base_params:
            base_params[base] = _without_point(_params_at(repo, base))
        if _without_point(params) != (reference or base_params[base]):
            log(f"size_study: skipping experiment {parts[4]}: it changed params other than train.size and train.seed"
                + (" and the study's --set" if reference is not None else ""))
            continue
        point = (int(params["train"]["size"]), int(params["train"]["seed"]))
        if point not in found or distance[base] < found[point][0]:
            found[point] = (distance[base], commit)
    return {point: commit for point, (_, commit) in found.items()}


def read_experiment(repo: Path, commit: str) -> dict[str, Any]:
    """The metrics, comparison, training summary and loss curves an experiment committed."""

    def text(path: str) -> str:
        return _git(repo, "show", f"{commit}:{path}")

    loss_train, loss_eval = curve_rows(lambda path: text(f"metrics/curves/{path}"))
    return {
        "data": json.loads(text("metrics/data.json")),
        "finetuned": json.loads(text("metrics/finetuned.json")),
        "base": json.loads(text("metrics/base.json")),
        "comparison": json.loads(text("metrics/comparison.json")),
        "splits": json.loads(text("metrics/splits.json")),
        "train": json.loads(text("metrics/train.json")),
        "loss_train": loss_train,
        "loss_eval": loss_eval,
    }


def run_statistics(repo: Path, commit: str, best_baselines: dict[str, str]) -> dict[str, dict[str, Statistic]]:
    """{"finetuned" | "base" | "best_baseline": {task: headline Statistic}} from the predictions an experiment left in
    DVC's cache (read at its commit), for the bootstrap over seeds and articles."""
    import dvc.api

    def records(path: str) -> list[dict[str, Any]]:
        with dvc.api.open(path, repo=str(repo), rev=commit) as handle:
            return parse_jsonl(handle)

    def by_task(rows: list[dict[str, Any]], tasks) -> dict[str, Statistic]:
        return {task: headline_statistic(task, [row for row in rows if row["task"] == task]) for task in tasks}

    out = {"finetuned": by_task(records("data/predictions/finetuned.jsonl"), best_baselines),
           "base": by_task(records("data/predictions/base.jsonl"), best_baselines)}
    out["best_baseline"] = {task: by_task(records(f"data/baselines/{name}.jsonl"), [task])[task]
                            for task, name in best_baselines.items()}
    return out


def pick_interval_seed(seeds: list[int], reference_seed: int) -> int:
    """The run whose test-set interval a row shows: the committed `train.seed`'s, else the lowest seed's."""
    return reference_seed if reference_seed in seeds else min(seeds)


def rows_from_json(rows: list[dict[str, Any]], reference_seed: int) -> list[dict[str, Any]]:
    """study.json's rows as study_rows returns them: JSON keeps the seeds of `seed_values` as strings, and rows
    collected before `interval_seed` was recorded get it by the same rule."""
    out = []
    for row in rows:
        row = dict(row)
        for task in REGISTRY:
            if task in row:
                row[task] = row[task] | {"seed_values": {int(k): v for k, v in row[task]["seed_values"].items()}}
        row.setdefault("interval_seed", pick_interval_seed(row["seeds"], reference_seed))
        out.append(row)
    return out


def study_rows(results: dict[Point, dict[str, Any]], stats: dict[Point, dict[str, dict[str, Statistic]]], *,
               reference_seed: int, resamples: int, seed: int, confidence: float) -> list[dict[str, Any]]:
    """One row per size: each task's headline metric as the mean over the seeds that ran, each seed's value and
    their spread, the test-set interval of one run (`interval_seed`: the run with `reference_seed`, else the lowest
    seed), the base and the best baseline, and the verdicts against both from a bootstrap over seeds and articles
    together."""
    out = []
    for size in sorted({size for size, _ in results}):
        seeds = sorted(run_seed for run_size, run_seed in results if run_size == size)
        runs = [results[(size, run_seed)] for run_seed in seeds]
        interval_seed = pick_interval_seed(seeds, reference_seed)
        reference = results[(size, interval_seed)]
        row: dict[str, Any] = {
            "size": size, "seeds": seeds, "interval_seed": interval_seed, "steps": reference["train"]["steps"],
            "best_eval_loss": round(fmean([run["train"]["best_eval_loss"] for run in runs]), 4),
            "train_seconds": round(fmean([run["train"]["runtime_seconds"] for run in runs]), 1),
        }
        for task, key in ((task, spec.headline) for task, spec in REGISTRY.items()):
            if task not in reference["finetuned"]:
                continue
            values = [run["finetuned"][task][key] for run in runs]
            metrics, entry = reference["finetuned"][task], reference["comparison"].get(task, {})
            finetuned = [stats[(size, run_seed)]["finetuned"][task] for run_seed in seeds]
            first = stats[(size, seeds[0])]
            versus = {"resamples": resamples, "seed": seed, "confidence": confidence}
            row[task] = {
                "value": round(fmean(values), 4), "seed_values": dict(zip(seeds, values, strict=True)),
                "seed_min": min(values), "seed_max": max(values),
                "seed_sd": round(stdev(values), 4) if len(values) > 1 else None,
                "ci_low": metrics.get(f"{key}_ci_low"), "ci_high": metrics.get(f"{key}_ci_high"),
                "base": reference["base"][task][key],
                "best_baseline": entry.get("best_baseline"), "best_baseline_value": entry.get("best_baseline_value"),
                "vs_base": across_seeds_difference(finetuned, first["base"][task], **versus),
                "vs_baseline": across_seeds_difference(finetuned, first["best_baseline"][task], **versus)
                if task in first["best_baseline"] else None,
            }
        out.append(row)
    return out


def check_same_test_set(results: dict[Point, dict[str, Any]]) -> int:
    """All runs must be scored on one test set; returns its size in articles."""
    # The keys every split report has: older runs' reports lack the examples per task.
    tests = {json.dumps({key: result["splits"]["test"][key] for key in ("articles", "examples", "types")},
                        sort_keys=True) for result in results.values()}
    if len(tests) != 1:
        raise UserError("the experiments were scored on different test sets; rerun the study from one commit")
    return next(iter(results.values()))["splits"]["test"]["articles"]
