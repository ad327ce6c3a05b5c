"""What a user sees when a stage meets a bad param or bad input: exit status 2 and one line, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]


def write_params(tmp_path: Path, **changes) -> None:
    """The committed params.yaml with changes (`group__key=value`) in tmp_path."""
    yaml = YAML()
    params = yaml.load((REPO / "params.yaml").read_text())
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        node = params
        for key in path:
            node = node[key]
        node[last] = value
    with (tmp_path / "params.yaml").open("w") as out:
        yaml.dump(params, out)


def run_fetch(tmp_path: Path, **changes) -> subprocess.CompletedProcess:
    write_params(tmp_path, **changes)
    command = [sys.executable, str(REPO / "stages" / "fetch.py"), "--out", "data/raw", "--cache", "data/cache",
               "--report", "metrics/data.json"]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)


# Each stage with arguments naming inputs that do not exist: a stage that gets past its params fails differently.
STAGES = {
    "check_params": ["--out", "params.ok"],
    "fetch": ["--out", "raw", "--cache", "cache", "--report", "data.json"],
    "build_tasks": ["--articles", "articles.jsonl", "--splits", "split", "--tasks", "tasks", "--report", "s.json"],
    "base_model": ["--pool", "pool.jsonl", "--out", "base"],
    "baselines": ["--pool", "pool.jsonl", "--val", "val.jsonl", "--test", "test.jsonl", "--out", "predictions",
                  "--choices", "choices.json"],
}


@pytest.mark.parametrize(
    ("stage", "changes", "message"),
    [
        ("baselines", {"train__size": 0}, "param train.size must be an integer >= 1, got 0"),
        ("fetch", {"data__source": "s3"}, "param data.source must be one of embedded, file, huggingface, pressclub; got 's3'"),
        ("build_tasks", {"tasks__names": ["summarization", "poetry"]}, "param tasks.names must list tasks from"),
        ("base_model", {"model__base": "./no/such/model"}, "param model.base: model directory ./no/such/model does not exist"),
        ("base_model", {"model__load_in_4bit": True}, "needs a CUDA GPU"),
        ("fetch", {"data__source": "file", "data__path": "missing.jsonl"}, "param data.path must name an existing .jsonl or .json"),
        ("build_tasks", {"split__exclude_types": ["Blog"]}, "param split.exclude_types must list some (not all) of"),
        ("fetch", {"data__sorce": "file"}, "param data.sorce is not a parameter; did you mean data.source?"),
        ("baselines", {"train__lora__alpah": 8}, "param train.lora.alpah is not a parameter; did you mean train.lora.alpha?"),
        # The first stage checks every group: each of these fails there, before any stage that reads it.
        ("check_params", {"train__lr": "abc"}, "param train.lr must be a number >= 0.0, got 'abc'"),
        ("check_params", {"model__load_in_4bit": True}, "needs a CUDA GPU"),
        ("check_params", {"infer__label_method": "guess"}, "param infer.label_method must be one of"),
        ("check_params", {"score__bootstrap_resamples": 0}, "param score.bootstrap_resamples must be"),
    ],
)
def test_bad_param_fails_before_any_work_with_one_line(tmp_path, stage, changes, message):
    write_params(tmp_path, **changes)
    done = subprocess.run([sys.executable, str(REPO / "stages" / f"{stage}.py"), *STAGES[stage]], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["params.yaml"]


def test_check_params_writes_the_same_bytes_for_any_good_params(tmp_path):
    """fetch depends on check_params' output only to run after it: a change of params must not change that file."""
    written = []
    for changes in ({}, {"train__lr": 0.002, "data__n_articles": 300}):
        write_params(tmp_path, **changes)
        done = subprocess.run([sys.executable, str(REPO / "stages/check_params.py"), "--out", "ok"], cwd=tmp_path,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        written.append((tmp_path / "ok").read_bytes())
    assert written[0] == written[1] and written[0]


def test_a_stage_reads_only_its_groups(tmp_path):
    """fetch lists only `data` in dvc.yaml: a bad value elsewhere is for the stages that read it."""
    done = run_fetch(tmp_path, data__n_articles=30, train__size=0, model__base="./no/such/model")
    assert done.returncode == 0, done.stderr
    assert "30 records read" in done.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.jsonl", '{"title": "Nürburgring"}'.encode("latin-1"), "no line is a JSON article (not UTF-8 at line 1)"),
        ("binary.jsonl", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is binary, not JSON or JSONL text"),
        ("empty.jsonl", b"", "is empty"),
        ("object.json", b'{"title": "one article"}', "holds a JSON object; expected a list of articles"),
        ("broken.json", b'[{"title": ', "is not valid JSON"),
        ("garbage.jsonl", b"not json\nnor this\n", "no line is a JSON article (not JSON at line 1)"),
    ],
)
def test_unreadable_input_is_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    done = run_fetch(tmp_path, data__source="file", data__path=name)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: data file ") and message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def test_file_with_only_invalid_articles_fails_after_writing_the_rejects(tmp_path, articles):
    import json

    raw = articles(2)
    raw[0]["type"], raw[1]["content"] = "Blog", "Too short."
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in raw), encoding="utf-8")
    done = run_fetch(tmp_path, data__source="file", data__path="a.jsonl")
    assert done.returncode == 2
    assert done.stderr == "error: no valid articles in the file source (2 rejected, see data/raw/rejects.jsonl)\n"
    rejects = [json.loads(line) for line in (tmp_path / "data/raw/rejects.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejects] == ["unknown type", "too short"]


def test_fetch_reports_what_it_kept_and_rejected(tmp_path, articles):
    import json

    raw = articles(6)
    raw[1]["date"] = ""
    raw[2] = dict(raw[0])  # an exact duplicate
    raw[3]["tags"] = []  # kept, for the tasks other than tags
    lines = [json.dumps(r) for r in raw] + ["{not json"]
    (tmp_path / "input.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = run_fetch(tmp_path, data__source="file", data__path="input.jsonl")
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "metrics/data.json").read_text())
    assert (report["records_read"], report["kept"], report["rejected"], report["duplicates"]) == (7, 4, 2, 1)
    assert report["rejected_by_reason"] == {"missing field": 1, "not JSON": 1}
    assert report["missing_fields"] == {"title": 0, "summary": 0, "tags": 1}
    fetched = json.loads((tmp_path / "data/raw/fetch.json").read_text())
    assert fetched["provenance"]["path"] == "input.jsonl" and len(fetched["provenance"]["sha256"]) == 64
    assert "7 records read: 4 kept, 2 rejected" in done.stdout


def test_build_tasks_with_too_few_valid_articles_is_one_line(tmp_path, normalised_articles):
    import json

    (tmp_path / "params.yaml").write_text((REPO / "params.yaml").read_text())
    (tmp_path / "articles.jsonl").write_text("".join(json.dumps(a) + "\n" for a in normalised_articles(50)))
    command = [sys.executable, str(REPO / "stages" / "build_tasks.py"), "--articles", "articles.jsonl",
               "--splits", "split", "--tasks", "tasks", "--report", "splits.json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2
    split = YAML(typ="safe").load((REPO / "params.yaml").read_text())["split"]
    assert split["test"] + split["val"] >= 50  # the committed split leaves nothing of 50 articles to train on
    assert done.stderr == (
        f"error: params split.test + split.val ({split['test'] + split['val']}) leave no training articles out of "
        "the 50 valid ones; lower them, or bring more data (rejects and their reasons: data/raw/rejects.jsonl)\n"
    )


def test_build_tasks_feeds_an_article_lacking_a_field_to_the_other_tasks_and_counts_examples(tmp_path,
                                                                                            normalised_articles):
    import json

    params = YAML(typ="safe").load((REPO / "params.yaml").read_text())
    params["split"] |= {"test": 10, "val": 5}
    YAML(typ="safe").dump(params, tmp_path / "params.yaml")
    corpus = normalised_articles(40)
    for article in corpus[:3]:
        del article["summary"]
    for article in corpus[3:5]:
        del article["tags"]
    (tmp_path / "articles.jsonl").write_text("".join(json.dumps(a) + "\n" for a in corpus))
    command = [sys.executable, str(REPO / "stages" / "build_tasks.py"), "--articles", "articles.jsonl",
               "--splits", "split", "--tasks", "tasks", "--report", "splits.json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "splits.json").read_text())
    totals = {task: sum(report[name]["examples_per_task"][task] for name in ("test", "val", "pool"))
              for task in params["tasks"]["names"]}
    assert totals == {"summarization": 37, "title": 40, "tags": 38, "type": 40}
    examples = [json.loads(line) for name in ("test", "val", "pool")
                for line in (tmp_path / "tasks" / f"{name}.jsonl").read_text().splitlines()]
    tasks_of = {article["id"]: {e["task"] for e in examples if e["id"] == article["id"]} for article in corpus[:5]}
    assert [sorted(tasks_of[article["id"]]) for article in corpus[:5]] == (
        [["tags", "title", "type"]] * 3 + [["summarization", "title", "type"]] * 2)
