"""The data-size study in one command: one DVC experiment per size in `study.sizes` (params.yaml), run one after
another from the current commit, then collected into study/ (table, figures, JSON).

    python scripts/size_study.py                  # queue and run size-500 ... size-2000, then collect
    python scripts/size_study.py --sizes 100,200  # other sizes
    python scripts/size_study.py --collect        # only collect experiments that already ran (from this commit,
                                                  # or for sizes it lacks, the nearest commit before it)

Each experiment is `dvc exp run -S train.size=N`: DVC reruns only what depends on the size (train, infer@finetuned,
baselines, score, plot, report) and restores the data, the base model and the base inference from its cache.
The `dvc plots diff <revision> ...` command the script prints at the end overlays their loss curves in the
browser (revisions, not the names size-N: a study from a later commit has a size-500 of its own).
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

from pressft.errors import UserError, run_stage
from pressft.params import load_params
from pressft.study import (
    check_same_test_set,
    experiment_name,
    experiments_by_size,
    loss_figure,
    metrics_figure,
    read_experiment,
    study_markdown,
    study_rows,
)


def dvc(*args: str) -> None:
    print(f"size_study: dvc {' '.join(args)}", flush=True)
    if subprocess.run(["dvc", *args]).returncode != 0:
        raise UserError(f"dvc {' '.join(args)} failed (see its output above)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="comma-separated training sizes (default: study.sizes)")
    parser.add_argument("--collect", action="store_true", help="do not run experiments, only collect them")
    parser.add_argument("--out", default="study", help="folder for study.md, study.json, metrics.png, loss.png")
    args = parser.parse_args()
    params = load_params()
    try:
        sizes = [int(size) for size in args.sizes.split(",")] if args.sizes else list(params["study"]["sizes"])
    except ValueError:
        raise UserError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from None
    repo = Path.cwd()
    if not args.collect:
        if subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=repo).returncode != 0:
            raise UserError("commit your changes first: every size must run from the same commit")
        start = time.time()
        existing = experiments_by_size(repo, log=print)
        for size in sizes:
            if size in existing:
                print(f"size_study: train.size={size} already ran from this commit; keeping it", flush=True)
                continue
            dvc("exp", "run", "--queue", "-n", experiment_name(size), "-S", f"train.size={size}")
        dvc("exp", "run", "--run-all", "-j", "1")
        print(f"size_study: experiments done in {time.time() - start:.0f}s", flush=True)
    refs = experiments_by_size(repo, ancestors=args.collect, log=print)
    missing = [str(size) for size in sizes if size not in refs]
    if missing:
        where = "this commit or the commits before it" if args.collect else "this commit"
        raise UserError(f"no experiment with train.size={', '.join(missing)} from {where}; run without --collect")
    results = {size: read_experiment(repo, refs[size]) for size in sizes}
    test_articles = check_same_test_set(results)
    rows = study_rows(results)
    synthetic = json.loads(Path("metrics/data.json").read_text())["synthetic"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "study.md").write_text(study_markdown(rows, test_articles, synthetic))
    metrics_figure(rows, out / "metrics.png", synthetic)
    loss_figure(results, out / "loss.png", synthetic)
    print(f"size_study: {len(sizes)} sizes on {test_articles} test articles -> {out}/study.md, metrics.png, loss.png")
    # By revision, not by name: a study from a later commit has its own size-500, and the name becomes ambiguous.
    print(f"size_study: loss curves of all sizes in DVC's plots: dvc plots diff {' '.join(refs[s][:7] for s in sizes)}")


if __name__ == "__main__":
    run_stage(main)
