"""DVC's own view of the results: `dvc plots diff` of two commits shows both revisions' curves, type confusion and
figures as dvc.yaml declares them, from the files the pipeline's writers make; `dvc artifacts get` fetches the adapter
by the registry entry of dvc.yaml. Offline, in a throwaway git + DVC repository."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import pytest
from ruamel.yaml import YAML

from pressft.model.curves import read_curves
from pressft.model.training import LiveCurves
from pressft.presentation.plotting import confusion_plot_data

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("Press Release", "Speech")


def dvc(repo: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    assert done.returncode == 0, done.stderr
    return done.stdout


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=repo, check=True,
                   capture_output=True)


def history(scale: float) -> list[dict]:
    """A trainer's log history of four steps with evaluations at 2 and 4 and the closing summary."""
    steps = [{"loss": scale * (5 - step), "grad_norm": 0.5, "learning_rate": 0.001, "epoch": step / 4, "step": step}
             for step in range(1, 5)]
    evals = [{"eval_loss": scale * (6 - step), "eval_runtime": 0.3, "step": step} for step in (2, 4)]
    return [*steps[:2], evals[0], *steps[2:], evals[1], {"train_runtime": 9.9, "train_loss": 3.0, "step": 4}]


def write_revision(repo: Path, declared: dict, scale: float, right: int) -> None:
    """What train and plot leave for DVC: the curves (through the trainer callback), the type confusion of both
    models (`right` of 3 fine-tuned answers correct), and every declared figure."""
    callback = LiveCurves(repo / "metrics" / "curves")
    state = SimpleNamespace(is_world_process_zero=True, log_history=history(scale))
    callback.on_train_begin(None, state, None)
    callback.on_train_end(None, state, None)
    finetuned = {"Press Release": {"Press Release": right, "Speech": 3 - right}, "Speech": {"Press Release": 0,
                                                                                           "Speech": 1}}
    base = {"Press Release": {"Press Release": 3, "Speech": 0}, "Speech": {"Press Release": 1, "Speech": 0}}
    for name, records in confusion_plot_data({"finetuned": {"type": {"confusion": finetuned}},
                                              "base": {"type": {"confusion": base}}}).items():
        (repo / "plots" / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / "plots" / name).write_text(json.dumps(records))
    for image in (path for path in declared if path.endswith(".png")):
        plt.imsave(repo / image, [[scale, 0.0], [0.0, 1.0]])


@pytest.fixture(scope="module")
def project_dvc_yaml() -> dict:
    return YAML(typ="safe").load((ROOT / "dvc.yaml").read_text())


@pytest.fixture(scope="module")
def repo(tmp_path_factory, project_dvc_yaml):
    """Two commits, tagged run0 and run1, of the project's top-level plots, metrics and artifacts with different
    results."""
    root = tmp_path_factory.mktemp("project")
    git(root, "init", "-q")
    dvc(root, "init", "-q")
    git(root, "commit", "-q", "-m", "dvc init")  # dvclive cannot start in a repository without a commit
    sections = {key: project_dvc_yaml[key] for key in ("metrics", "plots", "artifacts")}
    (root / "dvc.yaml").write_text(json.dumps(sections))
    declared = [next(iter(entry)) if isinstance(entry, dict) else entry for entry in sections["plots"]]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # dvclive finds its repository from the working directory
        for number, (scale, right) in enumerate([(1.0, 1), (0.5, 3)]):
            write_revision(root, declared, scale, right)
            git(root, "add", "-A")
            git(root, "commit", "-q", "-m", f"run {number}")
            git(root, "tag", f"run{number}")
    return root


def test_plots_diff_shows_both_revisions_of_curves_confusion_and_figures(repo):
    revs = ["run0", "run1"]
    shown = json.loads(dvc(repo, "plots", "diff", *revs, "--json", "-o", "rendered"))
    assert "errors" not in shown
    plots = shown["data"]

    def rows(plot_id: str) -> list[dict]:
        (plot,) = plots[plot_id]
        return plot["content"]["data"]["values"]

    loss = rows("loss")
    for rev, scale in zip(revs, (1.0, 0.5), strict=True):  # each revision's train and eval loss, by global step
        train = sorted((row["step"], row["loss"]) for row in loss if row["rev"] == rev and "train" in row["filename"])
        evals = sorted((row["step"], row["loss"]) for row in loss if row["rev"] == rev and "eval" in row["filename"])
        assert [(int(step), float(value)) for step, value in train] == [(s, scale * (5 - s)) for s in range(1, 5)]
        assert [(int(step), float(value)) for step, value in evals] == [(2, scale * 4), (4, scale * 2)]
    (confusion_plot,) = plots["plots/confusion/type-finetuned.json"]
    assert confusion_plot["content"]["facet"]["column"]["field"] == "rev"  # the revisions' matrices side by side
    confusion = rows("plots/confusion/type-finetuned.json")
    for rev, right in zip(revs, (1, 3), strict=True):
        pairs = [(row["actual"], row["predicted"]) for row in confusion if row["rev"] == rev]
        assert sorted(pairs) == sorted([("Press Release", "Press Release")] * right
                                       + [("Press Release", "Speech")] * (3 - right) + [("Speech", "Speech")])
    assert {row["rev"] for row in rows("plots/confusion/type-base.json")} == set(revs)
    for image in ("plots/loss.png", "plots/confusion.png"):
        shown = {entry["revisions"][0]: entry["url"] for entry in plots[image]}
        assert set(shown) == set(revs) and all(Path(url).is_file() for url in shown.values())


def test_curves_metrics_are_the_latest_values_for_dvc_exp_show(repo):
    shown = json.loads(dvc(repo, "metrics", "show", "--json"))
    assert shown[""]["data"]["metrics/curves/metrics.json"]["data"] == {
        "train": {"loss": 0.5, "learning_rate": 0.001, "grad_norm": 0.5}, "eval": {"loss": 1.0}, "step": 4}
    assert read_curves(repo / "metrics" / "curves")[1] == [{"step": 2, "eval_loss": 2.0}, {"step": 4, "eval_loss": 1.0}]


def test_artifacts_get_fetches_the_registered_adapter(repo, project_dvc_yaml):
    """The registry as docs/using-the-model.md shows it: `gto register` tags a version of the dvc.yaml artifact,
    `dvc artifacts get` fetches its latest version."""
    adapter = repo / project_dvc_yaml["artifacts"]["pressft-adapter"]["path"]
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text('{"r": 4}')
    dvc(repo, "add", "-q", str(adapter.relative_to(repo)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "adapter")
    subprocess.run([str(Path(sys.executable).with_name("gto")), "register", "pressft-adapter", "--version", "v1.0.0"],
                   cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"})
    dvc(repo, "artifacts", "get", ".", "pressft-adapter", "-o", "fetched")
    assert (repo / "fetched" / "adapter_config.json").read_text() == '{"r": 4}'
