"""What a user sees when a stage meets a bad param or bad input: exit status 2 and one line, no traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]


def run_fetch(tmp_path: Path, **changes) -> subprocess.CompletedProcess:
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
    return subprocess.run([sys.executable, str(REPO / "stages" / "fetch.py"), "--out", "data/raw"],
                          cwd=tmp_path, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"train__size": 0}, "param train.size must be an integer >= 1, got 0"),
        ({"train__size": 99999}, "param train.size=99999 exceeds the training pool of"),
        ({"data__source": "s3"}, "param data.source must be one of embedded, jsonl; got 's3'"),
        ({"tasks__names": ["summarization", "poetry"]}, "param tasks.names must list tasks from"),
        ({"model__base": "./no/such/model"}, "param model.base: model directory ./no/such/model does not exist"),
        ({"model__load_in_4bit": True}, "needs a CUDA GPU"),
        ({"data__source": "jsonl", "data__path": "missing.jsonl"}, "param data.path must name an existing JSONL file"),
    ],
)
def test_bad_param_fails_before_any_work_with_one_line(tmp_path, changes, message):
    done = run_fetch(tmp_path, **changes)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and message in done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists()


def test_unreadable_jsonl_is_one_line(tmp_path):
    (tmp_path / "bad.jsonl").write_bytes(b"\xff\xfe\x00 not utf-8")
    done = run_fetch(tmp_path, data__source="jsonl", data__path="bad.jsonl")
    assert done.returncode == 2 and "is not UTF-8 text" in done.stderr and "Traceback" not in done.stderr
