"""Label tasks (the article type) answered both ways on one split, to choose infer.label_method on validation:
free generation parsed to a label, and the label most likely after the prompt. One generation pass gives both.

    python scripts/compare_label_methods.py                                  # the adapter on data/tasks/val.jsonl
    python scripts/compare_label_methods.py --model models/base              # the base model
    python scripts/compare_label_methods.py --exp real-preset --out metrics/label-methods.json

Prints, per label task, macro-F1, accuracy and the share of valid labels of each method (the settings of
params.yaml: prompts, max_length, greedy decoding); --out writes the same as JSON.
"""

import argparse
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pressft.config import load_config  # noqa: E402
from pressft.errors import UserError, run_stage  # noqa: E402
from pressft.evaluation.metrics import type_scores  # noqa: E402
from pressft.io import read_jsonl, write_json  # noqa: E402
from pressft.model.answering import model_directory  # noqa: E402
from pressft.tasks import label_choices, of_kind  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/adapter", help="adapter or model directory (default: %(default)s)")
    parser.add_argument("--exp", help="take --model from this DVC experiment (or git revision) instead of the workspace")
    parser.add_argument("--examples", default="data/tasks/val.jsonl", help="task examples (default: %(default)s)")
    parser.add_argument("--out", help="also write the scores as JSON here")
    args = parser.parse_args()
    config = load_config("model", "infer")
    labels = label_choices([task.name for task in of_kind("label")], "likelihood")
    examples = [example for example in read_jsonl(args.examples) if example["task"] in labels]
    if not examples:
        raise UserError(f"{args.examples} holds no example of a label task ({', '.join(labels) or 'none registered'})")
    from pressft.model.generation import generate_predictions
    from pressft.model.modeling import load_for_inference

    with model_directory(args.model, args.exp) as directory:
        model, tokenizer = load_for_inference(directory, config.infer.dtype)
    records = generate_predictions(model, tokenizer, examples, max_new_tokens=config.infer.max_new_tokens,
                                   max_length=config.model.max_length, date_string=config.model.date_string,
                                   batch_size=config.infer.batch_size, labels=labels)
    out = {"model": args.model, "exp": args.exp, "examples": args.examples}
    for task in labels:
        rows = [record for record in records if record["task"] == task]
        references = [record["reference"] for record in rows]
        out[task] = {}
        for method, key in (("generate", "generated"), ("likelihood", "prediction")):
            scores = type_scores([record[key] for record in rows], references, labels[task])
            out[task][method] = {name: scores[name] for name in ("macro_f1", "accuracy", "well_formed")}
            print(f"{task} ({len(rows)} examples), {method}: macro-F1 {scores['macro_f1']:.3f}, accuracy "
                  f"{scores['accuracy']:.3f}, valid labels {scores['well_formed']:.3f}")
    if args.out:
        write_json(out, args.out)


if __name__ == "__main__":
    run_stage(main)
