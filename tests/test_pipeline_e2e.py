"""The real pipeline, end to end: `dvc repro` on the smallest configuration (preset smoke) in a temporary git repository,
then `dvc exp run -S train.size=...` and which stages it re-ran.

The repro runs once, in the module fixture `reproduced`, and every test asks for it (and the size study's runs for
the tests that read them), so each test also runs alone: `pytest tests/test_pipeline_e2e.py -k generate`."""

import json
import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pressft.config import compose
from pressft.evaluation.baselines import covers
from pressft.evaluation.metrics import headline_statistic
from pressft.evaluation.reproduction import MACHINE_DEPENDENT, WITHOUT_AMX
from pressft.model.curves import read_curves, series_file
from pressft.tasks import REGISTRY

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


TASKS = ("summarization", "title", "tags", "type")


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})})
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the working tree (tracked and untracked, not ignored files) as a fresh git repository."""
    root = tmp_path_factory.mktemp("clone")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        outputs = name.startswith(("data/", "models/", "metrics/", "plots/", "reports/"))
        if (REPO / name).is_file() and (not outputs or name.startswith("data/input/")):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    # The smoke preset as the default, and params.yaml composed from it as `dvc exp run` composes it: experiments
    # below then change only what their -S says.
    defaults = root / "conf" / "config.yaml"
    assert "  - preset: cpu " in defaults.read_text() and (root / ".dvc" / "config").is_file()
    defaults.write_text(defaults.read_text().replace("  - preset: cpu ", "  - preset: smoke "))
    (root / "params.yaml").write_text(compose(conf_dir=root / "conf"))
    (root / "dvc.lock").unlink(missing_ok=True)
    for args in (["git", "init", "-q"], ["git", "add", "-A"],
                 ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"]):
        _run(args, root)
    return root


def _stages(log: str, starts: tuple[str, ...] = ("Running stage",)) -> set[str]:
    """The stages a DVC log names on lines that start so: by default the ones it ran."""
    return {line.split("'")[1] for line in log.splitlines() if line.startswith(starts)}


def _commit(project: Path, message: str) -> None:
    _run(["git", "add", "-A"], project)
    _run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, "--allow-empty"], project)


def _verdict(difference: dict, tie: str) -> str:
    """The verdict a paired difference must carry: better or worse only when its interval excludes 0."""
    return "better" if difference["ci_low"] > 0 else "worse" if difference["ci_high"] < 0 else tie


@pytest.fixture(scope="module")
def reproduced(project) -> Path:
    """The project after `dvc repro` of the smoke preset (the tests below may change it: later ones in the file see
    what earlier ones did, and none depends on that)."""
    _run(["dvc", "repro"], project)
    return project


@pytest.fixture(scope="module")
def study_runs(reproduced, tmp_path_factory) -> tuple[str, Path]:
    """The size study's experiments from one commit, sizes 16 and 32 with seed 3407 (a second seed is machine B's, in
    test_experiments_of_two_machines_make_one_study_on_a_third); (what the command printed, its --out folder,
    elsewhere: the committed study/ stays as it is)."""
    _commit(reproduced, "before the study")
    first = tmp_path_factory.mktemp("study") / "first"
    out = _run(["python", "scripts/size_study.py", "--sizes", "16,32", "--seeds", "3407", "--out", str(first)],
               reproduced)
    return out, first


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_repro_builds_everything_and_second_repro_does_nothing(reproduced):
    project = reproduced
    params = YAML(typ="safe").load((project / "params.yaml").read_text())
    # The score stage's headline metrics are those of the predictions each model wrote, on the 16 test articles. (The
    # smoke preset's tiny model answers nothing, so its scores are 0; the baselines' are not.)
    predictions = {"base": "data/predictions/base.jsonl", "finetuned": "data/predictions/finetuned.jsonl",
                   **{name: f"data/baselines/{name}.jsonl" for name in covers()}}
    for name, path in predictions.items():
        metrics = json.loads((project / "metrics" / f"{name}.json").read_text())
        records = _jsonl(project / path)
        tasks = covers().get(name, TASKS)
        assert sorted(record["task"] for record in records) == sorted(tasks * 16), name
        for task in tasks:
            key = REGISTRY[task].headline
            of_task = [record for record in records if record["task"] == task]
            assert metrics[task][key] == round(headline_statistic(task, of_task).value, 4), (name, task)
            assert metrics[task][f"{key}_ci_low"] <= metrics[task][key] <= metrics[task][f"{key}_ci_high"]
    base = json.loads((project / "metrics" / "base.json").read_text())
    finetuned = json.loads((project / "metrics" / "finetuned.json").read_text())
    assert finetuned["perplexity"] < base["perplexity"]  # training lowered the loss on the test answers
    train = json.loads((project / "metrics" / "train.json").read_text())
    assert train["train_articles"] == 48
    # One epoch of batch 8 (the smoke preset), no gradient accumulation: every example once, no early stop.
    assert (params["train"]["epochs"], params["train"]["batch_size"], params["train"]["grad_accum"]) == (1, 8, 1)
    assert train["steps"] == math.ceil(train["train_examples"] / 8)
    assert (project / "models" / "adapter" / "adapter_model.safetensors").exists()
    assert not (project / "models" / "checkpoints").exists()
    # Relocatable: the adapter names its base relative to the repository root, never by an absolute path.
    adapter_config = json.loads((project / "models" / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "models/base"
    describe = json.loads((project / "models" / "adapter" / "pressft_adapter.json").read_text())
    assert describe["base_model"] == "models/base" and describe["train"]["size"] == 48
    for png in ("comparison.png", "lengths.png", "confusion.png", "tags.png", "loss.png"):
        assert (project / "plots" / png).read_bytes()[:4] == b"\x89PNG"
    train_rows, eval_rows = read_curves(project / "metrics" / "curves")  # logged by dvclive inside `dvc repro`
    assert train_rows and eval_rows and not (project / "metrics" / "curves" / "dvc.yaml").exists()
    assert json.loads((project / "plots" / "confusion" / "type-finetuned.json").read_text())
    data = json.loads((project / "metrics" / "data.json").read_text())
    assert (data["records_read"], data["kept"], data["rejected"], data["duplicates"]) == (160, 160, 0, 0)
    baselines = {name: json.loads((project / "metrics" / f"{name}.json").read_text()) for name in covers()}
    comparison = json.loads((project / "metrics" / "comparison.json").read_text())
    for task in TASKS:
        entry, headline = comparison[task], REGISTRY[task].headline
        assert (entry["finetuned"], entry["base"]) == (finetuned[task][headline], base[task][headline])
        assert entry["finetuned_minus_base"]["verdict"] == _verdict(entry["finetuned_minus_base"], "tie")
        assert entry["finetuned_minus_best_baseline"]["verdict"] == _verdict(entry["finetuned_minus_best_baseline"],
                                                                             "tie")
        # The best baseline is the one of the highest headline metric among those that answer the task.
        best = max((name for name, tasks in covers().items() if task in tasks),
                   key=lambda name: (baselines[name][task][headline], name))
        assert (entry["best_baseline"], entry["best_baseline_value"]) == (best, baselines[best][task][headline])
    report = (project / "reports" / "results.md").read_text()
    assert "## Summary" in report and "## Examples" in report
    assert "| kept | 160 |" in report and "| test | 16 | 64 |" in report
    assert "](../plots/loss.png)" in report
    assert "up to date" in _run(["dvc", "repro"], project).lower()


def test_generate_gives_a_test_article_the_infer_stages_answers_and_the_export_loads(reproduced, tmp_path):
    project = reproduced
    article = json.loads((project / "data/split/test.jsonl").read_text().splitlines()[0])
    (tmp_path / "article.json").write_text(json.dumps(article))
    _run(["python", "scripts/generate.py", str(tmp_path / "article.json"), "--out", str(tmp_path / "a.jsonl")], project)
    (result,) = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    predictions = [json.loads(line) for line in (project / "data/predictions/finetuned.jsonl").read_text().splitlines()]
    expected = {p["task"]: p["prediction"] for p in predictions if p["id"] == article["id"]}
    assert result["raw"] == expected and set(expected) == {"summarization", "title", "tags", "type"}
    _run(["python", "scripts/export.py", "--out", str(tmp_path / "export")], project)
    code = ("import sys; from transformers import AutoModelForCausalLM, AutoTokenizer; "
            "m = AutoModelForCausalLM.from_pretrained(sys.argv[1]); t = AutoTokenizer.from_pretrained(sys.argv[1]); "
            "print(type(m).__name__, m.generation_config.eos_token_id == t.convert_tokens_to_ids('<|eot_id|>'))")
    assert "LlamaForCausalLM True" in _run(["python", "-c", code, str(tmp_path / "export")], tmp_path)
    adapter = json.loads((project / "models/adapter/pressft_adapter.json").read_text())
    assert json.loads((tmp_path / "export/pressft_merged.json").read_text())["label_repeats"] == adapter["label_repeats"]
    card = (tmp_path / "export/README.md").read_text()
    comparison = json.loads((project / "metrics/comparison.json").read_text())
    assert card.startswith("---\n") and f"fine-tuned {comparison['title']['finetuned']:.3f}" in card


def test_a_cpu_without_amx_reproduces_the_committed_metrics_bit_for_bit(reproduced):
    project = reproduced
    """The committed run's metrics, then every stage again with oneDNN and MKL capped below AMX (this CPU, if it has
    AMX, computing as the machine of this kind without it), checked by the command users run."""
    _commit(project, "results")
    _run(["dvc", "repro", "-f"], project, env=WITHOUT_AMX)
    out = _run(["python", "scripts/check_reproduction.py"], project)
    assert "metrics/finetuned.json" in out and "relative difference" not in out
    assert "check_reproduction: all 11 metrics files match HEAD within rtol 0" in out




def test_training_killed_during_dvc_repro_resumes_to_the_same_adapter(reproduced):
    project = reproduced
    import signal
    import time

    reference = (project / "models/adapter/adapter_model.safetensors").read_bytes()
    reference_metrics = json.loads((project / "metrics/train.json").read_text())
    log = (project.parent / "killed.log").open("w")
    child = subprocess.Popen(["dvc", "repro", "-f", "-s", "train"], cwd=project, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"})
    seal = project / "models/checkpoints/checkpoint-20/pressft_complete"
    deadline = time.monotonic() + 300
    while not seal.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(child.pid, signal.SIGKILL)  # dvc, the stage and everything they started
    child.wait()
    assert seal.exists(), (project.parent / "killed.log").read_text()[-2000:]
    assert not (project / "models/adapter").exists()  # DVC removed the output before the killed run

    out = _run(["dvc", "repro"], project)
    assert "train: resuming from models/checkpoints/checkpoint-20" in out
    assert (project / "models/adapter/adapter_model.safetensors").read_bytes() == reference
    resumed = json.loads((project / "metrics/train.json").read_text())
    assert resumed["resumed_from_step"] == 20
    assert {k: v for k, v in resumed.items() if k not in MACHINE_DEPENDENT} == {
        k: v for k, v in reference_metrics.items() if k not in MACHINE_DEPENDENT
    }
    assert not (project / "models/checkpoints").exists()
    assert "up to date" in _run(["dvc", "status"], project).lower()


def test_two_process_training_matches_one_process(reproduced, tmp_path):
    project = reproduced
    """`accelerate launch` with 2 CPU processes (gloo) of batch 4 against the repro's 1 process of batch 8."""
    single = json.loads((project / "metrics/train.json").read_text())
    params_file = project / "params.yaml"
    original = params_file.read_text()
    yaml = YAML()
    params = yaml.load(original)
    params["train"]["batch_size"] = 4
    with params_file.open("w") as out:
        yaml.dump(params, out)
    try:
        out = _run(["accelerate", "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                    "--mixed_precision", "no", "--dynamo_backend", "no", "stages/train.py", "--base", "models/base",
                    "--pool", "data/tasks/pool.jsonl", "--val", "data/tasks/val.jsonl", "--out", f"{tmp_path}/adapter",
                    "--metrics", f"{tmp_path}/train.json", "--curves", f"{tmp_path}/curves"], project)
    finally:
        params_file.write_text(original)
    double = json.loads((tmp_path / "train.json").read_text())
    assert double["processes"] == 2 and single["processes"] == 1
    assert double["steps"] == single["steps"] and double["train_examples"] == single["train_examples"]
    # Same global batch, but the processes see their shares in another order and average per process first.
    assert double["best_eval_loss"] == pytest.approx(single["best_eval_loss"], rel=0.03)
    # One printer and one logger: the main process alone prints and logs each evaluation.
    evals = (tmp_path / "curves" / series_file("eval/loss")).read_text().splitlines()[1:]
    assert out.count("  eval loss ") == len(evals)
    assert (tmp_path / "adapter/adapter_model.safetensors").exists() and not (tmp_path / "checkpoints").exists()


def test_adapter_loads_from_a_moved_clone(reproduced, tmp_path):
    project = reproduced
    moved = tmp_path / "elsewhere"
    shutil.copytree(project / "models", moved / "models")
    code = ("from pressft.model.modeling import load_for_inference; m, t = load_for_inference('models/adapter'); "
            "print(type(m).__name__, t.chat_template is not None)")
    assert "LlamaForCausalLM True\n" in _run(["python", "-c", code], moved)


def test_experiment_on_another_size_reruns_only_training_side(reproduced):
    project = reproduced
    _commit(project, "repro")
    log = _run(["dvc", "exp", "run", "-S", "train.size=24"], project)
    ran = _stages(log)
    assert {"check_params", "train", "infer@finetuned", "baselines"} <= ran
    # score and plot run unless the new predictions hash the same; the shared side never reruns. build_tasks reruns
    # (train.size names the articles that tasks.neighbours draws candidates from) and, without candidates, writes the
    # same task files: so the base model's answers come from the cache.
    assert not ran & {"fetch", "base_model", "infer@base"}
    assert json.loads((project / "metrics" / "train.json").read_text())["train_articles"] == 24
    diff = _run(["dvc", "metrics", "diff"], project)
    assert "train_articles" in diff


def test_a_bad_param_fails_first_and_costs_no_outputs(reproduced):
    """DVC removes a stage's outputs before its command runs: the check stage runs before every other stage, so a
    bad value passed with -S stops the run there and the trained adapter survives. train.size=0 after a run with
    another size: DVC's run cache would restore a cached check for it (its key leaves out params named `size`)."""
    project = reproduced
    adapter = (project / "models/adapter/adapter_model.safetensors").read_bytes()
    params = (project / "params.yaml").read_text()
    for override, message in (("train.lr=abc", "param train.lr must be a number >= 0.0, got 'abc'"),
                              ("train.size=0", "param train.size must be an integer >= 1, got 0")):
        done = subprocess.run(["dvc", "exp", "run", "-S", override], cwd=project, capture_output=True, text=True,
                              env={**os.environ, "DVC_NO_ANALYTICS": "1"})
        log = done.stdout + done.stderr
        (project / "params.yaml").write_text(params)  # a failed `dvc exp run` leaves its values in params.yaml
        assert done.returncode != 0 and f"error: {message}" in log, log[-2000:]
        ran = _stages(log, ("Running stage", "Stage '"))  # run, or restored from the run cache
        assert ran == {"check_params"}, log[-2000:]
        assert (project / "models/adapter/adapter_model.safetensors").read_bytes() == adapter
        assert (project / "metrics/train.json").exists() and (project / "metrics/curves/metrics.json").exists()
    # With the params back, the check's output is all that is missing, and its bytes leave `fetch` as it was.
    log = _run(["dvc", "repro"], project)
    assert [line for line in log.splitlines() if line.startswith("Running stage")] == ["Running stage 'check_params':"]


def test_size_study_runs_one_experiment_per_size_and_seed_on_one_test_set(reproduced, study_runs, tmp_path):
    project, (out, first) = reproduced, study_runs
    assert f"size_study: 2 sizes, 2 runs on 16 test articles -> {first}/study.md" in out
    # Collected again, one study of everything from this commit, in the committed study/ folder.
    out = _run(["python", "scripts/size_study.py", "--sizes", "16,32", "--collect"], project)
    assert "size_study: 2 sizes, 2 runs on 16 test articles -> study/study.md" in out
    # The printed `dvc plots diff` names each run's experiment by revision, and DVC draws them.
    revisions = out.split("dvc plots diff ")[1].split()
    points = [YAML(typ="safe").load(_run(["git", "show", f"{rev}:params.yaml"], project))["train"] for rev in revisions]
    assert [(train["size"], train["seed"]) for train in points] == [(16, 3407), (32, 3407)]
    _run(["dvc", "plots", "diff", *revisions, "-o", str(tmp_path / "study_plots")], project)
    page = (tmp_path / "study_plots/index.html").read_text()
    assert all(rev in page for rev in revisions)
    rows = json.loads((project / "study/study.json").read_text())
    assert [(row["size"], row["seeds"]) for row in rows] == [(16, [3407]), (32, [3407])]
    base = json.loads((project / "metrics/base.json").read_text())  # infer@base ran once, for every experiment
    for row in rows:
        for task in TASKS:
            cell, values = row[task], list(row[task]["seed_values"].values())
            assert len(values) == len(row["seeds"]) and cell["value"] == round(sum(values) / len(values), 4)
            assert (cell["seed_min"], cell["seed_max"]) == (min(values), max(values))
            assert cell["base"] == base[task][REGISTRY[task].headline]
            for versus in ("vs_base", "vs_baseline"):
                assert cell[versus]["runs"] == len(values)
                assert cell[versus]["verdict"] == _verdict(cell[versus], "not distinguishable"), (row["size"], task)
            assert cell["vs_base"]["diff"] == pytest.approx(cell["value"] - cell["base"], abs=2e-4)
    study = (project / "study/study.md").read_text()
    assert "| 16 | 1 |" in study and "| 32 | 1 |" in study and "![metrics by size](metrics.png)" in study
    for png in ("metrics.png", "loss.png"):
        assert (project / "study" / png).read_bytes()[:4] == b"\x89PNG"
    # Per run, only what depends on train.size and train.seed ran; the data, base model and base inference came
    # from the cache.
    for name in ("size-16-seed-3407", "size-32-seed-3407"):
        log = _run(["dvc", "queue", "logs", name], project)
        ran = _stages(log)
        assert ran and ran <= {"check_params", "build_tasks", "train", "infer@finetuned", "baselines", "score", "plot",
                               "report"}, (
            name, ran)
    # Collecting again after the study's outputs were committed on top finds the same runs.
    _commit(project, "study outputs")
    assert "2 sizes, 2 runs on 16 test articles" in _run(["python", "scripts/size_study.py", "--sizes", "16,32",
                                                          "--collect"], project)
    assert json.loads((project / "study/study.json").read_text()) == rows


# ------------------------------------------------------------------ sharing: a DVC remote, experiments across machines

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
COMMIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm"]


@pytest.fixture(scope="module")
def s3_endpoint():
    """An S3-compatible server (moto) on 127.0.0.1 with an empty bucket `pressft`, for the test's lifetime."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in AWS.items() if k != "AWS_DEFAULT_REGION"},
                 region_name=AWS["AWS_DEFAULT_REGION"]).create_bucket(Bucket="pressft")
    yield endpoint
    server.stop()


def _share(project: Path, tmp_path: Path, url: str, endpoint: str | None = None) -> Path:
    """The project's git history in a bare `origin` and its DVC outputs pushed to the default remote `url`, as the
    docs/pipeline.md's "Sharing" section does it; returns the bare repository."""
    origin = tmp_path / "origin.git"
    _run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], tmp_path)
    _run(["git", "remote", "remove", "origin"], project) if "origin" in _run(["git", "remote"], project) else None
    _run(["git", "remote", "add", "origin", str(origin)], project)
    _run(["dvc", "remote", "add", "-f", "-d", "storage", url], project)
    if endpoint:
        _run(["dvc", "remote", "modify", "storage", "endpointurl", endpoint], project)
    _run(["git", "add", "-A"], project)
    _run([*COMMIT, "a DVC remote", "--allow-empty"], project)
    _run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], project)
    assert "pushed" in _run(["dvc", "push"], project, env=AWS)
    return origin


@pytest.mark.parametrize("kind", ["folder", "s3"])
def test_a_dvc_remote_gives_a_second_clone_every_output(reproduced, tmp_path, kind, request):
    project = reproduced
    endpoint = request.getfixturevalue("s3_endpoint") if kind == "s3" else None
    url = f"s3://pressft/{tmp_path.name}" if endpoint else str(tmp_path / "remote")
    origin = _share(project, tmp_path, url, endpoint)
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(origin), str(clone)], tmp_path)
    _run(["dvc", "pull"], clone, env=AWS)
    assert (clone / "models/adapter/adapter_model.safetensors").read_bytes() == (
        project / "models/adapter/adapter_model.safetensors").read_bytes()
    assert "up to date" in _run(["dvc", "status"], clone).lower()
    out = _run(["dvc", "repro"], clone)
    assert "Running stage" not in out and "up to date" in out.lower()


def test_experiments_of_two_machines_make_one_study_on_a_third(reproduced, study_runs, tmp_path):
    """Machine A (the project) ran sizes 16 and 32 in the study's runs, before any remote; machine B (a clone) runs a
    second seed at size 16 after the remote was committed; each pushes with `dvc exp push`, machine C pulls with
    `dvc exp pull` and collects the study. DVC moves an experiment's outputs through the remote its own commit names,
    so A's older experiments need the remote in .dvc/config.local too (on A and C), as docs/pipeline.md says; B's need
    nothing more."""
    project = reproduced
    remote = str(tmp_path / "remote")
    origin = _share(project, tmp_path, remote)
    _run(["dvc", "remote", "add", "--local", "-f", "-d", "storage", remote], project)
    pushed = _run(["dvc", "exp", "push", "origin", "size-16-seed-3407", "size-32-seed-3407"], project)
    assert "size-16-seed-3407" in pushed and "size-32-seed-3407" in pushed
    machine_b, machine_c = tmp_path / "b", tmp_path / "c"
    _run(["git", "clone", "-q", str(origin), str(machine_b)], tmp_path)
    _run(["dvc", "pull"], machine_b)
    _run(["python", "scripts/size_study.py", "--sizes", "16", "--seeds", "5", "--out", str(tmp_path / "b-study")],
         machine_b)
    _run(["dvc", "exp", "push", "origin", "size-16-seed-5"], machine_b)
    _run(["git", "clone", "-q", str(origin), str(machine_c)], tmp_path)
    _run(["dvc", "remote", "add", "--local", "-d", "storage", remote], machine_c)
    pulled = _run(["dvc", "exp", "pull", "--all-commits", "origin"], machine_c)
    assert all(name in pulled for name in ("size-16-seed-3407", "size-32-seed-3407", "size-16-seed-5"))
    out = _run(["python", "scripts/size_study.py", "--sizes", "16,32", "--collect"], machine_c)
    assert "size_study: 2 sizes, 3 runs on 16 test articles -> study/study.md" in out
    rows = json.loads((machine_c / "study/study.json").read_text())
    assert [(row["size"], row["seeds"]) for row in rows] == [(16, [5, 3407]), (32, [3407])]
    # Two machines' seeds at one size make one cell: their mean and spread.
    assert rows[0]["tags"]["seed_sd"] is not None and rows[1]["tags"]["seed_sd"] is None
    assert "| 16 | 2 |" in (machine_c / "study/study.md").read_text()
    # An experiment's adapter, pulled, is what the generate command runs.
    article = json.loads((project / "data/split/test.jsonl").read_text().splitlines()[0])
    (tmp_path / "article.json").write_text(json.dumps(article))
    _run(["python", "scripts/generate.py", str(tmp_path / "article.json"), "--exp", "size-16-seed-5", "--tasks",
          "type", "--out", str(tmp_path / "answer.jsonl")], machine_c)
    assert json.loads((tmp_path / "answer.jsonl").read_text())["id"] == article["id"]
