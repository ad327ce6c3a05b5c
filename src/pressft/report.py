"""The generated markdown report: what went in, how it was trained, and what fine-tuning buys over the base
model and over simple baselines, with intervals, per-class results and examples."""

from typing import Any

from pressft.metrics import HEADLINE, INVALID_LABEL, example_scores

_METRIC_NAMES = {
    "rouge1": "ROUGE-1 F1", "rouge2": "ROUGE-2 F1", "rougeL": "ROUGE-L F1", "bertscore_f1": "BERTScore F1",
    "avg_words": "avg words", "length_ratio": "length ratio (± std)", "well_formed": "well-formed",
    "perplexity": "perplexity of the reference", "exact_match": "exact match", "jaccard": "Jaccard",
    "precision": "precision", "recall": "recall", "f1": "F1 (per article)", "micro_f1": "micro-F1",
    "macro_f1": "macro-F1", "accuracy": "accuracy",
}
_ROWS = {
    "summarization": ["rougeL", "rouge1", "rouge2", "bertscore_f1", "avg_words", "length_ratio", "well_formed",
                      "perplexity"],
    "title": ["rouge1", "rouge2", "rougeL", "bertscore_f1", "avg_words", "length_ratio", "well_formed", "perplexity"],
    "tags": ["f1", "exact_match", "jaccard", "precision", "recall", "micro_f1", "macro_f1", "well_formed",
             "perplexity"],
    "type": ["macro_f1", "accuracy", "well_formed", "perplexity"],
}
_WHAT = {"summarization": "summaries", "title": "titles", "tags": "tag lists", "type": "article types"}


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items()) or "none"


def _spread(spread: dict[str, float]) -> str:
    return f"{spread['mean']:g} (median {spread['median']:g}, {spread['min']:g}–{spread['max']:g})"


def _value(metrics: dict | None, key: str) -> str:
    if not metrics or key not in metrics:
        return "–"
    value = metrics[key]
    if key == "length_ratio":
        return f"{value:.2f} ± {metrics['length_ratio_std']:.2f}"
    if key == "avg_words":
        return f"{value:.1f} (ref {metrics['ref_avg_words']:.1f})"
    if key == "perplexity":
        return f"{value:.2f}"
    text = f"{value:.3f}"
    if f"{key}_ci_low" in metrics:
        text += f" [{metrics[f'{key}_ci_low']:.3f}, {metrics[f'{key}_ci_high']:.3f}]"
    return text


def _interval(entry: dict) -> str:
    return f"{entry['diff']:+.3f} [{entry['ci_low']:+.3f}, {entry['ci_high']:+.3f}]"


def _difference(entry: dict | None) -> str:
    return f"{_interval(entry)} {entry['verdict']}" if entry else "–"


# ------------------------------------------------------------------ sections


def summary_section(comparison: dict, synthetic: bool) -> str:
    lines, verdicts = [], {"base": [], "baseline": []}
    for task, key in HEADLINE.items():
        entry = comparison.get(task)
        if not entry:
            continue
        versus_base = entry.get("finetuned_minus_base")
        versus_best = entry.get("finetuned_minus_best_baseline")
        text = f"- **{task}** ({_METRIC_NAMES[key]}): fine-tuned {entry['finetuned']:.3f}"
        if versus_base:
            verdicts["base"].append(versus_base["verdict"])
            text += f"; vs base {entry['base']:.3f}: **{versus_base['verdict']}** ({_interval(versus_base)})"
        if versus_best:
            verdicts["baseline"].append(versus_best["verdict"])
            text += (f"; vs the best baseline ({entry['best_baseline']}, {entry['best_baseline_value']:.3f}): "
                     f"**{versus_best['verdict']}** ({_interval(versus_best)})")
        lines.append(text)

    def tally(found: list[str]) -> str:
        return ", ".join(f"{found.count(v)} {v}" for v in ("better", "tie", "worse") if found.count(v)) or "none"

    caveat = (" The corpus is SYNTHETIC and the model a tiny stand-in: these numbers test the pipeline, they say "
              "nothing about Llama-3.2-1B on real articles." if synthetic else "")
    head = (f"Against the base model, fine-tuning is {tally(verdicts['base'])}; against the best simple baseline "
            f"per task, it is {tally(verdicts['baseline'])} (tasks; \"better\"/\"worse\" only where the 95% paired "
            f"bootstrap interval of the difference excludes 0, otherwise \"tie\").{caveat}")
    return "## Summary\n\n" + head + "\n\n" + "\n".join(lines)


def model_section(params: dict, base: dict, train: dict) -> str:
    t, lora, infer = params["train"], params["train"]["lora"], params["infer"]
    rows = [
        ["base model", f"{params['model']['base']} ({base['parameters']:,} parameters, vocabulary {base['vocab_size']:,})"],
        ["LoRA", f"r {lora['r']}, alpha {lora['alpha']}, dropout {lora['dropout']}, on {', '.join(lora['target_modules'])}"],
        ["optimisation", f"lr {t['lr']}, {t['scheduler']} schedule, {t['warmup_steps']} warmup steps, weight decay "
                         f"{t['weight_decay']}, batch {t['batch_size']} × accumulation {t['grad_accum']} × "
                         f"{train['processes']} process(es), up to {t['epochs']} epochs, seed {t['seed']}"],
        ["evaluation", f"eval loss every {t['eval_steps']} steps; early stopping after {t['early_stopping_patience']} "
                       f"evaluations without improvement; best checkpoint kept: {t['keep_best']}"],
        ["sequence", f"max_length {params['model']['max_length']} tokens (prompt + answer; inputs shortened, answers "
                     f"never), chat template with the fixed date {params['model']['date_string']!r}"],
        ["training set", f"{train['train_articles']} articles, {train['train_examples']} examples (minority types "
                         f"oversampled up to ×{t['type_oversample_cap']} in the type task)"],
        ["run", f"{train['steps']} steps ({train['epochs']} epochs), best eval loss {train['best_eval_loss']} "
                f"(perplexity {train['best_eval_perplexity']}) at step {train['best_step']}; "
                f"{train['trainable_parameters']:,} trainable parameters ({train['trainable_percent']}%)"],
        ["cost", f"{train['tokens_seen']:,} tokens in {train['runtime_seconds']} s ({train['tokens_per_second']:,.0f} "
                 f"tokens/s), {train['precision']}, peak memory {train['peak_memory_gib']} GiB ({train['peak_memory_kind']})"],
        ["inputs shortened", f"{train['inputs_shortened']['train']} training and {train['inputs_shortened']['val']} "
                             f"validation examples"],
        ["inference", f"greedy, {infer['backend']}, infer.dtype {infer['dtype']}, batches of {infer['batch_size']}, at "
                      "most " + ", ".join(f"{n} ({task})" for task, n in infer["max_new_tokens"].items()) +
                      " new tokens, stop at end-of-turn"],
    ]
    return "## Model and training\n\n" + markdown_table(["", ""], rows)


def data_section(data: dict[str, Any], splits: dict[str, Any]) -> str:
    source = data["source"] + (" (SYNTHETIC corpus generated by the project)" if data["synthetic"] else "")
    rows = [
        ["source", source],
        ["records read", data["records_read"]],
        ["kept", data["kept"]],
        ["rejected", f"{data['rejected']} ({_counts(data['rejected_by_reason'])})"],
        ["duplicates removed", data["duplicates"]],
        ["boilerplate stripped (articles)", _counts(data["boilerplate_stripped"])],
        ["types", _counts(data["types"])],
        ["tags per article", _spread(data["tags_per_article"])],
        ["distinct tags", data["distinct_tags"]],
        *[[f"words per {field}", _spread(spread)] for field, spread in data["words"].items()],
        ["summaries found verbatim in the content", f"{data['summary_in_content']:.0%}"],
    ]
    split_rows = [
        [name, splits[name]["articles"], splits[name]["examples"], _counts(splits[name]["types"])]
        for name in ("test", "val", "pool")
    ]
    removed = sum(splits["leakage_removed"].values())
    return "\n\n".join([
        "## Data",
        markdown_table(["", ""], rows),
        "Per-record reasons are in `data/raw/rejects.jsonl`.",
        markdown_table(["split", "articles", "examples", "types"], split_rows),
        f"Excluded types: {_counts(splits['excluded'])}. Leakage guard: {removed} training-pool articles removed "
        f"for sharing a URL, a normalised title or the content with a test or validation article "
        f"({_counts(splits['leakage_removed'])}). Test and validation sets do not depend on `train.size`.",
    ])


def _baseline_for(task: str, comparison: dict, metrics: dict) -> tuple[str | None, dict | None]:
    name = comparison.get(task, {}).get("best_baseline")
    return name, (metrics[name][task] if name else None)


def results_section(metrics: dict[str, dict], comparison: dict) -> str:
    parts = ["## Results per task",
             "95% bootstrap intervals over the test articles in brackets; differences are paired (both models "
             "resampled on the same articles). The best baseline is the one with the highest headline metric on "
             "this test set, which favours the baseline."]
    for task in HEADLINE:
        if task not in metrics["finetuned"]:
            continue
        name, baseline = _baseline_for(task, comparison, metrics)
        header = ["metric", "fine-tuned", "base", f"best baseline ({name})" if name else "best baseline",
                  "fine-tuned − base", "fine-tuned − baseline"]
        rows = []
        for key in _ROWS[task]:
            if key not in metrics["finetuned"][task] and (baseline is None or key not in baseline):
                continue
            headline = key == HEADLINE[task]
            entry = comparison.get(task, {})
            rows.append([
                f"**{_METRIC_NAMES[key]}**" if headline else _METRIC_NAMES[key],
                _value(metrics["finetuned"][task], key),
                _value(metrics["base"][task], key),
                _value(baseline, key),
                _difference(entry.get("finetuned_minus_base")) if headline else "",
                _difference(entry.get("finetuned_minus_best_baseline")) if headline else "",
            ])
        note = ""
        if task == "type":
            note = f"\n\nAlways answering the majority type scores macro-F1 {metrics['finetuned'][task]['majority_macro_f1']:.3f}."
        parts.append(f"### {task}\n\n" + markdown_table(header, rows) + note)
    return "\n\n".join(parts)


def types_section(metrics: dict[str, dict], comparison: dict) -> str:
    finetuned = metrics["finetuned"]["type"]
    name, baseline = _baseline_for("type", comparison, metrics)
    rows = [[label, finetuned["support"][label], f"{finetuned['per_class_accuracy'][label]:.2f}",
             f"{metrics['base']['type']['per_class_accuracy'].get(label, 0):.2f}",
             f"{baseline['per_class_accuracy'].get(label, 0):.2f}" if baseline else "–"]
            for label in finetuned["support"]]
    columns = list(next(iter(finetuned["confusion"].values())))
    confusion = [[f"**{label}**"] + [counts[c] for c in columns] for label, counts in finetuned["confusion"].items()]
    return "\n\n".join([
        "## Article types",
        "Per-class accuracy (recall) on the test set. With a handful of articles in a class, one article moves its "
        "accuracy by a large step: read the minority rows as anecdotes, not estimates.",
        markdown_table(["type", "test articles", "fine-tuned", "base", f"best baseline ({name})" if name else "baseline"], rows),
        f"Fine-tuned answers by type: {_counts(finetuned['predicted'])}. Confusion matrix of the fine-tuned model "
        f"(rows: reference, columns: answer; \"{INVALID_LABEL}\" is an answer that names no type):",
        markdown_table(["reference \\ answer"] + columns, confusion),
    ])


def _excerpt(text: str, words: int = 60) -> str:
    split = " ".join(text.split()).split(" ")
    return " ".join(split[:words]) + (" …" if len(split) > words else "")


def _quote(text: str) -> str:
    return "`" + (" ".join(text.split()).replace("`", "'") or "(empty)") + "`"


def examples_section(tests: list[dict], predictions: dict[str, list[dict]], count: int = 3) -> str:
    """For each task, the fine-tuned model's worst, median and best test example by the task metric (ties
    broken by article id, so the choice repeats), with the base model's answer to the same prompt."""
    by_key = {name: {(r["id"], r["task"]): r for r in records} for name, records in predictions.items()}
    parts = ["## Examples",
             "Chosen by the fine-tuned model's score on each example (worst, median, best; ties by article id)."]
    for task in HEADLINE:
        examples = sorted((e for e in tests if e["task"] == task), key=lambda e: e["id"])
        if not examples or (examples[0]["id"], task) not in by_key["finetuned"]:
            continue
        finetuned = [by_key["finetuned"][(e["id"], task)] for e in examples]
        scores = example_scores(task, [r["prediction"] for r in finetuned], [e["reference"] for e in examples])
        order = sorted(range(len(examples)), key=lambda i: (scores[i], examples[i]["id"]))
        picks = {"worst": order[0], "median": order[len(order) // 2], "best": order[-1]}
        lines = [f"### {task}"]
        for label, index in list(picks.items())[:count]:
            example = examples[index]
            expected = ", ".join(example["reference"]) if task == "tags" else example["reference"]
            base = by_key["base"].get((example["id"], task), {}).get("prediction", "")
            lines.append(
                f"**{label}** (score {scores[index]:.2f}, article `{example['id']}`)\n\n"
                f"- prompt: {_quote(example['instruction'] + ' … ' + _excerpt(example['input']))}\n"
                f"- expected: {_quote(expected)}\n"
                f"- fine-tuned: {_quote(finetuned[index]['prediction'])}\n"
                f"- base: {_quote(base)}"
            )
        parts.append("\n\n".join(lines))
    return "\n\n".join(parts)


def perplexity_section(metrics: dict[str, dict]) -> str:
    rows = [[task, _value(metrics["finetuned"].get(task), "perplexity"), _value(metrics["base"].get(task), "perplexity")]
            for task in HEADLINE if task in metrics["finetuned"]]
    rows.append(["all answer tokens", f"{metrics['finetuned'].get('perplexity', float('nan')):.2f}",
                 f"{metrics['base'].get('perplexity', float('nan')):.2f}"])
    return ("## Perplexity of the reference answers\n\nThe reference answer (and its end-of-turn token) given the "
            "prompt, exactly as training scores it: the quantity fine-tuning minimises. Lower is better.\n\n"
            + markdown_table(["task", "fine-tuned", "base"], rows))


def render_report(
    *, params: dict, base: dict, data: dict, splits: dict, train: dict, metrics: dict[str, dict], comparison: dict,
    tests: list[dict], predictions: dict[str, list[dict]], figures: list[str],
) -> str:
    figure_lines = "\n\n".join(f"![{name}](../plots/{name})" for name in figures)
    return "\n\n".join([
        f"# Results: LoRA fine-tuning of `{params['model']['base']}` on BMW PressClub articles",
        "Generated by the `report` stage of `dvc repro` from the metrics and predictions; do not edit by hand. "
        f"Test set: {splits['test']['articles']} articles × {len(HEADLINE)} tasks, the same for every training size.",
        summary_section(comparison, data["synthetic"]),
        model_section(params, base, train),
        data_section(data, splits),
        results_section(metrics, comparison),
        types_section(metrics, comparison),
        perplexity_section(metrics),
        examples_section(tests, predictions),
        "## Figures\n\n" + figure_lines,
    ]) + "\n"
