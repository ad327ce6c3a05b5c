"""The data-size study: one DVC experiment per training size and training seed (same test set, nested training sets),
collected into a table and figures of every headline metric against size, each seed's score and their spread, the
base model and the best baseline as reference lines with verdicts that hold across seeds and articles together, and
the loss curves of all runs overlaid."""

import json
import subprocess
from pathlib import Path
from statistics import fmean, stdev
from typing import Any

from pressft.errors import UserError
from pressft.evaluation.metrics import Statistic, across_seeds_difference, headline_statistic
from pressft.io import parse_csv, parse_jsonl
from pressft.presentation.plotting import COLOURS, plt  # plotting selects the file-only Agg backend before pyplot loads
from pressft.presentation.report import markdown_table
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


def experiments(repo: Path, *, ancestors: bool = False, log=lambda line: None) -> dict[Point, str]:
    """{(train.size, train.seed): experiment commit} of the experiments based on the current HEAD (DVC keeps them as
    git refs).

    An experiment counts by the size and seed in its params, whatever its name, so a hand-made
    `dvc exp run --queue -S train.size=N -S train.seed=S` sweep is found as well as the script's runs; one that also
    changed another param is not a point of this study and is skipped, with a line saying so. With `ancestors`,
    a point HEAD has no experiment of comes from the nearest commit before it that has one: the study's outputs
    are committed after its experiments ran, so collecting again starts from a later commit.
    """
    history = _git(repo, "rev-list", "HEAD").split() if ancestors else [_git(repo, "rev-parse", "HEAD").strip()]
    distance = {commit: i for i, commit in enumerate(history)}
    base_params: dict[str, dict[str, Any]] = {}
    found: dict[Point, tuple[int, str]] = {}
    for line in _git(repo, "for-each-ref", "refs/exps", "--format=%(refname) %(objectname)").splitlines():
        ref, commit = line.split()
        parts = ref.split("/")  # refs/exps/<base sha[:2]>/<base sha[2:]>/<name>
        base = parts[2] + parts[3] if len(parts) == 5 else ""
        if base not in distance:
            continue
        params = _params_at(repo, commit)
        if base not in base_params:
            base_params[base] = _without_point(_params_at(repo, base))
        if _without_point(params) != base_params[base]:
            log(f"size_study: skipping experiment {parts[4]}: it changed params other than train.size and train.seed")
            continue
        point = (int(params["train"]["size"]), int(params["train"]["seed"]))
        if point not in found or distance[base] < found[point][0]:
            found[point] = (distance[base], commit)
    return {point: commit for point, (_, commit) in found.items()}


def read_experiment(repo: Path, commit: str) -> dict[str, Any]:
    """The metrics, comparison, training summary and loss curves an experiment committed."""

    def text(path: str) -> str:
        return _git(repo, "show", f"{commit}:{path}")


    return {
        "finetuned": json.loads(text("metrics/finetuned.json")),
        "base": json.loads(text("metrics/base.json")),
        "comparison": json.loads(text("metrics/comparison.json")),
        "splits": json.loads(text("metrics/splits.json")),
        "train": json.loads(text("metrics/train.json")),
        "loss_train": parse_csv(text("metrics/loss/train.csv").splitlines()),
        "loss_eval": parse_csv(text("metrics/loss/eval.csv").splitlines()),
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


def study_rows(results: dict[Point, dict[str, Any]], stats: dict[Point, dict[str, dict[str, Statistic]]], *,
               reference_seed: int, resamples: int, seed: int) -> list[dict[str, Any]]:
    """One row per size: each task's headline metric as the mean over the seeds that ran, each seed's value and
    their spread, the test-set interval of the run with `reference_seed` (else the lowest seed), the base and the
    best baseline, and the verdicts against both from a bootstrap over seeds and articles together."""
    out = []
    for size in sorted({size for size, _ in results}):
        seeds = sorted(run_seed for run_size, run_seed in results if run_size == size)
        runs = [results[(size, run_seed)] for run_seed in seeds]
        reference = results[(size, reference_seed if reference_seed in seeds else seeds[0])]
        row: dict[str, Any] = {
            "size": size, "seeds": seeds, "steps": reference["train"]["steps"],
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
            row[task] = {
                "value": round(fmean(values), 4), "seed_values": dict(zip(seeds, values, strict=True)),
                "seed_min": min(values), "seed_max": max(values),
                "seed_sd": round(stdev(values), 4) if len(values) > 1 else None,
                "ci_low": metrics.get(f"{key}_ci_low"), "ci_high": metrics.get(f"{key}_ci_high"),
                "base": reference["base"][task][key],
                "best_baseline": entry.get("best_baseline"), "best_baseline_value": entry.get("best_baseline_value"),
                "vs_base": across_seeds_difference(finetuned, first["base"][task], resamples, seed),
                "vs_baseline": across_seeds_difference(finetuned, first["best_baseline"][task], resamples, seed)
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


def _verdict(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "–"
    return f"{cell['diff']:+.3f} [{cell['ci_low']:+.3f}, {cell['ci_high']:+.3f}] {cell['verdict']}"


def study_markdown(rows: list[dict[str, Any]], test_articles: int, synthetic: bool) -> str:
    tasks = [task for task in REGISTRY if task in rows[0]]
    header = ["training articles", "seeds", *(REGISTRY[task].headline_name for task in tasks), "best eval loss", "steps",
              "train s"]
    table, verdicts = [], []
    for row in rows:
        cells = [str(row["size"]), str(len(row["seeds"]))]
        for task in tasks:
            cell = row[task]
            interval = f" [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]" if cell["ci_low"] is not None else ""
            spread = (f"; seeds {cell['seed_min']:.3f}–{cell['seed_max']:.3f}, sd {cell['seed_sd']:.3f}"
                      if cell["seed_sd"] is not None else "")
            cells.append(f"{cell['value']:.3f}{interval}{spread}")
        cells += [f"{row['best_eval_loss']:.4f}", str(row["steps"]), f"{row['train_seconds']:.0f}"]
        table.append(cells)
        for task in tasks:
            cell = row[task]
            verdicts.append([str(row["size"]), REGISTRY[task].headline_name, f"{cell['base']:.3f}",
                             _verdict(cell["vs_base"]),
                             f"{cell['best_baseline'] or '–'} {cell['best_baseline_value'] or 0:.3f}",
                             _verdict(cell["vs_baseline"])])
    note = (" The corpus is SYNTHETIC (generated by the project): these numbers say what fine-tuning buys on its "
            "articles, not on real PressClub articles." if synthetic else "")
    return "\n".join([
        "# Data-size study",
        "",
        f"Fine-tuned on the first N articles of the seeded training pool (the smaller sets are inside the larger), "
        f"each size and training seed (`train.seed`) one DVC experiment, all scored on the same {test_articles} test "
        f"articles.{note}",
        "",
        "A score is the mean over the seeds that ran; in brackets the 95% bootstrap interval over test articles of "
        "one run (the committed seed's); then the seeds' lowest and highest score and their standard deviation: "
        "the training run's own variance, which the test-set interval does not hold.",
        "",
        markdown_table(header, table),
        "",
        "Against the base model and the best simple baseline (trained on the same articles): the mean difference "
        "over seeds with a 95% interval from a bootstrap that resamples seeds and test articles together. A verdict "
        "(better, worse) is called only when that interval excludes 0, else \"not distinguishable\"; with one seed "
        "it covers the test articles only.",
        "",
        markdown_table(["training articles", "task", "base", "fine-tuned − base", "best baseline",
                        "fine-tuned − best baseline"], verdicts),
        "",
        "![metrics by size](metrics.png)",
        "",
        "![loss curves by size](loss.png)",
        "",
    ])


def metrics_figure(rows: list[dict[str, Any]], out: Path, synthetic: bool) -> None:
    tasks = [task for task in REGISTRY if task in rows[0]]
    sizes = [row["size"] for row in rows]
    grid = max((len(tasks) + 1) // 2, 1)  # two panels a row, as many rows as the tasks need
    fig, axes = plt.subplots(grid, 2, figsize=(12, 4.25 * grid), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        values = [row[task]["value"] for row in rows]
        low = [row[task]["value"] - (row[task]["ci_low"] if row[task]["ci_low"] is not None else row[task]["value"])
               for row in rows]
        high = [(row[task]["ci_high"] if row[task]["ci_high"] is not None else row[task]["value"]) - row[task]["value"]
                for row in rows]
        ax.errorbar(sizes, values, yerr=[low, high], color=COLOURS["finetuned"], marker="o", capsize=4,
                    label="fine-tuned: mean over seeds (95% CI over test articles)")
        seeds = [(row["size"], value) for row in rows for value in row[task]["seed_values"].values()]
        ax.scatter([size for size, _ in seeds], [value for _, value in seeds], color=COLOURS["finetuned"],
                   marker="x", s=30, alpha=0.7, zorder=3, label="fine-tuned: each training seed")
        ax.plot(sizes, [row[task]["base"] for row in rows], color=COLOURS["base"], linestyle=":", marker=".",
                label="base model")
        baseline = [row[task]["best_baseline_value"] for row in rows]
        if all(value is not None for value in baseline):
            ax.plot(sizes, baseline, color=COLOURS["best_baseline"], linestyle="--", marker="s",
                    label="best baseline, same training articles")
        ax.set_title(REGISTRY[task].headline_name)
        ax.set_xlabel("training articles")
        ax.set_ylabel("score (0–1)")
        ax.set_xticks(sizes)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(tasks):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    corpus = " (SYNTHETIC corpus)" if synthetic else ""
    fig.suptitle(f"Headline metrics by training-set size, one fixed test set{corpus}")
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def loss_figure(results: dict[Point, dict[str, Any]], out: Path, synthetic: bool) -> None:
    sizes = sorted({size for size, _ in results})
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for i, size in enumerate(sizes):
        colour = cmap(i / max(len(sizes) - 1, 1) * 0.85)
        seeds = sorted(seed for run_size, seed in results if run_size == size)
        for j, seed in enumerate(seeds):
            train, evals = results[(size, seed)]["loss_train"], results[(size, seed)]["loss_eval"]
            ax.plot([r["step"] for r in train], [r["loss"] for r in train], color=colour, alpha=0.35, linewidth=0.8)
            label = f"{size} articles: eval (train faint), {len(seeds)} seed(s)" if j == 0 else None
            ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], color=colour, marker="o",
                    markersize=4, linewidth=1.8, label=label)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens, nats per token)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", frameon=False)
    corpus = " (SYNTHETIC corpus)" if synthetic else ""
    ax.set_title(f"Train and eval loss by training-set size and seed{corpus}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
