"""Stage score: one metrics JSON per model (LLMs and baselines) with bootstrap intervals (at score.confidence) for
the headline metrics and the shares of invented facts, and the paired comparison of the fine-tuned model with the base
model and the best baseline."""

import argparse
from pathlib import Path

from pressft.config import load_config
from pressft.errors import run_stage
from pressft.evaluation.faithfulness import add_invented_intervals, compare_invented, score_invented
from pressft.evaluation.metrics import add_intervals, compare_models, score_predictions
from pressft.io import read_jsonl, write_json
from pressft.tasks import REGISTRY


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictions", required=True, nargs="+", help="predictions JSONL files, one per model")
    parser.add_argument("--out", required=True, help="metrics folder: <model>.json per predictions file")
    parser.add_argument("--comparison", required=True, help="paired comparison JSON")
    parser.add_argument("--test", required=True, help="test task examples: the articles that answers are checked against")
    args = parser.parse_args()
    score = load_config("score").score
    sources = {(str(example["id"]), example["task"]): example["input"] for example in read_jsonl(args.test)}
    metrics, statistics, invented = {}, {}, {}
    for path in map(Path, args.predictions):
        records = read_jsonl(path)
        metrics[path.stem], statistics[path.stem] = score_predictions(
            records, bertscore_model=score.bertscore_model, bertscore_layers=score.bertscore_layers,
            with_statistics=True,
        )
        add_intervals(metrics[path.stem], statistics[path.stem], score.bootstrap_resamples, score.seed,
                      confidence=score.confidence)
        scores, invented[path.stem] = score_invented(records, sources)
        for task, values in scores.items():
            add_invented_intervals(values, invented[path.stem][task], score.bootstrap_resamples, score.seed,
                                   confidence=score.confidence)
            metrics[path.stem][task].update(values)
        write_json(metrics[path.stem], Path(args.out) / f"{path.stem}.json", ensure_ascii=False)
        headline = {task: metrics[path.stem][task][spec.headline] for task, spec in REGISTRY.items()
                    if task in metrics[path.stem]}
        print(f"score: {path.stem}: {headline}")
    comparison = compare_models(metrics, statistics, score.bootstrap_resamples, score.seed,
                                confidence=score.confidence)
    for task, entries in compare_invented(metrics, invented, score.bootstrap_resamples, score.seed,
                                          confidence=score.confidence).items():
        comparison[task].update(entries)
    write_json(comparison, args.comparison, ensure_ascii=False)
    for task, entry in comparison.items():
        if isinstance(entry, dict):
            verdicts = {key: value["verdict"] for key, value in entry.items()
                        if isinstance(value, dict) and "verdict" in value}
            print(f"score: {task}: fine-tuned {entry['finetuned']} {verdicts}")


if __name__ == "__main__":
    run_stage(main)
