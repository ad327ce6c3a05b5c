"""Run a trained model on new articles: summary, title, tags and type of each, as JSON lines on stdout (or --out).

    python scripts/generate.py article.txt                       # the fine-tuned adapter of the workspace
    python scripts/generate.py articles.jsonl --tasks title,tags --out answers.jsonl
    cat article.json | python scripts/generate.py -              # stdin: text, JSON or JSONL
    python scripts/generate.py article.txt --exp size-120-seed-3407   # the adapter an experiment trained
    python scripts/generate.py article.txt --model models/base        # the base model, zero-shot

An article is a .txt file (its content), or a JSON object with "content" and, where known, "summary" (the title,
tags and type prompts read summary + content, as in training; without one, the model's own summary stands in),
"id" or "url". The prompts, token budget and greedy decoding are those of the evaluation (params.yaml), so an
article of the test set gets the answers the infer stage gave it. Progress goes to stderr.
"""

import argparse
import os
import sys
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pressft.model.answering import (  # noqa: E402
    answer_articles,
    check_tasks,
    model_directory,
    prepare_article,
    read_articles,
)
from pressft.errors import UserError, run_stage  # noqa: E402
from pressft.io import jsonl_line, read_jsonl, write_jsonl  # noqa: E402
from pressft.config import check_train_size, load_config  # noqa: E402
from pressft.data.neighbours import add_candidates  # noqa: E402
from pressft.data.splits import pool_articles  # noqa: E402
from pressft.tasks import label_choices  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="a .txt, .json or .jsonl file of articles, or - for stdin")
    parser.add_argument("--model", default="models/adapter", help="adapter or model directory (default: %(default)s)")
    parser.add_argument("--exp", help="take --model from this DVC experiment (or git revision) instead of the workspace")
    parser.add_argument("--tasks", default="summarization,title,tags,type", help="comma-separated (default: all)")
    parser.add_argument("--out", help="write JSON lines here instead of stdout")
    parser.add_argument("--pool", default="data/tasks/pool.jsonl",
                        help="the training examples, read where params tasks.neighbours offers candidates from "
                             "similar training articles (default: %(default)s)")
    args = parser.parse_args()
    config = load_config("data", "tasks", "model", "infer", "train")
    tasks = check_tasks([name.strip() for name in args.tasks.split(",") if name.strip()])
    articles = [prepare_article(raw, number, config.data.max_chars)
                for number, raw in enumerate(read_articles(args.input), start=1)]
    if not articles:
        raise UserError(f"input {args.input} holds no article")
    from pressft.model.modeling import load_for_inference, trained_label_repeats

    infer = config.infer
    settings = dict(max_new_tokens=infer.max_new_tokens, max_length=config.model.max_length,
                    date_string=config.model.date_string, batch_size=infer.batch_size,
                    labels=label_choices(tasks, infer.label_method))
    with model_directory(args.model, args.exp) as directory:
        model, tokenizer = load_for_inference(directory, infer.dtype)
        settings["label_repeats"] = trained_label_repeats(directory)  # as the infer stage corrects label answers
    print(f"generate: {len(articles)} article(s), {', '.join(tasks)}, with {args.model}"
          + (f" of {args.exp}" if args.exp else ""), file=sys.stderr)
    offer = None
    if config.tasks.neighbours:
        if not Path(args.pool).is_file():
            raise UserError(f"params tasks.neighbours offers candidates from the training articles, but {args.pool} "
                            "is missing; run `dvc repro build_tasks` (or `dvc pull`) or give --pool")
        pool = read_jsonl(args.pool)
        size = check_train_size(config.train.size, pool_articles(pool))
        offer = partial(add_candidates, pool=pool, neighbours=config.tasks.neighbours, train_articles=size)
    results = answer_articles(model, tokenizer, articles, tasks, prompts=config.tasks.prompts, settings=settings,
                              candidates=offer, log=lambda line: print(line, file=sys.stderr))
    if args.out:
        write_jsonl(results, args.out)
        print(f"generate: {len(results)} result(s) -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.writelines(map(jsonl_line, results))


if __name__ == "__main__":
    run_stage(main)
