"""Collecting the data-size study: rows per size, one test set, the table."""

import subprocess

import pytest

from pressft.errors import UserError
from pressft.study import check_same_test_set, experiments_by_size, study_markdown, study_rows


def result(size: int, rouge: float, test_articles: int = 160) -> dict:
    entry = {"metric": "rougeL", "finetuned": rouge, "base": 0.1, "best_baseline": "baseline-lead",
             "best_baseline_value": 0.5 + size / 10_000,
             "finetuned_minus_base": {"verdict": "better"}, "finetuned_minus_best_baseline": {"verdict": "worse"}}
    return {
        "finetuned": {"summarization": {"rougeL": rouge, "rougeL_ci_low": rouge - 0.02, "rougeL_ci_high": rouge + 0.02}},
        "base": {"summarization": {"rougeL": 0.1}},
        "comparison": {"summarization": entry},
        "splits": {"test": {"articles": test_articles, "examples": test_articles * 4, "types": {"Press Release": 1}}},
        "train": {"steps": size // 4, "best_eval_loss": 1.0 - size / 10_000, "runtime_seconds": size / 10},
        "loss_train": [], "loss_eval": [],
    }


def test_rows_are_sorted_by_size_with_intervals_and_reference_values():
    rows = study_rows({1000: result(1000, 0.3), 500: result(500, 0.2)})
    assert [row["size"] for row in rows] == [500, 1000]
    assert rows[0]["summarization"] == {"value": 0.2, "ci_low": pytest.approx(0.18), "ci_high": pytest.approx(0.22),
                                        "base": 0.1,
                                        "best_baseline": "baseline-lead", "best_baseline_value": 0.55,
                                        "vs_base": "better", "vs_baseline": "worse"}
    assert rows[1]["steps"] == 250 and rows[1]["train_seconds"] == 100.0


def test_different_test_sets_are_refused():
    with pytest.raises(UserError, match="different test sets"):
        check_same_test_set({500: result(500, 0.2), 1000: result(1000, 0.3, test_articles=150)})
    assert check_same_test_set({500: result(500, 0.2), 1000: result(1000, 0.3)}) == 160


def test_table_has_one_row_per_size_and_the_reference_lines():
    text = study_markdown(study_rows({500: result(500, 0.2), 1000: result(1000, 0.3)}), 160, synthetic=True)
    assert "| 500 | 0.200 [0.180, 0.220] (worse vs baseline) | 0.9500 | 125 | 50 |" in text
    assert "- Summarization: ROUGE-L F1: base 0.100; best baseline by size: 500: baseline-lead 0.550, " \
           "1000: baseline-lead 0.600" in text
    assert "same 160 test articles" in text and "SYNTHETIC" in text


# ------------------------------------------------------------------ finding the experiments (git refs, as DVC keeps them)


def git(repo, *args) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_params(repo, size: int, lr: float = 0.003) -> str:
    (repo / "params.yaml").write_text(f"train:\n  size: {size}\n  lr: {lr}\ninfer:\n  dtype: bf16\n")
    git(repo, "add", "params.yaml")
    git(repo, "commit", "-qm", f"size {size}")
    return git(repo, "rev-parse", "HEAD")


def experiment(repo, base: str, name: str, size: int, lr: float = 0.003) -> str:
    """A commit on top of `base` with changed params, referenced the way `dvc exp` does."""
    git(repo, "checkout", "-q", base)
    commit = commit_params(repo, size, lr)
    git(repo, "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", commit)
    return commit


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    return tmp_path


def test_experiments_are_found_by_their_size_whatever_their_name(repo):
    base = commit_params(repo, 500)
    named = experiment(repo, base, "size-1000", 1000)
    handmade = experiment(repo, base, "fated-lamb", 2000)  # `dvc exp run --queue -S train.size=2000`, auto name
    other = experiment(repo, base, "size-1500", 1500, lr=0.001)  # also changed lr: not a point of this study
    git(repo, "checkout", "-q", "main")
    lines = []
    assert experiments_by_size(repo, log=lines.append) == {1000: named, 2000: handmade}
    assert lines == ["size_study: skipping experiment size-1500: it changed params other than train.size"]
    assert other


def test_collecting_from_a_later_commit_takes_the_nearest_earlier_experiments(repo):
    first = commit_params(repo, 500)
    old = experiment(repo, first, "size-1000", 1000)
    git(repo, "checkout", "-q", "main")
    for text in ("a later change\n", "the study's outputs\n"):
        (repo / "notes.txt").write_text(text)
        git(repo, "add", "notes.txt")
        git(repo, "commit", "-qm", text)
    second = git(repo, "rev-parse", "HEAD~1")
    assert experiments_by_size(repo) == {}  # nothing ran from this very commit
    assert experiments_by_size(repo, ancestors=True) == {1000: old}
    newer = experiment(repo, second, "size-1000", 1000)
    git(repo, "checkout", "-q", "main")
    assert experiments_by_size(repo, ancestors=True) == {1000: newer}  # the nearer base wins
