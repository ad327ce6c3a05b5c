"""Collecting the data-size study: rows per size with the seeds' spread, verdicts over seeds and articles, one test
set, the table."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pressft.errors import UserError
from pressft.evaluation.metrics import Statistic, across_seeds_difference, paired_difference
from pressft.evaluation.study import check_same_test_set, experiments, study_rows
from pressft.presentation.study_report import study_markdown

ROOT = Path(__file__).resolve().parents[1]
IDS = [f"a{i}" for i in range(20)]


def result(size: int, rouge: float, test_articles: int = 160) -> dict:
    entry = {"metric": "rougeL", "finetuned": rouge, "base": 0.1, "best_baseline": "baseline-lead",
             "best_baseline_value": 0.3,
             "finetuned_minus_base": {"verdict": "better"}, "finetuned_minus_best_baseline": {"verdict": "worse"}}
    return {
        "finetuned": {"summarization": {"rougeL": rouge, "rougeL_ci_low": rouge - 0.02, "rougeL_ci_high": rouge + 0.02}},
        "base": {"summarization": {"rougeL": 0.1}},
        "comparison": {"summarization": entry},
        "splits": {"test": {"articles": test_articles, "examples": test_articles * 4, "types": {"Press Release": 1}}},
        "train": {"steps": size // 4, "best_eval_loss": 1.0 - size / 10_000, "runtime_seconds": size / 10},
        "loss_train": [], "loss_eval": [],
    }


def constant(value: float) -> Statistic:
    """A statistic that scores every article `value`: its bootstrap varies only with the seeds."""
    return Statistic(IDS, lambda indices: np.full(len(indices), value))


def stats(rouge: float) -> dict:
    return {"finetuned": {"summarization": constant(rouge)}, "base": {"summarization": constant(0.1)},
            "best_baseline": {"summarization": constant(0.3)}}


RUNS = {(1000, 1): result(1000, 0.3), (500, 2): result(500, 0.4), (500, 1): result(500, 0.2)}
STATS = {(1000, 1): stats(0.3), (500, 2): stats(0.4), (500, 1): stats(0.2)}


def rows():
    return study_rows(RUNS, STATS, reference_seed=2, resamples=200, seed=0, confidence=0.95)


def test_rows_are_sorted_by_size_with_the_mean_over_seeds_and_their_spread():
    first, second = rows()
    assert (first["size"], first["seeds"], second["size"], second["seeds"]) == (500, [1, 2], 1000, [1])
    cell = first["summarization"]
    assert cell["value"] == pytest.approx(0.3) and cell["seed_values"] == {1: 0.2, 2: 0.4}
    assert (cell["seed_min"], cell["seed_max"]) == (0.2, 0.4)
    assert cell["seed_sd"] == pytest.approx(0.1414, abs=1e-4)  # sample standard deviation of 0.2 and 0.4
    assert (cell["ci_low"], cell["ci_high"]) == (pytest.approx(0.38), pytest.approx(0.42))  # the reference seed's run
    assert (first["interval_seed"], second["interval_seed"]) == (2, 1)  # size 1000 lacks seed 2: its lowest seed
    assert (cell["base"], cell["best_baseline"], cell["best_baseline_value"]) == (0.1, "baseline-lead", 0.3)
    assert second["summarization"]["seed_sd"] is None and second["summarization"]["ci_low"] == pytest.approx(0.28)
    assert second["steps"] == 250 and second["train_seconds"] == 100.0


def test_a_verdict_must_hold_across_seeds():
    """Seed 2 alone beats the baseline (0.4 against 0.3 on every article), seed 1 alone loses to it: together they
    are not distinguishable from it. Both seeds beat the base on every resample."""
    cell = rows()[0]["summarization"]
    assert cell["vs_base"]["verdict"] == "better" and cell["vs_base"]["diff"] == pytest.approx(0.2)
    assert (cell["vs_base"]["ci_low"], cell["vs_base"]["ci_high"]) == (pytest.approx(0.1), pytest.approx(0.3))
    assert cell["vs_baseline"]["verdict"] == "not distinguishable" and cell["vs_baseline"]["runs"] == 2
    alone = across_seeds_difference([constant(0.4)], constant(0.3), resamples=200, seed=0, confidence=0.95)
    assert alone["verdict"] == "better"


def test_with_one_seed_the_interval_is_the_paired_article_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.random(20), rng.random(20)
    run, other = (Statistic(IDS, lambda indices, v=v: v[indices].mean(axis=1)) for v in (a, b))
    one = across_seeds_difference([run], other, resamples=500, seed=3, confidence=0.95)
    paired = paired_difference(run, other, resamples=500, seed=3, confidence=0.95)
    assert one["diff"] == paired["diff"]
    # Same percentile method over the same kind of resamples (not the same draws: the seed axis draws first).
    assert one["ci_low"] == pytest.approx(paired["ci_low"], abs=0.05)
    assert one["ci_high"] == pytest.approx(paired["ci_high"], abs=0.05)


def test_runs_on_different_test_examples_are_refused():
    with pytest.raises(ValueError, match="different test examples"):
        across_seeds_difference([Statistic(IDS[:5], lambda indices: np.zeros(len(indices)))], constant(0.1),
                                resamples=10, seed=0, confidence=0.95)


def test_different_test_sets_are_refused():
    with pytest.raises(UserError, match="different test sets"):
        check_same_test_set({(500, 1): result(500, 0.2), (1000, 1): result(1000, 0.3, test_articles=150)})
    assert check_same_test_set({(500, 1): result(500, 0.2), (1000, 1): result(1000, 0.3)}) == 160


def test_tables_give_the_spread_and_the_verdicts():
    """An interval stands beside the score of the run it was computed from, never beside the mean over seeds."""
    text = study_markdown(rows(), 160, synthetic=True, confidence=0.95)
    assert ("| 500 | 2 | 0.300 (0.200–0.400, sd 0.141); seed 2: 0.400 [0.380, 0.420] | 0.9500 | 125 | 50 |"
            in text)
    assert "| 1000 | 1 | 0.300 [0.280, 0.320] | 0.9000 | 250 | 100 |" in text
    assert ("| 500 | Summarization: ROUGE-L F1 | 0.100 | +0.200 [+0.100, +0.300] better | baseline-lead 0.300 | "
            "+0.000 [-0.100, +0.100] not distinguishable |") in text
    assert "same 160 test articles" in text and "SYNTHETIC" in text and "third-party" not in text
    real = study_markdown(rows(), 160, synthetic=False, confidence=0.95)
    assert "SYNTHETIC" not in real and "The articles are real (third-party text)" in real
    assert "95% bootstrap interval" in text
    assert "90% bootstrap interval" in study_markdown(rows(), 160, synthetic=True, confidence=0.9)


# ------------------------------------------------------------------ finding the experiments (git refs, as DVC keeps them)


def git(repo, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_params(repo, size: int, lr: float = 0.003, seed: int = 3407) -> str:
    (repo / "params.yaml").write_text(f"train:\n  size: {size}\n  lr: {lr}\n  seed: {seed}\ninfer:\n  dtype: fp32\n")
    git(repo, "add", "params.yaml")
    git(repo, "commit", "-qm", f"size {size}")
    return git(repo, "rev-parse", "HEAD")


def experiment(repo, base: str, name: str, size: int, lr: float = 0.003, seed: int = 3407) -> str:
    """A commit on top of `base` with changed params, referenced the way `dvc exp` does."""
    git(repo, "checkout", "-q", base)
    commit = commit_params(repo, size, lr, seed)
    git(repo, "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", commit)
    return commit


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def test_experiments_are_found_by_their_size_and_seed_whatever_their_name(repo):
    base = commit_params(repo, 500)
    named = experiment(repo, base, "size-1000-seed-3407", 1000)
    seeded = experiment(repo, base, "size-1000-seed-1", 1000, seed=1)
    handmade = experiment(repo, base, "fated-lamb", 2000)  # `dvc exp run --queue -S train.size=2000`, auto name
    experiment(repo, base, "size-1500", 1500, lr=0.001)  # also changed lr: not a point of this study
    git(repo, "checkout", "-q", "main")
    lines = []
    assert experiments(repo, log=lines.append) == {(1000, 3407): named, (1000, 1): seeded, (2000, 3407): handmade}
    assert lines == ["size_study: skipping experiment size-1500: it changed params other than train.size and "
                     "train.seed"]


def test_a_study_with_overrides_counts_the_experiments_that_have_them(repo):
    """`size_study --set preset=real` compares each run with what the overrides compose, not with the base commit:
    the default study's runs of the same commit are not its points, and its own are not the default study's."""
    base = commit_params(repo, 500)
    default = experiment(repo, base, "size-1000-seed-3407", 1000)
    real = experiment(repo, base, "size-238-seed-3407", 238, lr=0.001)
    git(repo, "checkout", "-q", "main")
    expected = {"train": {"size": None, "lr": 0.001, "seed": 3407}, "infer": {"dtype": "fp32"}}
    lines = []
    assert experiments(repo, expected=expected, log=lines.append) == {(238, 3407): real}
    assert lines == ["size_study: skipping experiment size-1000-seed-3407: it changed params other than train.size "
                     "and train.seed and the study's --set"]
    assert experiments(repo) == {(1000, 3407): default}


def test_collecting_from_a_later_commit_takes_the_nearest_earlier_experiments(repo):
    first = commit_params(repo, 500)
    old = experiment(repo, first, "size-1000-seed-3407", 1000)
    git(repo, "checkout", "-q", "main")
    for text in ("a later change\n", "the study's outputs\n"):
        (repo / "notes.txt").write_text(text)
        git(repo, "add", "notes.txt")
        git(repo, "commit", "-qm", text)
    second = git(repo, "rev-parse", "HEAD~1")
    assert experiments(repo) == {}  # nothing ran from this very commit
    assert experiments(repo, ancestors=True) == {(1000, 3407): old}
    newer = experiment(repo, second, "size-1000-seed-3407", 1000)
    git(repo, "checkout", "-q", "main")
    assert experiments(repo, ancestors=True) == {(1000, 3407): newer}  # the nearer base wins


def test_an_override_without_a_value_is_one_line_before_any_experiment():
    done = subprocess.run([sys.executable, "scripts/size_study.py", "--set", "preset", "--sizes", "60"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "error: --set takes KEY=VALUE as `dvc exp run -S` does, got 'preset'"]
    done = subprocess.run([sys.executable, "scripts/size_study.py", "--set", "tasks.neighbours={summarization: 3}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == [
        "error: override tasks.neighbours={summarization: 3}: Could not override 'tasks.neighbours'. "
        "To append to your config use +tasks.neighbours={summarization: 3}"]
    done = subprocess.run([sys.executable, "scripts/size_study.py", "--set", "train.scheduler=bogus", "--sizes", "60"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1 and "train.scheduler" in done.stderr, done.stderr


def _status(rows: list[tuple[str, str, str]], active: int, idle: int = 0) -> str:
    """What `dvc queue status` prints for (task, name, state) rows and the worker counts."""
    lines = ["Task     Name                Created       Status"]
    lines += [f"{task}  {name}  Dec 03, 2026  {state}" for task, name, state in rows]
    return "\n".join([*lines, "", f"Worker status: {active} active, {idle} idle"]) + "\n"


def test_the_study_restarts_a_queue_whose_worker_stopped_with_runs_left(monkeypatch, capsys):
    """DVC's queue worker can stop after one experiment and leave the rest queued (treeverse/dvc#10562): the study
    starts another worker once none has been seen at two polls in a row, waits only for its own tasks, and names the
    runs that did not succeed."""
    import size_study

    old = ("1111111", "size-16-seed-3407", "Success")  # an earlier study's run of the same name
    polls = iter([
        _status([old, ("2222222", "size-16-seed-3407", "Running"), ("3333333", "size-32-seed-3407", "Queued")], 1),
        _status([old, ("2222222", "size-16-seed-3407", "Success"), ("3333333", "size-32-seed-3407", "Queued")], 0),
        _status([old, ("2222222", "size-16-seed-3407", "Success"), ("3333333", "size-32-seed-3407", "Queued")], 0),
        _status([old, ("2222222", "size-16-seed-3407", "Success"), ("3333333", "size-32-seed-3407", "Running")], 1),
        _status([old, ("2222222", "size-16-seed-3407", "Success"), ("3333333", "size-32-seed-3407", "Failed")], 0, 1),
    ])
    commands = []

    def run(command, **kwargs):
        commands.append(command[1:])
        stdout = next(polls) if command[1:] == ["queue", "status"] else ""
        return subprocess.CompletedProcess(command, 0, stdout=stdout, stderr="")

    monkeypatch.setattr(size_study.subprocess, "run", run)
    monkeypatch.setattr(size_study.time, "sleep", lambda seconds: None)
    with pytest.raises(UserError, match=r"^1 run\(s\) did not succeed: size-32-seed-3407 \(failed\)"):
        size_study.run_queue({"1111111"}, 2)
    starts = [i for i, command in enumerate(commands) if command == ["queue", "start", "-j", "1"]]
    assert starts == [0, 4]  # at the beginning, and after the second poll without a worker
    out = capsys.readouterr().out
    assert "size_study: size-16-seed-3407 success (1 of 2)" in out
    assert "size_study: size-32-seed-3407 failed (2 of 2)" in out
    assert "the queue's worker stopped with runs left" in out


def test_the_study_waits_for_a_run_that_a_queue_status_left_out(monkeypatch, capsys):
    """`dvc queue status` can leave out a task passing from queued to running: the study counts the runs it queued,
    so it neither stops waiting early nor reports a smaller total."""
    import size_study

    first, second = ("2222222", "size-16-seed-3407", "Success"), ("3333333", "size-32-seed-3407", "Success")
    polls = iter([_status([first], 1), _status([first, second], 0, 1)])
    statuses = []

    def run(command, **kwargs):
        if command[1:] == ["queue", "status"]:
            statuses.append(command)
            return subprocess.CompletedProcess(command, 0, stdout=next(polls), stderr="")
        return subprocess.CompletedProcess(command, 0, stdout="", stderr="")

    monkeypatch.setattr(size_study.subprocess, "run", run)
    monkeypatch.setattr(size_study.time, "sleep", lambda seconds: None)
    size_study.run_queue(set(), 2)
    assert len(statuses) == 2
    out = capsys.readouterr().out
    assert "size_study: size-16-seed-3407 success (1 of 2)" in out
    assert "size_study: size-32-seed-3407 success (2 of 2)" in out
