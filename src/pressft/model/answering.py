"""A trained model's answers on new articles: the evaluation's prompts, token budget and greedy decoding (so a test
article gets the prediction the infer stage gave it), with the answers parsed for use."""

import json
import re
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pressft.config import PromptConfig
from pressft.data.cleaning import article_id, clean_text, strip_boilerplate
from pressft.errors import UserError
from pressft.io import json_type
from pressft.model.generation import generate_predictions
from pressft.model.modeling import ADAPTER_FILE
from pressft.tasks import REGISTRY, get_task


def _parse_jsonl(text: str, origin: str, document_error: json.JSONDecodeError) -> list[Any]:
    """The records of a text that is not one JSON document, line by line. Blank lines are skipped but counted, so an
    error names the file's own line. A text whose first record is already bad is no JSONL: the error named is then the
    one JSON document's (a pretty-printed file's line and column)."""
    records = []
    # Only \n ends a record (as in pressft.data.sources): str.splitlines would also split at U+2028 inside a string.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            if not records:
                error, number = document_error, document_error.lineno
            raise UserError(f"{origin} is neither JSON nor JSONL ({error.msg} at line {number}, column {error.colno})"
                            ) from None
    return records


# How JSON begins: an object's first key (or its end), an array's first value (or its end). A text that opens with
# "[Munich]" or "{Update}" is an article's plain text, not broken JSON.
_JSON_START = re.compile(r'\{\s*["}]|\[\s*(?:[\[{"\]\d-]|true|false|null)')


def _parse_text(text: str, origin: str) -> list[dict[str, Any]]:
    """Articles of a text that is JSON (one article, a list, or {"articles": [...]}), JSONL, or else plain text (the
    content of one article)."""
    text = text.removeprefix("\ufeff")
    stripped = text.strip()
    if not stripped:
        raise UserError(f"{origin} is empty; give an article as text, JSON or JSONL")
    if _JSON_START.match(stripped):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            document = _parse_jsonl(text, origin, error)
        if isinstance(document, dict):
            document = document["articles"] if isinstance(document.get("articles"), list) else [document]
        for number, item in enumerate(document, start=1):
            if not isinstance(item, dict):
                raise UserError(f"{origin}: article {number} is a JSON {json_type(item)}, not an object")
        return document
    return [{"content": stripped}]


def read_articles(path: str, stdin=None) -> list[dict[str, Any]]:
    """Raw articles from a file (.txt: one article's content; .json; .jsonl) or from stdin ("-")."""
    if path == "-":
        return _parse_text((stdin or sys.stdin).read(), "stdin")
    file = Path(path)
    if not file.is_file():
        raise UserError(f"input {path} not found")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise UserError(f"input {path} is not UTF-8 text (invalid byte at position {error.start})") from None
    if file.suffix.lower() == ".txt":
        if not text.strip():
            raise UserError(f"input {path} is empty; give an article as text, JSON or JSONL")
        return [{"content": text}]
    return _parse_text(text, f"input {path}")


def prepare_article(raw: dict[str, Any], number: int, max_chars: int) -> dict[str, Any]:
    """An article cleaned as the pipeline cleans its corpus (markup, boilerplate): `content` is required; the fields
    tasks read as context (`summary`) are used where given; `id` (or one made from `url`) names the output."""
    fields = list(dict.fromkeys(field for task in REGISTRY.values() for field in task.context))
    for key in ("content", *fields):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            raise UserError(f"article {number}: {key} must be a string, got a JSON {json_type(value)}")
        if value is not None and len(value) > max_chars:
            raise UserError(f"article {number}: {key} has {len(value):,} characters, over the limit of "
                            f"data.max_chars={max_chars:,}; shorten it")
    content, _ = strip_boilerplate(clean_text(raw.get("content") or ""))
    if not content:
        raise UserError(f"article {number} has no content (give its text in \"content\")")
    context = {field: strip_boilerplate(clean_text(raw[field]))[0] if raw.get(field) else "" for field in fields}
    identifier = raw.get("id")
    if identifier is None or identifier == "":  # an id of 0 names an article too
        identifier = article_id(raw["url"]) if isinstance(raw.get("url"), str) else f"article-{number}"
    return {"id": str(identifier), "content": content, **context}


def check_tasks(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in REGISTRY]
    if unknown or not names:
        raise UserError(f"unknown task {', '.join(unknown) or '(none given)'}; choose from {', '.join(REGISTRY)}")
    return list(dict.fromkeys(names))


def _example(article: dict[str, Any], task: str, prompts: dict[str, PromptConfig]) -> dict[str, Any]:
    return {"id": article["id"], "task": task, "system": prompts[task].system,
            "instruction": prompts[task].instruction, "input": get_task(task).input(article), "reference": None}


def answer_articles(model, tokenizer, articles: list[dict[str, Any]], tasks: list[str], *,
                    prompts: dict[str, PromptConfig], settings: dict[str, Any],
                    candidates: Callable[[list[dict[str, Any]]], None] | None = None,
                    log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One result per article: each task's answer parsed (tags as a list; type as a known label, or the raw answer
    with `type_is_label` false), the raw text, and whether an answer hit its token limit or its input was cut.

    Tasks read their context fields before the content, as in training (title, tags and type read the summary). An
    article without such a field gets, in its place, the model's answer to the task that provides it (summarization
    provides the summary), marked `<field>_generated`: a first pass of those answers runs before the other tasks.
    `candidates` gives the examples their hints where the model was trained with them (data.neighbours).
    """
    results = {article["id"]: {"id": article["id"], "raw": {}, "answer": {}, "hit_limit": [], "input_tokens_cut": {}}
               for article in articles}
    if len(results) < len(articles):
        raise UserError("two input articles share an id; give each its own \"id\"")
    read = {field for task in tasks for field in get_task(task).context}
    providers = [task for task in REGISTRY.values() if task.provides and (task.name in tasks or task.provides in read)]
    missing = {task.name: {a["id"] for a in articles if not a.get(task.provides)} if task.provides in read else set()
               for task in providers}
    first = [_example(a, task.name, prompts) for task in providers for a in articles
             if a["id"] in missing[task.name] or task.name in tasks]
    done = generate_predictions(model, tokenizer, first, log=log, **settings) if first else []
    answers = {(record["id"], record["task"]): record["prediction"] for record in done}
    for task in providers:
        articles = [a | {task.provides: answers[a["id"], task.name], f"{task.provides}_generated": True}
                    if a["id"] in missing[task.name] else a for a in articles]
    first_pass = {task.name for task in providers}
    rest = [_example(a, task, prompts) for task in tasks if task not in first_pass for a in articles]
    if candidates:
        candidates(rest)
    done += generate_predictions(model, tokenizer, rest, log=log, **settings) if rest else []
    for record in (record for record in done if record["task"] in tasks):
        result = results[record["id"]]
        result["answer"][record["task"]] = record["prediction"]
        # A label chosen by likelihood (settings' `labels`) keeps the generated text beside it.
        result["raw"][record["task"]] = record.get("generated", record["prediction"])
        result["input_tokens_cut"][record["task"]] = record["input_tokens_cut"]
        if record["hit_limit"]:
            result["hit_limit"].append(record["task"])
    ordered = []
    for article in articles:
        found = results[article["id"]]
        answer, result = found["answer"], {"id": article["id"]}
        for task in map(get_task, tasks):
            parsed = task.parse(answer[task.name])
            if task.kind == "label":
                result[task.name], result[f"{task.name}_is_label"] = parsed or answer[task.name], parsed is not None
            else:
                result[task.name] = parsed
        for task in providers:
            if article.get(f"{task.provides}_generated"):
                result[f"{task.provides}_generated"] = True
        ordered.append(result | {key: found[key] for key in ("hit_limit", "input_tokens_cut", "raw")})
    return ordered


@contextmanager
def model_directory(model: str, experiment: str | None = None, repo: str = "."):
    """A model directory to load: `model` as it is in the workspace, or as the DVC experiment `experiment` (a name
    from `dvc exp show`, or any git revision) recorded it, read from the DVC cache into a temporary directory."""
    if experiment is None:
        if not (Path(model) / "config.json").exists() and not (Path(model) / ADAPTER_FILE).exists():
            raise UserError(f"model {model} not found; run `dvc repro` (or `dvc pull`) first")
        yield model
        return
    from dvc.api import DVCFileSystem
    from dvc.scm import RevError

    files = DVCFileSystem(repo, rev=experiment)
    try:
        found = files.isdir(model)
    except RevError:
        raise UserError(f"no experiment or revision {experiment!r}; `dvc exp list --all-commits` lists them") from None
    if not found:
        raise UserError(f"{experiment} has no {model}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = _get(files, model, Path(tmp) / "model", experiment)
        describe = directory / ADAPTER_FILE
        if describe.exists():
            # The adapter names its base by a repository path: the workspace's, unless the experiment's differs
            # (another model.base) or the workspace lacks it (a clone that pulled experiments only).
            info = json.loads(describe.read_text())
            base = info["base_model"]
            if files.exists(base) and not (Path(repo, base, "config.json").exists()
                                           and _hash(files, base) == _hash(DVCFileSystem(repo), base)):
                info["base_model"] = str(_get(files, base, Path(tmp) / "base", experiment))
                describe.write_text(json.dumps(info))
        yield str(directory)


def _hash(files, path: str) -> str | None:
    return files.info(path).get("dvc_info", {}).get("md5")


def _get(files, path: str, target: Path, experiment: str) -> Path:
    try:
        files.get(path, str(target), recursive=True)
    except FileNotFoundError:
        raise UserError(f"{path} of {experiment} is not in the DVC cache; `dvc exp pull` or `dvc pull` it") from None
    return target
