"""Figures for the README and report: base vs fine-tuned per task and metric, and the loss curves."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402

# One colour per model in every figure.
COLOURS = {"base": "#9e9e9e", "finetuned": "#1c69d4"}
LABELS = {"base": "Base", "finetuned": "Fine-tuned"}
PANELS = {
    "summarization": ("Summarization", ["rouge1", "rouge2", "rougeL", "bertscore_f1"]),
    "title": ("Title generation", ["rouge1", "rouge2", "rougeL", "bertscore_f1"]),
    "tags": ("Tag extraction", ["exact_match", "jaccard", "precision", "recall", "f1"]),
    "type": ("Type classification", ["accuracy", "macro_f1"]),
}
NAMES = {
    "rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L", "bertscore_f1": "BERTScore",
    "exact_match": "Exact", "jaccard": "Jaccard", "precision": "Precision", "recall": "Recall", "f1": "F1",
    "accuracy": "Accuracy", "macro_f1": "Macro-F1",
}


def _bars(ax, metrics: dict[str, dict], task: str, keys: list[str]) -> None:
    width = 0.8 / len(metrics)
    for offset, (model, result) in enumerate(metrics.items()):
        values = [result.get(task, {}).get(key, 0.0) for key in keys]
        xs = [i + (offset - (len(metrics) - 1) / 2) * width for i in range(len(keys))]
        bars = ax.bar(xs, values, width, label=LABELS.get(model, model), color=COLOURS.get(model))
        ax.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax.set_xticks(range(len(keys)), [NAMES.get(key, key) for key in keys])
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("score (0-1)")
    ax.grid(axis="y", alpha=0.3)


def comparison_figure(metrics: dict[str, dict], out: Path, title_note: str = "") -> None:
    """2x2 overview: every task's metrics, one bar per model; the majority-class bar for type."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    for ax, (task, (name, keys)) in zip(axes.flat, PANELS.items(), strict=True):
        _bars(ax, metrics, task, keys)
        ax.set_title(name)
        if task == "type":
            majority = next((m["type"]["majority_macro_f1"] for m in metrics.values() if "type" in m), None)
            if majority is not None:
                ax.axhline(majority, color="#d62728", linestyle="--", linewidth=1,
                           label=f"majority class, macro-F1 {majority:.2f}")
        ax.legend(loc="upper left", fontsize=8, frameon=False, ncol=3)
    fig.suptitle(f"Base vs fine-tuned on the fixed test set{title_note}")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def lengths_figure(metrics: dict[str, dict], out: Path) -> None:
    """Average output length per model against the references' average length."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, task in zip(axes, ("summarization", "title"), strict=True):
        models = [model for model in metrics if task in metrics[model]]
        values = [metrics[model][task]["avg_words"] for model in models]
        bars = ax.bar([LABELS.get(m, m) for m in models], values, color=[COLOURS.get(m) for m in models])
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        if models:
            ax.axhline(metrics[models[0]][task]["ref_avg_words"], color="black", linestyle="--", linewidth=1,
                       label="reference average")
            ax.legend(fontsize=8, frameon=False)
        ax.set_title(f"{PANELS[task][0]}: output length")
        ax.set_ylabel("words per output (mean)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def loss_figure(train_rows: list[dict[str, Any]], eval_rows: list[dict[str, Any]], best_step: int | None, out: Path) -> None:
    """Train loss per step and eval loss per evaluation, with the kept (best) step marked."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([r["step"] for r in train_rows], [r["loss"] for r in train_rows], color=COLOURS["finetuned"],
            alpha=0.5, linewidth=1, label="train loss")
    ax.plot([r["step"] for r in eval_rows], [r["eval_loss"] for r in eval_rows], color="#ff7f0e", marker="o",
            markersize=3, label="eval loss (val set)")
    if best_step is not None:
        ax.axvline(best_step, color="black", linestyle=":", linewidth=1, label=f"best checkpoint (step {best_step})")
    ax.set_xlabel("global step (optimizer updates)")
    ax.set_ylabel("cross-entropy per answer token (nats)")
    ax.set_title("LoRA fine-tuning: loss on answer tokens")
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
