"""The data-size study in one command: one DVC experiment per size in `study.sizes` and training seed in
`study.seeds` (params.yaml), run one after another from the current commit, then collected into study/ (table,
figures, JSON): each size's mean over seeds, the seeds' spread, and verdicts against the base model and the best
baseline from a bootstrap over seeds and test articles together.

    python scripts/size_study.py                             # every size x seed of params.yaml, then collect
    python scripts/size_study.py --sizes 100,200 --seeds 1   # other sizes and seeds
    python scripts/size_study.py --collect     # only collect experiments that already ran (from this commit, or for
                                               # runs it lacks, the nearest commit before it), every seed found
    python scripts/size_study.py --render      # only rewrite study.md and metrics.png from study.json (no experiments)
    python scripts/size_study.py --sizes 30,60,120,238 --seeds 3407 --set preset=real \
        --set data.path=/abs/path/articles.jsonl --out study/real-articles   # real articles: every run gets the -S

Each experiment is `dvc exp run --queue -S train.size=N -S train.seed=S` (plus each `--set`, the same on every run),
run one at a time by DVC's queue: DVC reruns only what depends on them (train,
infer@finetuned, baselines, score, plot, report) and restores the data, the base model and the base inference
from its cache.
The `dvc plots diff <revision> ...` command the script prints at the end overlays their loss curves in the
browser (revisions, not the names size-N: a study from a later commit has a size-500 of its own).
"""

import argparse
import re
import subprocess
import time
from pathlib import Path

from ruamel.yaml import YAML

from pressft.config import compose, load_config, parse_config
from pressft.errors import UserError, run_stage
from pressft.io import read_json, write_json
from pressft.evaluation.study import (
    check_same_test_set,
    experiment_name,
    experiments,
    read_experiment,
    rows_from_json,
    run_statistics,
    study_rows,
)
from pressft.presentation.study_report import loss_figure, metrics_figure, study_markdown


def integers(text: str, flag: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise UserError(f"{flag} must be comma-separated integers, got {text!r}") from None


def dvc(*args: str) -> None:
    print(f"size_study: dvc {' '.join(args)}", flush=True)
    if subprocess.run(["dvc", *args]).returncode != 0:
        raise UserError(f"dvc {' '.join(args)} failed (see its output above)")


WAITING = ("Queued", "Running")


def queue_status() -> tuple[dict[str, tuple[str, str]], int]:
    """({task: (experiment name, state: Queued, Running, Success, Failed, ...)}, workers, active or idle) from
    `dvc queue status`."""
    done = subprocess.run(["dvc", "queue", "status"], capture_output=True, text=True)
    if done.returncode != 0:
        raise UserError(f"dvc queue status failed: {done.stderr.strip()}")
    tasks, workers = {}, 0
    for line in done.stdout.splitlines():
        words = line.split()
        if line.startswith("Worker status:"):  # "Worker status: 1 active, 0 idle"
            workers = int(words[2]) + int(words[4])
        elif len(words) >= 3 and re.fullmatch(r"[0-9a-f]{7,40}", words[0]):
            tasks[words[0]] = (words[1], words[-1])
    return tasks, workers


def run_queue(earlier: set[str], count: int, poll_seconds: float = 10.0) -> None:
    """Run the `count` tasks queued since `earlier` (the tasks `dvc queue status` listed before) one at a time and
    wait for them. DVC's queue worker can stop after an experiment and leave the rest queued (treeverse/dvc#10562),
    where `dvc exp run --run-all` waits forever: a queue with runs left and no worker at two polls in a row (a worker
    takes seconds to start) gets one again. `dvc queue status` can leave out a task that is passing from queued to
    running, so the wait counts the tasks it queued, not the ones a poll lists."""
    dvc("queue", "start", "-j", "1")
    print("size_study: follow a run with `dvc queue logs -f NAME`", flush=True)
    reported: set[str] = set()
    idle_polls = 0
    while True:
        time.sleep(poll_seconds)
        tasks, workers = queue_status()
        ours = {task: entry for task, entry in tasks.items() if task not in earlier}
        total = max(count, len(ours))
        for task in sorted({task for task, (_, state) in ours.items() if state not in WAITING} - reported):
            reported.add(task)
            print(f"size_study: {ours[task][0]} {ours[task][1].lower()} ({len(reported)} of {total})", flush=True)
        if len(reported) >= total:
            break
        stalled = workers == 0 and not any(state == "Running" for _, state in tasks.values())  # runs left
        idle_polls = idle_polls + 1 if stalled else 0
        if idle_polls == 2:
            print("size_study: the queue's worker stopped with runs left; starting another", flush=True)
            dvc("queue", "start", "-j", "1")
            idle_polls = 0
    failed = [f"{name} ({state.lower()})" for name, state in ours.values() if state != "Success"]
    if failed:
        raise UserError(f"{len(failed)} run(s) did not succeed: {', '.join(failed)} (see `dvc queue logs NAME`)")


def write_study(rows: list[dict], out: Path, test_articles: int, synthetic: bool, confidence: float) -> None:
    (out / "study.md").write_text(study_markdown(rows, test_articles, synthetic, confidence))
    metrics_figure(rows, out / "metrics.png", synthetic, confidence)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated training sizes (default: study.sizes)")
    parser.add_argument("--seeds", default=None, help="comma-separated training seeds (default: study.seeds)")
    parser.add_argument("--collect", action="store_true",
                        help="do not run experiments, only collect them (every seed found for the sizes)")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite study.md and metrics.png from the folder's study.json (its test set is "
                             "metrics/splits.json's)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override every experiment gets as `dvc exp run -S KEY=VALUE` (repeatable); a queued "
                             "run starts in a temporary copy of the repository, so give file paths absolute")
    parser.add_argument("--out", default="study", help="folder for study.md, study.json, metrics.png, loss.png")
    args = parser.parse_args()
    config = load_config("study", "train", "score")
    for override in args.set:
        if "=" not in override:
            raise UserError(f"--set takes KEY=VALUE as `dvc exp run -S` does, got {override!r}")
    # The params every run's size and seed are compared against: what conf/ composes with the overrides.
    expected = YAML(typ="safe").load(compose(args.set)) if args.set else None  # a bad override: one line, no run
    if expected is not None:
        parse_config(expected)  # a bad value too (train.scheduler=bogus), not only a bad key: one line, no run
    if args.render:
        out = Path(args.out)
        rows = rows_from_json(read_json(out / "study.json"), config.train.seed)
        synthetic = rows[0].get("synthetic", read_json("metrics/data.json")["synthetic"])
        write_study(rows, out, read_json("metrics/splits.json")["test"]["articles"], synthetic, config.score.confidence)
        print(f"size_study: {len(rows)} sizes from {out}/study.json -> {out}/study.md, metrics.png")
        return
    sizes = integers(args.sizes, "--sizes") if args.sizes else list(config.study.sizes)
    seeds = integers(args.seeds, "--seeds") if args.seeds else list(config.study.seeds)
    repo = Path.cwd()
    if not args.collect:
        if subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo).returncode != 0:
            raise UserError("commit your changes first: every run must start from the same commit")
        start = time.time()
        existing = experiments(repo, expected=expected, log=print)
        earlier, queued = set(queue_status()[0]), 0
        for size in sizes:
            for seed in seeds:
                if (size, seed) in existing:
                    print(f"size_study: train.size={size} train.seed={seed} already ran from this commit; keeping it",
                          flush=True)
                    continue
                dvc("exp", "run", "--queue", "-n", experiment_name(size, seed), "-S", f"train.size={size}", "-S",
                    f"train.seed={seed}", *[flag for override in args.set for flag in ("-S", override)])
                queued += 1
        if queued:
            run_queue(earlier, queued)
        print(f"size_study: experiments done in {time.time() - start:.0f}s", flush=True)
    found = experiments(repo, ancestors=args.collect, expected=expected, log=print)
    wanted = (lambda seed: True) if args.collect and not args.seeds else (lambda seed: seed in seeds)
    refs = {(size, seed): commit for (size, seed), commit in found.items() if size in sizes and wanted(seed)}
    missing = [str(size) for size in sizes if not any(point[0] == size for point in refs)]
    if missing:
        where = "this commit or the commits before it" if args.collect else "this commit"
        raise UserError(f"no experiment with train.size={', '.join(missing)} from {where}; run without --collect")
    results = {point: read_experiment(repo, commit) for point, commit in sorted(refs.items())}
    test_articles = check_same_test_set(results)
    print(f"size_study: bootstrapping seeds and articles for {len(results)} runs", flush=True)
    stats = {point: run_statistics(repo, commit, {task: entry["best_baseline"]
                                                   for task, entry in results[point]["comparison"].items()
                                                   if isinstance(entry, dict) and entry.get("best_baseline")})
             for point, commit in sorted(refs.items())}
    rows = study_rows(results, stats, reference_seed=config.train.seed, resamples=config.score.bootstrap_resamples,
                      seed=config.score.seed, confidence=config.score.confidence)
    synthetic = any(result["data"]["synthetic"] for result in results.values())
    for row in rows:
        row["synthetic"] = synthetic  # for --render, whatever corpus the workspace's metrics/data.json describes
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(rows, out / "study.json")
    write_study(rows, out, test_articles, synthetic, config.score.confidence)
    loss_figure(results, out / "loss.png", synthetic)
    print(f"size_study: {len(sizes)} sizes, {len(results)} runs on {test_articles} test articles -> {out}/study.md, "
          f"metrics.png, loss.png")
    # By revision, not by name: a study from a later commit has its own size-N-seed-S, and the name becomes ambiguous.
    print(f"size_study: loss curves of all runs in DVC's plots: dvc plots diff "
          f"{' '.join(refs[point][:7] for point in sorted(refs))}")


if __name__ == "__main__":
    run_stage(main)
