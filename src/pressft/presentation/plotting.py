"""Figures for the README and report: the models side by side per task and metric, output lengths, the
article-type confusion matrices, F1 per tag, and the loss curves.

Which tasks a figure draws follows from their kind: the lengths figure has a panel per text task, the confusion
figure a row per label task, the tags figure a panel per set task.

Every figure function takes loaded data and an output path and writes one PNG; nothing here reads files. The type
confusion also goes to DVC's own confusion plots as data (confusion_plot_data).
What a figure draws is computed by separate helpers (output_lengths, tag_f1_table, confusion_grid) so the
numbers can be tested without looking at pixels.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or servers
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from pressft.evaluation.metrics import INVALID_LABEL, tag_rows  # noqa: E402
from pressft.tasks import METRIC_NAMES, REGISTRY, of_kind, parse_tags  # noqa: E402

# One colour per model role in every figure. "Best baseline" is a role, not a model: whichever baseline won
# a task gets the same orange, and its name goes into the labels.
COLOURS = {"base": "#9e9e9e", "finetuned": "#1c69d4", "best_baseline": "#f28e2b"}
REFERENCE_COLOUR = "#ffffff"  # references are drawn hatched white so they never read as a model
EVAL_COLOUR = "#0b3d91"  # a darker blue: eval loss is still the fine-tuned model, so it stays in its family
MAJORITY_COLOUR = "#c62828"
LABELS = {"base": "Base", "finetuned": "Fine-tuned"}
# README width: 11 in at 120 dpi is 1320 px. Figures keep this size exactly (no bbox_inches="tight").
WIDTH, DPI = 11.0, 120
VALUE_FONT = 6.5  # value labels on bars: small enough that neighbouring bars' labels do not collide


# --------------------------------------------------------------------------- models and labels


def role(model: str) -> str:
    """Colour role of a model name: 'base', 'finetuned' or 'best_baseline' (any 'baseline-*')."""
    return "best_baseline" if model.startswith("baseline-") else model


def label(model: str) -> str:
    """'Base', 'Fine-tuned', or 'Best baseline: tfidf' for 'baseline-tfidf'."""
    if model.startswith("baseline-"):
        return f"Best baseline: {model.removeprefix('baseline-')}"
    return LABELS.get(model, model)


def task_models(task: str, available, comparison: dict) -> list[str]:
    """The models drawn for a task, in the fixed order base, fine-tuned, the task's best baseline (as named by
    comparison.json), keeping only those present in `available` (names of models that have this task)."""
    best = comparison.get(task, {}).get("best_baseline")
    return [model for model in ("base", "finetuned", best) if model and model in available]


def corpus_note(data_report: dict, train: dict | None = None) -> str:
    """The title line every figure carries: whether the corpus is synthetic, and the training size."""
    if data_report.get("synthetic"):
        corpus = "SYNTHETIC corpus (generated articles, not real PressClub data)"
    else:
        corpus = "real BMW PressClub articles"
    if train and "train_articles" in train:
        return f"{corpus}; fine-tuned on {train['train_articles']} articles"
    return corpus


def _title(fig, title: str, subtitle: str) -> None:
    fig.suptitle(f"{title}\n{subtitle}" if subtitle else title, fontsize=12)


def _save(fig, out: Path) -> None:
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


def _empty(ax, text: str) -> None:
    """A panel for a task this run did not evaluate: say so instead of drawing empty axes."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")
    ax.set_xticks([])
    ax.set_yticks([])


# --------------------------------------------------------------------------- 1. comparison


def _test_size(metrics: dict[str, dict]) -> int | None:
    sizes = {result[task]["n"] for result in metrics.values() for task in REGISTRY
             if isinstance(result.get(task), dict) and "n" in result[task]}
    return sizes.pop() if len(sizes) == 1 else None


def _metric_bars(ax, metrics: dict[str, dict], models: list[str], task: str, keys: list[str]):
    """Grouped bars, one group per metric; returns the errorbar container (for the legend) or None."""
    width = 0.8 / max(len(models), 1)
    whisker = None
    for offset, model in enumerate(models):
        result = metrics[model][task]
        x0 = (offset - (len(models) - 1) / 2) * width
        for i, key in enumerate(keys):
            if key not in result:  # a baseline may not report every metric; a missing bar is not a 0
                continue
            value = result[key]
            ax.bar(i + x0, value, width, color=COLOURS[role(model)], edgecolor="white", linewidth=0.5)
            top = value
            low, high = result.get(f"{key}_ci_low"), result.get(f"{key}_ci_high")
            if key == REGISTRY[task].headline and low is not None and high is not None:
                # Clipped at 0 so a rounded interval that ends a hair above the value never gives a negative length.
                whisker = ax.errorbar(i + x0, value, yerr=[[max(value - low, 0)], [max(high - value, 0)]],
                                      fmt="none", ecolor="black", elinewidth=1, capsize=2.5)
                top = max(value, high)
            # Above the whisker, not the bar, so the label never sits on the interval line.
            ax.text(i + x0, top + 0.012, f"{value:.2f}", ha="center", va="bottom", fontsize=VALUE_FONT)
    ax.set_xticks(range(len(keys)), [METRIC_NAMES.get(key, key) for key in keys], fontsize=9)
    for tick, key in zip(ax.get_xticklabels(), keys, strict=True):
        if key == REGISTRY[task].headline:
            tick.set_fontweight("bold")
    return whisker


def comparison_figure(metrics: dict[str, dict], comparison: dict, out: Path, subtitle: str = "") -> None:
    """Overview, one panel per task, two a row: grouped bars per metric for base, fine-tuned and the task's best
    baseline; interval whiskers (at the comparison's confidence) on the headline metric; the majority-class
    macro-F1 on the type panel."""
    grid = (len(REGISTRY) + 1) // 2
    fig, axes = plt.subplots(grid, 2, figsize=(WIDTH, 4.3 * grid), layout="constrained", squeeze=False)
    whisker = majority = None
    drawn = set()  # colour roles that appear, so the legend never explains a colour that is not there
    for ax in axes.flat[len(REGISTRY):]:
        ax.axis("off")
    for ax, spec in zip(axes.flat, REGISTRY.values()):
        task, name, keys = spec.name, spec.title, list(spec.metrics)
        models = task_models(task, [m for m in metrics if task in metrics[m]], comparison)
        if not models:
            _empty(ax, "task not evaluated in this run")
            ax.set_title(name, fontsize=10.5)
            continue
        drawn.update(role(m) for m in models)
        if ax in axes[:, 0]:
            ax.set_ylabel("score (0–1, higher is better)")
        whisker = _metric_bars(ax, metrics, models, task, keys) or whisker
        best = next((m for m in models if m.startswith("baseline-")), None)
        ax.set_title(f"{name}  (best baseline: {best.removeprefix('baseline-')})" if best else name, fontsize=10.5)
        if spec.kind == "label":
            majority = next((metrics[m][task]["majority_macro_f1"] for m in models
                             if "majority_macro_f1" in metrics[m][task]), None)
            if majority is not None:
                # Only across the macro-F1 group: majority-class *accuracy* is a different (higher) number.
                i = keys.index("macro_f1")
                ax.hlines(majority, i - 0.48, i + 0.48, colors=MAJORITY_COLOUR, linestyles="--", linewidth=1.2)
        ax.set_ylim(0, 1.13)  # headroom for the value labels above a perfect score
        ax.set_yticks(np.linspace(0, 1, 6))
        ax.set_xlim(-0.55, len(keys) - 0.45)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    handles = [Patch(color=COLOURS[r], label=text) for r, text in (
        ("base", "Base"), ("finetuned", "Fine-tuned"), ("best_baseline", "Best baseline (named per panel)"))
        if r in drawn]
    if whisker is not None:
        handles.append(whisker)
        whisker.set_label(f"{100 * comparison['confidence']:g}% bootstrap interval (bold metric = headline)")
    if majority is not None:
        handles.append(Line2D([], [], color=MAJORITY_COLOUR, linestyle="--",
                              label=f"majority-class macro-F1 ({majority:.2f})"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False, fontsize=8.5)
    n = _test_size(metrics)
    _title(fig, "Base vs fine-tuned vs best baseline on the test set" + (f" ({n} articles per task)" if n else ""),
           subtitle)
    _save(fig, out)


# --------------------------------------------------------------------------- 2. lengths


def _words(text: str) -> int:
    return len(text.split())


def output_lengths(records: dict[str, list[dict]], task: str) -> dict[str, list[int]]:
    """Words per output for one task: {'reference': [...], model: [...]}, each sorted by article id.

    References come once per article (every model's file repeats them), from whichever file has the article.
    Models without that task are left out.
    """
    references: dict[str, int] = {}
    lengths = {}
    for model, recs in records.items():
        rows = sorted((r for r in recs if r["task"] == task), key=lambda r: str(r["id"]))
        if not rows:
            continue
        lengths[model] = [_words(r["prediction"]) for r in rows]
        for r in rows:
            references.setdefault(str(r["id"]), _words(r["reference"]))
    return {"reference": [references[key] for key in sorted(references)], **lengths} if references else {}


def lengths_figure(records: dict[str, list[dict]], comparison: dict, out: Path, subtitle: str = "") -> None:
    """Distribution of output length in words, a panel per text task (summaries and titles; a box plot plus one dot
    per output): the references, base, fine-tuned and the task's best baseline."""
    tasks = of_kind("text")
    fig, axes = plt.subplots(1, len(tasks), figsize=(WIDTH, 5.2), layout="constrained", squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        name = task.nouns[1].capitalize()
        lengths = output_lengths(records, task.name)
        models = task_models(task.name, lengths, comparison)
        if not models:
            _empty(ax, "task not evaluated in this run")
            ax.set_title(name, fontsize=10.5)
            continue
        series = ["reference", *models]
        data = [lengths[key] for key in series]
        positions = np.arange(1, len(series) + 1)
        boxes = ax.boxplot(data, positions=positions - 0.14, whis=(5, 95), widths=0.3, patch_artist=True,
                           showmeans=True, showfliers=False, medianprops=dict(color="black", linewidth=1.5),
                           meanprops=dict(marker="D", markerfacecolor="white", markeredgecolor="black",
                                          markersize=4))
        # Every output as a dot beside its box: a box hides shape (and collapses to a line when every output
        # has the same length, as the lead baseline's do). Jitter is seeded so the committed PNG is reproducible.
        jitter = np.random.default_rng(0)
        for x, key, values in zip(positions, series, data, strict=True):
            colour = "white" if key == "reference" else COLOURS[role(key)]
            ax.scatter(x + 0.2 + jitter.uniform(-0.09, 0.09, len(values)), values, s=7, color=colour,
                       edgecolors="black", linewidths=0.3, alpha=0.6, zorder=3)
        for box, key in zip(boxes["boxes"], series, strict=True):
            if key == "reference":
                box.set(facecolor=REFERENCE_COLOUR, edgecolor="black", hatch="///")
            else:
                box.set(facecolor=COLOURS[role(key)], edgecolor="black")
        # The median in the tick label gives the number without a second lookup.
        names = ["Reference", *[label(m).replace(": ", ":\n") for m in models]]
        ax.set_xticks(positions,
                      [f"{text}\nmedian {np.median(values):g}" for text, values in zip(names, data, strict=True)],
                      fontsize=8.5)
        ax.set_ylim(0, max(max(values) for values in data) * 1.08 + 1)
        ax.set_ylabel("words per output")
        ax.set_title(f"{name} ({len(lengths['reference'])} test articles)", fontsize=10.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    singular = " / ".join(task.nouns[0] for task in tasks)
    handles = [
        Patch(facecolor=REFERENCE_COLOUR, edgecolor="black", hatch="///", label=f"reference (the article's own {singular})"),
        Patch(facecolor="#dddddd", edgecolor="black", label="box: middle 50% of outputs"),
        Line2D([], [], color="black", linewidth=1.5, label="median"),
        Line2D([], [], color="none", marker="D", markerfacecolor="white", markeredgecolor="black", markersize=4,
               label="mean"),
        Line2D([], [], color="black", linewidth=1, label="whiskers: 5th–95th percentile"),
        Line2D([], [], color="none", marker="o", markerfacecolor="#dddddd", markeredgecolor="black",
               markeredgewidth=0.3, markersize=4, label="one dot per output"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=8.5)
    _title(fig, "Output length in words: each model against the reference "
           f"{' and '.join(task.nouns[1] for task in tasks)}", subtitle)
    _save(fig, out)


# --------------------------------------------------------------------------- 3. confusion


def confusion_axes(confusions: list[dict], labels: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Shared rows and columns for several confusion dicts, so the matrices line up: the task's labels in
    their canonical order, unknown labels after them sorted, and '(not a label)' last when any model has it.
    Every row label is also a column, so each matrix has its full diagonal even for a class nobody answered."""
    rows = {r for confusion in confusions for r in confusion}
    columns = {c for confusion in confusions for row in confusion.values() for c in row}

    def order(names: set) -> list[str]:
        known = [name for name in labels if name in names]
        rest = sorted(names - set(labels) - {INVALID_LABEL})
        return known + rest + ([INVALID_LABEL] if INVALID_LABEL in names else [])

    return order(rows), order(columns | rows)


def confusion_grid(confusion: dict, rows: list[str], columns: list[str]) -> np.ndarray:
    """Counts as a rows x columns array; a cell the model's dict lacks (an answer it never gave) is 0."""
    return np.array([[confusion.get(r, {}).get(c, 0) for c in columns] for r in rows], dtype=int)


def _confusion_row(axes, metrics: dict[str, dict], models: list[str], task) -> Any:
    """One label task's matrices side by side; returns the last image (for the colour bar)."""
    rows, columns = confusion_axes([metrics[m][task.name]["confusion"] for m in models], task.labels)
    image = None
    for ax, model in zip(axes, models):
        counts = confusion_grid(metrics[model][task.name]["confusion"], rows, columns)
        share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for (i, j), count in np.ndenumerate(counts):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=9,
                    color="white" if share[i, j] > 0.55 else "black")
        ax.set_xticks(range(len(columns)), columns, rotation=30, ha="right", fontsize=8.5)
        if ax is axes[0]:  # the panels share rows; naming them once leaves the matrices more room
            ax.set_yticks(range(len(rows)), [f"{r}\n({n} articles)" for r, n in zip(rows, counts.sum(axis=1),
                                                                                    strict=True)], fontsize=8.5)
        else:
            ax.set_yticks(range(len(rows)), [])
            ax.tick_params(axis="y", which="major", left=False)
        ax.set_xlabel("answer")
        result = metrics[model][task.name]
        ax.set_title(f"{label(model)}\naccuracy {result.get('accuracy', 0):.2f}, "
                     f"macro-F1 {result.get('macro_f1', 0):.2f}", fontsize=10,
                     color=COLOURS[role(model)] if role(model) != "base" else "#555555")
        # Cell borders: helps the eye follow a row across the matrix.
        ax.set_xticks(np.arange(len(columns) + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
    for ax in axes[len(models):]:
        ax.axis("off")
    axes[0].set_ylabel(f"reference {task.nouns[0]}")
    return image


def confusion_figure(metrics: dict[str, dict], comparison: dict, out: Path, subtitle: str = "") -> None:
    """Confusion matrices of each label task (article type), a row per task: base, fine-tuned and the task's best
    baseline side by side, counts in the cells.

    Colour is the share of the reference row, on one 0-1 scale for all panels: with ~80% press releases,
    colouring by raw count would leave every minority-class cell the same pale shade.
    """
    tasks = of_kind("label")
    models = {task.name: task_models(task.name, [m for m in metrics if "confusion" in metrics[m].get(task.name, {})],
                                     comparison) for task in tasks}
    width = max([len(drawn) for drawn in models.values()] + [1])
    fig, grid = plt.subplots(max(len(tasks), 1), width, figsize=(WIDTH, 5.0 * max(len(tasks), 1)),
                             layout="constrained", squeeze=False)
    images, used = [], []
    for axes, task in zip(grid, tasks):
        if not models[task.name]:
            _empty(axes[0], f"{task.title.lower()} not evaluated in this run")
            for ax in axes[1:]:
                ax.axis("off")
            continue
        images.append(_confusion_row(axes, metrics, models[task.name], task))
        used += list(axes[:len(models[task.name])])
    singular = " / ".join(task.nouns[0] for task in tasks)
    if images:
        fig.colorbar(images[-1], ax=used, shrink=0.85, label=f"share of the reference {singular}'s articles")
    _title(fig, f"Article {singular}: confusion matrices (rows: reference, columns: answer; cells: article counts)",
           subtitle)
    _save(fig, out)


def confusion_records(confusion: dict[str, dict[str, int]]) -> list[dict[str, str]]:
    """A confusion dict as one {actual, predicted} record per answer (reference rows in their order), the data DVC's
    `confusion` template counts: `dvc plots show` draws the matrix and `dvc plots diff` puts experiments' side by side."""
    return [{"actual": actual, "predicted": predicted}
            for actual, row in confusion.items() for predicted, count in row.items() for _ in range(count)]


def confusion_plot_data(metrics: dict[str, dict]) -> dict[str, list[dict[str, str]]]:
    """{file name: confusion_records} per label task of the base and the fine-tuned model (the models experiments
    change), for the confusion plots dvc.yaml declares: confusion/<task>-<model>.json."""
    return {f"confusion/{task.name}-{model}.json": confusion_records(metrics[model][task.name]["confusion"])
            for task in of_kind("label") for model in LABELS
            if "confusion" in metrics.get(model, {}).get(task.name, {})}


# --------------------------------------------------------------------------- 4. tags


def tag_f1_table(records: dict[str, list[dict]], task: str, top: int = 12) -> dict[str, Any]:
    """F1 per element (tag) for the `top` most frequent reference elements of a set task's test set, per model.

    Returns {'tags': [(tag, articles with it)], 'articles': n, 'f1': {model: [F1 per tag]}}. Tags are matched
    case-insensitively (as in metrics.tag_scores); a tag's F1 is 2*hits / (times predicted + times expected),
    the per-tag F1 that metrics' macro-F1 averages. Ties in frequency go alphabetically.
    """
    references: dict[str, list] = {}
    per_model = {}
    for model, recs in records.items():
        rows = sorted((r for r in recs if r["task"] == task), key=lambda r: str(r["id"]))
        if rows:
            per_model[model] = rows
            for r in rows:
                references.setdefault(str(r["id"]), r["reference"])
    frequency, spelling = Counter(), {}
    for ref in references.values():
        # The same normalisation as tag_rows' expected set: a string is parsed, tags are stripped and case-folded.
        tags = [tag.strip() for tag in (parse_tags(ref) if isinstance(ref, str) else ref) if tag.strip()]
        frequency.update({tag.casefold() for tag in tags})
        for tag in tags:
            spelling.setdefault(tag.casefold(), tag)  # the first spelling seen is the one shown
    chosen = sorted(frequency, key=lambda tag: (-frequency[tag], tag))[:top]
    f1 = {}
    for model, rows in per_model.items():
        hits, predicted, expected = Counter(), Counter(), Counter()
        for row in tag_rows([r["prediction"] for r in rows], [r["reference"] for r in rows]):
            hits.update(row["predicted"] & row["expected"])
            predicted.update(row["predicted"])
            expected.update(row["expected"])
        f1[model] = [2 * hits[tag] / (predicted[tag] + expected[tag]) if predicted[tag] + expected[tag] else 0.0
                     for tag in chosen]
    return {"tags": [(spelling.get(tag, tag), frequency[tag]) for tag in chosen], "articles": len(references),
            "f1": f1}


def _tag_panel(ax, table: dict[str, Any], models: list[str], task) -> None:
    tags = table["tags"]
    height = 0.8 / len(models)
    for offset, model in enumerate(models):
        # y grows downwards after invert_yaxis, so the first model's bar is the top one of each group.
        ys = [i + (offset - (len(models) - 1) / 2) * height for i in range(len(tags))]
        bars = ax.barh(ys, table["f1"][model], height, color=COLOURS[role(model)], label=label(model))
        ax.bar_label(bars, fmt="%.2f", fontsize=VALUE_FONT, padding=2)
    ax.set_yticks(range(len(tags)), [f"{tag}  ({count} of {table['articles']})" for tag, count in tags],
                  fontsize=9)
    ax.invert_yaxis()  # most frequent tag on top
    ax.set_xlim(0, 1.08)  # room for a label after a bar at 1.0
    ax.set_xlabel(f"F1 for this {task.nouns[0]} over the test articles (0–1, higher is better)")
    ax.set_ylabel(f"reference {task.nouns[0]} (test articles with it)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)


def tags_figure(records: dict[str, list[dict]], comparison: dict, out: Path, subtitle: str = "",
                top: int = 12) -> None:
    """Horizontal grouped bars, a panel per set task (tags): F1 per element for its most frequent reference
    elements, for base, fine-tuned and the task's best baseline; each label says in how many test articles the
    element occurs."""
    tasks = of_kind("set")
    tables = {task.name: tag_f1_table(records, task.name, top) for task in tasks}
    heights = [1.4 + 0.5 * max(len(tables[task.name]["tags"]), 6) for task in tasks]
    fig, axes = plt.subplots(len(tasks), 1, figsize=(WIDTH, sum(heights)), layout="constrained", squeeze=False,
                             height_ratios=heights)
    legend = {}  # label -> bar container: a model drawn in several panels is explained once
    for ax, task in zip(axes[:, 0], tasks, strict=True):
        table = tables[task.name]
        models = task_models(task.name, table["f1"], comparison)
        if not models or not table["tags"]:
            _empty(ax, f"{task.title.lower()} not evaluated in this run")
            continue
        _tag_panel(ax, table, models, task)
        for container in ax.containers:
            legend.setdefault(container.get_label(), container)
    if legend:
        fig.legend(handles=list(legend.values()), loc="outside lower center", ncol=len(legend), frameon=False,
                   fontsize=9)
    _title(fig, "; ".join(f"{task.title}: F1 per {task.nouns[0]} for the {len(tables[task.name]['tags'])} most "
                          f"frequent reference {task.nouns[1]}" for task in tasks), subtitle)
    _save(fig, out)


# --------------------------------------------------------------------------- 5. loss


def smoothing_window(steps: int, cap: int) -> int:
    """A moving average's window for a per-step loss of `steps` steps: about a 25th of them, at least 1 and at most
    `cap`, wide enough to show the trend through one small batch's noise, narrow enough to keep the early fall."""
    return min(max(steps // 25, 1), cap)


def moving_average(values: list[float], window: int) -> np.ndarray:
    """Centred moving average; the ends use the shorter window that fits, so the curve spans every step."""
    array = np.asarray(values, dtype=float)
    sums = np.convolve(array, np.ones(window), mode="same")
    counts = np.convolve(np.ones_like(array), np.ones(window), mode="same")
    return sums / counts


def loss_figure(train_rows: list[dict[str, Any]], eval_rows: list[dict[str, Any]], best_step: int | None,
                out: Path, subtitle: str = "") -> None:
    """Train loss per step (raw and smoothed) and eval loss per evaluation, with the kept (best) step marked."""
    fig, ax = plt.subplots(figsize=(WIDTH, 5.0), layout="constrained")
    steps, losses = [r["step"] for r in train_rows if "loss" in r], [r["loss"] for r in train_rows if "loss" in r]
    ax.plot(steps, losses, color=COLOURS["finetuned"], alpha=0.3, linewidth=0.8, label="train loss per step")
    # Per-step loss is noisy (one small batch); the moving average shows the trend the eye looks for.
    window = smoothing_window(len(losses), cap=50)
    if window > 1:
        ax.plot(steps, moving_average(losses, window), color=COLOURS["finetuned"], linewidth=1.8,
                label=f"train loss, moving average of {window} steps")
    eval_steps = [r["step"] for r in eval_rows if "eval_loss" in r]
    eval_losses = [r["eval_loss"] for r in eval_rows if "eval_loss" in r]
    ax.plot(eval_steps, eval_losses, color=EVAL_COLOUR, marker="o", markersize=5, linewidth=1.5, linestyle="--",
            label="eval loss (validation set)")
    if best_step is not None:
        at = [loss for step, loss in zip(eval_steps, eval_losses, strict=True) if step == best_step]
        ax.axvline(best_step, color="black", linestyle=":", linewidth=1.2)
        # One legend entry for line and star: "this step, with this eval loss, is the adapter that was kept".
        ax.plot([best_step], at[:1] or [np.nan], marker="*", markersize=14, color="black", linestyle=":",
                label=f"kept checkpoint: step {best_step}" + (f", eval loss {at[0]:.3f}" if at else ""))
    ax.set_xlabel("global step (optimizer updates)")
    ax.set_ylabel("cross-entropy per answer token (nats)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=4, frameon=False, fontsize=9)
    _title(fig, "LoRA fine-tuning: loss on the answer tokens", subtitle)
    _save(fig, out)
