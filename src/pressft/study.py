"""The data-size study: one DVC experiment per training size (same test set, nested training sets), collected
into a table and figures of every headline metric against size, with the base model and the best baseline
as reference lines, and the loss curves of all sizes overlaid."""

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

from pressft.errors import UserError
from pressft.metrics import HEADLINE
from pressft.plotting import COLOURS, plt  # plotting selects the file-only Agg backend before pyplot loads
from pressft.report import markdown_table

NAMES = {"summarization": "Summarization: ROUGE-L F1", "title": "Title: ROUGE-1 F1", "tags": "Tags: F1 per article",
         "type": "Type: macro-F1"}


def experiment_name(size: int) -> str:
    return f"size-{size}"


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"git {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1] if done.stderr else ''}")
    return done.stdout


def _params_at(repo: Path, commit: str) -> dict[str, Any]:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(_git(repo, "show", f"{commit}:params.yaml"))


def _without_size(params: dict[str, Any]) -> dict[str, Any]:
    return {**params, "train": {key: value for key, value in params["train"].items() if key != "size"}}


def experiments_by_size(repo: Path, *, ancestors: bool = False,
                        log=lambda line: None) -> dict[int, str]:
    """{train.size: experiment commit} of the experiments based on the current HEAD (DVC keeps them as git refs).

    An experiment counts by the size in its params, whatever its name, so a hand-made
    `dvc exp run --queue -S train.size=N` sweep is found as well as the script's `size-N` runs; one that also
    changed another param is not a point of this study and is skipped, with a line saying so. With `ancestors`,
    a size HEAD has no experiment of comes from the nearest commit before it that has one: the study's outputs
    are committed after its experiments ran, so collecting again starts from a later commit.
    """
    history = _git(repo, "rev-list", "HEAD").split() if ancestors else [_git(repo, "rev-parse", "HEAD").strip()]
    distance = {commit: i for i, commit in enumerate(history)}
    base_params: dict[str, dict[str, Any]] = {}
    found: dict[int, tuple[int, str]] = {}
    for line in _git(repo, "for-each-ref", "refs/exps", "--format=%(refname) %(objectname)").splitlines():
        ref, commit = line.split()
        parts = ref.split("/")  # refs/exps/<base sha[:2]>/<base sha[2:]>/<name>
        base = parts[2] + parts[3] if len(parts) == 5 else ""
        if base not in distance:
            continue
        params = _params_at(repo, commit)
        if base not in base_params:
            base_params[base] = _without_size(_params_at(repo, base))
        if _without_size(params) != base_params[base]:
            log(f"size_study: skipping experiment {parts[4]}: it changed params other than train.size")
            continue
        size = int(params["train"]["size"])
        if size not in found or distance[base] < found[size][0]:
            found[size] = (distance[base], commit)
    return {size: commit for size, (_, commit) in found.items()}


def read_experiment(repo: Path, commit: str) -> dict[str, Any]:
    """The metrics, comparison, training summary and loss curves an experiment committed."""

    def text(path: str) -> str:
        return _git(repo, "show", f"{commit}:{path}")

    def rows(path: str) -> list[dict[str, float]]:
        return [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(io.StringIO(text(path)))]

    return {
        "finetuned": json.loads(text("metrics/finetuned.json")),
        "base": json.loads(text("metrics/base.json")),
        "comparison": json.loads(text("metrics/comparison.json")),
        "splits": json.loads(text("metrics/splits.json")),
        "train": json.loads(text("metrics/train.json")),
        "loss_train": rows("metrics/loss/train.csv"),
        "loss_eval": rows("metrics/loss/eval.csv"),
    }


def study_rows(results: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per size: each task's headline metric with its interval, the base and the best baseline."""
    out = []
    for size in sorted(results):
        result = results[size]
        row: dict[str, Any] = {"size": size, "steps": result["train"]["steps"],
                               "best_eval_loss": result["train"]["best_eval_loss"],
                               "train_seconds": result["train"]["runtime_seconds"]}
        for task, key in HEADLINE.items():
            if task not in result["finetuned"]:
                continue
            metrics, entry = result["finetuned"][task], result["comparison"].get(task, {})
            row[task] = {
                "value": metrics[key], "ci_low": metrics.get(f"{key}_ci_low"), "ci_high": metrics.get(f"{key}_ci_high"),
                "base": result["base"][task][key],
                "best_baseline": entry.get("best_baseline"), "best_baseline_value": entry.get("best_baseline_value"),
                "vs_base": entry.get("finetuned_minus_base", {}).get("verdict"),
                "vs_baseline": entry.get("finetuned_minus_best_baseline", {}).get("verdict"),
            }
        out.append(row)
    return out


def check_same_test_set(results: dict[int, dict[str, Any]]) -> int:
    """All sizes must be scored on one test set; returns its size in articles."""
    tests = {json.dumps(result["splits"]["test"], sort_keys=True) for result in results.values()}
    if len(tests) != 1:
        raise UserError("the experiments were scored on different test sets; rerun the study from one commit")
    return next(iter(results.values()))["splits"]["test"]["articles"]


def study_markdown(rows: list[dict[str, Any]], test_articles: int, synthetic: bool) -> str:
    tasks = [task for task in HEADLINE if task in rows[0]]
    header = ["training articles"] + [NAMES[task] for task in tasks] + ["best eval loss", "steps", "train s"]
    table = []
    for row in rows:
        cells = [str(row["size"])]
        for task in tasks:
            cell = row[task]
            interval = f" [{cell['ci_low']:.3f}, {cell['ci_high']:.3f}]" if cell["ci_low"] is not None else ""
            cells.append(f"{cell['value']:.3f}{interval} ({cell['vs_baseline'] or '–'} vs baseline)")
        cells += [f"{row['best_eval_loss']:.4f}", str(row["steps"]), f"{row['train_seconds']:.0f}"]
        table.append(cells)
    reference = []
    for task in tasks:
        baselines = ", ".join(f"{row['size']}: {row[task]['best_baseline']} {row[task]['best_baseline_value']:.3f}"
                              for row in rows if row[task]["best_baseline"])
        reference.append(f"- {NAMES[task]}: base {rows[0][task]['base']:.3f}; best baseline by size: {baselines or '–'}")
    note = (" The corpus is SYNTHETIC (generated by the project): these numbers say what fine-tuning buys on its "
            "articles, not on real PressClub articles." if synthetic else "")
    return "\n".join([
        "# Data-size study",
        "",
        f"Fine-tuned on the first N articles of the seeded training pool (the smaller sets are inside the larger), "
        f"each size one DVC experiment (`size-N`), all scored on the same {test_articles} test articles. 95% "
        f"bootstrap intervals in brackets; \"vs baseline\" is the paired verdict against the best simple baseline "
        f"trained on the same articles.{note}",
        "",
        markdown_table(header, table),
        "",
        "Reference lines (the base model does not depend on the size; the baselines, trained on the same articles, do):",
        "",
        *reference,
        "",
        "![metrics by size](metrics.png)",
        "",
        "![loss curves by size](loss.png)",
        "",
    ])


def metrics_figure(rows: list[dict[str, Any]], out: Path, synthetic: bool) -> None:
    tasks = [task for task in HEADLINE if task in rows[0]]
    sizes = [row["size"] for row in rows]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    for ax, task in zip(axes.flat, tasks, strict=False):
        values = [row[task]["value"] for row in rows]
        low = [row[task]["value"] - (row[task]["ci_low"] if row[task]["ci_low"] is not None else row[task]["value"]) for row in rows]
        high = [(row[task]["ci_high"] if row[task]["ci_high"] is not None else row[task]["value"]) - row[task]["value"] for row in rows]
        ax.errorbar(sizes, values, yerr=[low, high], color=COLOURS["finetuned"], marker="o", capsize=4,
                    label="fine-tuned (95% CI)")
        ax.plot(sizes, [row[task]["base"] for row in rows], color=COLOURS["base"], linestyle=":", marker=".",
                label="base model")
        baseline = [row[task]["best_baseline_value"] for row in rows]
        if all(value is not None for value in baseline):
            ax.plot(sizes, baseline, color=COLOURS["best_baseline"], linestyle="--", marker="s",
                    label="best baseline, same training articles")
        ax.set_title(NAMES[task])
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


def loss_figure(results: dict[int, dict[str, Any]], out: Path, synthetic: bool) -> None:
    sizes = sorted(results)
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for i, size in enumerate(sizes):
        colour = cmap(i / max(len(sizes) - 1, 1) * 0.85)
        train, evals = results[size]["loss_train"], results[size]["loss_eval"]
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], color=colour, alpha=0.35, linewidth=0.8)
        ax.plot([r["step"] for r in evals], [r["eval_loss"] for r in evals], color=colour, marker="o", markersize=4,
                linewidth=1.8, label=f"{size} articles: eval (train faint)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens, nats per token)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="upper right", frameon=False)
    corpus = " (SYNTHETIC corpus)" if synthetic else ""
    ax.set_title(f"Train and eval loss by training-set size{corpus}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
