"""A model's headline metrics on the validation examples, to choose settings without looking at the test set: each
task's headline metric, the share of answers that hit their token limit, invented numbers and names in the free-text
answers (counted as the score stage counts them), and for label tasks both answer methods
(free generation parsed to a label, and the label most likely after the prompt: infer.label_method). One generation
pass gives both. For tags, also where the answered and the reference tags come from: the candidates offered in the
prompt (tasks.neighbours) and the tags of the training articles (the first train.size of --pool), whose shares of the
reference tags are the ceilings of choosing among them; and where candidates were offered, the F1 of another way to
answer, the line the model finds likeliest among the offered lines and its own answer, beside the nearest article's
line and the best line.

    python scripts/validate.py                                          # the adapter on data/tasks/val.jsonl
    python scripts/validate.py --model models/base                      # the base model
    python scripts/validate.py --exp real-preset --out metrics/val.json --answers val-answers.jsonl

The settings are those of params.yaml (prompts, max_length, greedy decoding); the examples carry their prompts'
candidates (tasks.neighbours) as build_tasks wrote them, so validate a run with the val file of that run.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pressft.config import load_config  # noqa: E402
from pressft.errors import UserError, run_stage  # noqa: E402
from pressft.evaluation.faithfulness import invented_facts  # noqa: E402
from pressft.data.neighbours import offered, offered_lines  # noqa: E402
from pressft.evaluation.metrics import headline_statistic, tag_scores, tag_sources, type_scores  # noqa: E402
from pressft.io import read_jsonl, write_json, write_jsonl  # noqa: E402
from pressft.model.answering import model_directory  # noqa: E402
from pressft.tasks import REGISTRY, label_choices, of_kind  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/adapter", help="adapter or model directory (default: %(default)s)")
    parser.add_argument("--exp", help="take --model from this DVC experiment (or git revision) instead of the workspace")
    parser.add_argument("--examples", default="data/tasks/val.jsonl", help="task examples (default: %(default)s)")
    parser.add_argument("--pool", default="data/tasks/pool.jsonl", help="the training pool (default: %(default)s)")
    parser.add_argument("--out", help="also write the scores as JSON here")
    parser.add_argument("--answers", help="also write the answers here, one JSON line per example, as infer does")
    args = parser.parse_args()
    config = load_config("model", "infer", "train")
    examples = read_jsonl(args.examples)
    if not examples:
        raise UserError(f"{args.examples} holds no example")
    labels = label_choices([task.name for task in of_kind("label")], "likelihood")
    from pressft.model.generation import generate_predictions
    from pressft.model.modeling import load_for_inference, trained_label_repeats

    with model_directory(args.model, args.exp) as directory:
        model, tokenizer = load_for_inference(directory, config.infer.dtype)
        repeats = trained_label_repeats(directory)
    records = generate_predictions(model, tokenizer, examples, max_new_tokens=config.infer.max_new_tokens,
                                   max_length=config.model.max_length, date_string=config.model.date_string,
                                   batch_size=config.infer.batch_size, labels=labels,
                                   label_repeats=repeats)
    if args.answers:
        write_jsonl(records, args.answers)
    sources = {(str(example["id"]), example["task"]): example["input"] for example in examples}
    hints = {(str(example["id"]), example["task"]): example.get("hint", "") for example in examples}
    out = {"model": args.model, "exp": args.exp, "examples": args.examples}
    for task in (name for name in REGISTRY if any(record["task"] == name for record in records)):
        rows = [record for record in records if record["task"] == task]
        spec = REGISTRY[task]
        limit = sum(record["hit_limit"] for record in rows) / len(rows)
        if task in labels:
            # Scored twice: as generated ("generated" keeps the text) and as chosen by likelihood ("prediction").
            out[task] = {"examples": len(rows), "hit_limit": round(limit, 4)}
            for method, key in (("generate", "generated"), ("likelihood", "prediction")):
                scores = type_scores([record[key] for record in rows], [record["reference"] for record in rows],
                                     labels[task])
                out[task][method] = {name: scores[name] for name in ("macro_f1", "accuracy", "well_formed")}
                print(f"{task} ({len(rows)} examples), {method}: macro-F1 {scores['macro_f1']:.3f}, accuracy "
                      f"{scores['accuracy']:.3f}, valid labels {scores['well_formed']:.3f}")
            continue
        value = round(headline_statistic(task, rows).value, 4)
        out[task] = {"examples": len(rows), spec.headline: value, "hit_limit": round(limit, 4)}
        line = f"{task} ({len(rows)} examples): {spec.headline} {value:.3f}, hit the token limit {limit:.1%}"
        if spec.kind == "text":  # invented facts, as the score stage counts them on the test set
            invented, _ = invented_facts(sorted(rows, key=lambda r: str(r["id"])), sources)
            out[task] |= {key: invented[key] for key in ("invented_numbers", "invented_names")}
            line += (f", invented numbers {invented['invented_numbers']:.3f} of {invented['numbers_checked']}, "
                     f"names {invented['invented_names']:.3f}")
        print(line)
        if spec.kind == "set":
            out[task] |= _tag_sources(rows, hints, args.pool, config.train.size)
            if any(hints[str(row["id"]), task] for row in rows):
                out[task] |= _likeliest_line(model, tokenizer, rows, examples, config)
    if args.out:
        write_json(out, args.out)


def _likeliest_line(model, tokenizer, rows: list[dict], examples: list[dict], config) -> dict:
    """A measured alternative to the generated tags: the answer that the model finds most likely (likeliest) among
    the lines its prompt offered and its own answer, printed beside the answer, the nearest article's line and the
    best of the lines (the ceiling of choosing a line). Per-sample tag F1, as the headline."""
    from pressft.model.generation import likeliest

    task = rows[0]["task"]
    prompts = {str(example["id"]): example for example in examples if example["task"] == task}
    asked = [prompts[str(row["id"])] for row in rows]
    # The answer last: where it copies an offered line, a tie goes to the line.
    lines = [offered_lines(example.get("hint", "")) + [row["prediction"]]
             for example, row in zip(asked, rows, strict=True)]
    chosen = likeliest(model, tokenizer, asked, lines,
                       max_new_tokens=config.infer.max_new_tokens, max_length=config.model.max_length,
                       date_string=config.model.date_string, batch_size=config.infer.batch_size,
                       log=lambda message: None)
    references = [row["reference"] for row in rows]

    def f1(answers: list[str]) -> float:
        return tag_scores(answers, references)["f1"]

    best = [max(options[:-1] or options, key=lambda line: tag_scores([line], [reference])["f1"])
            for options, reference in zip(lines, references, strict=True)]
    found = {"likeliest_f1": f1([options[k] for options, k in zip(lines, chosen, strict=True)]),
             "likeliest_is_answer": round(sum(k == len(options) - 1 for options, k in zip(lines, chosen))
                                          / len(rows), 4),
             "nearest_line_f1": f1([options[0] for options in lines]), "best_line_f1": f1(best)}
    print(f"  the likeliest of the offered lines and the answer: F1 {found['likeliest_f1']:.3f} (the answer itself "
          f"{found['likeliest_is_answer']:.1%}); the nearest article's line {found['nearest_line_f1']:.3f}, "
          f"the best line {found['best_line_f1']:.3f}")
    return found


def _tag_sources(rows: list[dict], hints: dict[tuple[str, str], str], pool: str, size: int | None) -> dict:
    """tag_sources of the answers in `rows` (hints: each example's, by id and task), printed; {} (and a line saying
    so) without the training pool."""
    if not Path(pool).exists():
        print(f"  {pool} not found: where the tags come from is left out")
        return {}
    task = rows[0]["task"]
    learnt = {tag for example in read_jsonl(pool) if example["task"] == task
              and (size is None or example["rank"] < size) for tag in example["reference"]}
    offers = [set(offered(hints[str(row["id"]), task])) for row in rows]
    found = tag_sources([row["prediction"] for row in rows], [row["reference"] for row in rows], offers, learnt)

    def share(key: str) -> str:
        return "none" if found[key] is None else f"{found[key]:.1%}"

    if any(offers):
        print(f"  offered as candidates: {share('answered_offered')} of the answered tags, "
              f"{share('reference_offered')} of the reference tags")
    print(f"  in the training tags: {share('answered_learnt')} of the answered tags, "
          f"{share('reference_learnt')} of the reference tags")
    return found


if __name__ == "__main__":
    run_stage(main)
