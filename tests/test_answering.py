"""Answers on new articles: the inputs users give, the evaluation's prompts and decoding, parsed answers, and the
command line's one-line errors."""

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from pressft.tasks import ARTICLE_TYPES, REGISTRY, label_choices, parse_tags
from pressft.model.answering import answer_articles, check_tasks, model_directory, prepare_article, read_articles
from pressft.errors import UserError
from pressft.model.generation import generate_predictions
from pressft.tasks import make_examples
from pressft.data.neighbours import add_candidates, offered_lines
from pressft.evaluation.metrics import tag_scores

REPO = Path(__file__).resolve().parents[1]
GENERATE = str(REPO / "scripts/generate.py")
DATE = "26 Jul 2024"
LIMITS = {"summarization": 10, "title": 6, "tags": 8, "type": 3}
SETTINGS = {"max_new_tokens": LIMITS, "max_length": 512, "date_string": DATE, "batch_size": 4}


# ------------------------------------------------------------------ inputs


def test_articles_are_read_from_text_json_jsonl_and_stdin(tmp_path):
    (tmp_path / "a.txt").write_text("Munich. The BMW iX3 arrives.\n")
    (tmp_path / "one.json").write_text(json.dumps({"content": "One.", "summary": "S."}))
    (tmp_path / "list.json").write_text(json.dumps([{"content": "One."}, {"content": "Two."}]))
    (tmp_path / "wrapped.json").write_text(json.dumps({"articles": [{"content": "One."}]}))
    (tmp_path / "many.jsonl").write_text('{"content": "One."}\n\n{"content": "Two."}\n')
    assert read_articles(str(tmp_path / "a.txt")) == [{"content": "Munich. The BMW iX3 arrives.\n"}]
    assert read_articles(str(tmp_path / "one.json")) == [{"content": "One.", "summary": "S."}]
    assert len(read_articles(str(tmp_path / "list.json"))) == 2
    assert read_articles(str(tmp_path / "wrapped.json")) == [{"content": "One."}]
    assert [a["content"] for a in read_articles(str(tmp_path / "many.jsonl"))] == ["One.", "Two."]
    assert read_articles("-", io.StringIO('{"content": "From stdin."}')) == [{"content": "From stdin."}]
    assert read_articles("-", io.StringIO("Plain text on stdin.")) == [{"content": "Plain text on stdin."}]
    # Brackets that open no JSON open an article's text.
    for text in ("[Munich] The BMW Group presents the iX3.", "{Update} The iX3 arrives."):
        assert read_articles("-", io.StringIO(text)) == [{"content": text}]


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("  \n", "is empty"),
    ('{"content": "a"}\n{"content": ', "neither JSON nor JSONL"),
    ("[1, 2]", "article 1 is a JSON number"),
])
def test_unusable_input_is_one_line_naming_it(text, message):
    with pytest.raises(UserError, match=message):
        read_articles("-", io.StringIO(text))


def test_a_bad_jsonl_line_is_named_by_its_line_in_the_file():
    good = '{"content": "Fine."}\n'
    with pytest.raises(UserError, match=r"\(Expecting property name enclosed in double quotes at line 11, column 2\)"):
        read_articles("-", io.StringIO(good * 10 + "{not json\n" + good))
    # Blank lines are skipped but counted, leading ones too.
    with pytest.raises(UserError, match=r"\(Expecting value at line 5, column 13\)"):
        read_articles("-", io.StringIO("\n\n" + good + "  \n" + '{"content": x}\n'))


def test_a_broken_json_document_is_named_by_its_own_line_and_column():
    """A pretty-printed document is no JSONL: the error is the document's, not its first line's."""
    text = json.dumps([{"content": "One."}, {"content": "Two."}], indent=2).replace('"Two."', "Two.")
    with pytest.raises(UserError, match=r"neither JSON nor JSONL \(Expecting value at line 6, column 16\)"):
        read_articles("-", io.StringIO(text))


def test_a_missing_or_binary_file_is_named(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_articles(str(tmp_path / "nope.json"))
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="not UTF-8"):
        read_articles(str(tmp_path / "bin.json"))


def test_articles_are_cleaned_as_the_corpus_and_checked():
    article = prepare_article({"content": "<p>Munich. The BMW&nbsp;iX3 arrives.</p><p>www.bmw.com</p>",
                               "url": "https://example.com/a"}, 1, max_chars=1000)
    assert article["content"] == "Munich. The BMW iX3 arrives."
    assert article["summary"] == "" and len(article["id"]) == 12
    assert prepare_article({"content": "x", "id": 7}, 2, 1000)["id"] == "7"
    assert prepare_article({"content": "x", "id": 0}, 2, 1000)["id"] == "0"
    assert prepare_article({"content": "x"}, 3, 1000)["id"] == "article-3"
    with pytest.raises(UserError, match='article 4 has no content'):
        prepare_article({"title": "Only a title"}, 4, 1000)
    with pytest.raises(UserError, match="article 5: content has 1,001 characters, over the limit of data.max_chars"):
        prepare_article({"content": "x" * 1001}, 5, 1000)
    with pytest.raises(UserError, match="article 6: summary must be a string"):
        prepare_article({"content": "x", "summary": ["a"]}, 6, 1000)


def test_tasks_are_checked():
    assert check_tasks(["title", "tags", "title"]) == ["title", "tags"]
    with pytest.raises(UserError, match="unknown task headline; choose from summarization, title, tags, type"):
        check_tasks(["title", "headline"])
    with pytest.raises(UserError, match=r"unknown task \(none given\)"):
        check_tasks([])


# ------------------------------------------------------------------ answers


def test_answers_are_the_evaluations_predictions_parsed(tiny_model, tokenizer, normalised_articles, config):
    """Same prompts and decoding as the infer stage: the raw answers equal generate_predictions on the pipeline's
    own examples of those articles; tags come back as a list, the type as a label or flagged."""
    prompts = config.tasks.prompts
    corpus = normalised_articles(3)
    articles = [prepare_article(a, n, 10**6) for n, a in enumerate(corpus, start=1)]
    results = answer_articles(tiny_model, tokenizer, articles, list(REGISTRY), prompts=prompts, settings=SETTINGS,
                              log=lambda line: None)
    examples = [e for a in corpus for e in make_examples(a, list(REGISTRY), prompts)]
    expected = generate_predictions(tiny_model, tokenizer, examples, log=lambda line: None, **SETTINGS)
    for record in expected:
        result = next(r for r in results if r["id"] == record["id"])
        # raw: the text as generated; the answer: the prediction as the infer stage keeps and scores it (Task.complete)
        assert result["raw"][record["task"]] == record.get("generated", record["prediction"])
        if record["task"] == "tags":
            assert result["tags"] == parse_tags(record["prediction"])
    for result in results:
        assert result["summarization"] == result["raw"]["summarization"]
        assert isinstance(result["tags"], list) and all(isinstance(tag, str) for tag in result["tags"])
        assert result["type_is_label"] == (result["type"] in ("Press Release", "Press Kit", "Speech", "Fact & Figures"))
        assert "summary_generated" not in result


def test_labels_by_likelihood_answer_the_infer_stages_label(tiny_model, tokenizer, normalised_articles, config):
    """With the infer stage's label choice in the settings, the type is the label it chose for the same example (always
    a label) and the raw answer stays the generated text."""
    prompts = config.tasks.prompts
    corpus = normalised_articles(3)
    articles = [prepare_article(a, n, 10**6) for n, a in enumerate(corpus, start=1)]
    settings = SETTINGS | {"labels": label_choices(["type"], "likelihood")}
    results = answer_articles(tiny_model, tokenizer, articles, ["type"], prompts=prompts, settings=settings,
                              log=lambda line: None)
    examples = [e for a in corpus for e in make_examples(a, ["type"], prompts)]
    expected = generate_predictions(tiny_model, tokenizer, examples, log=lambda line: None, **settings)
    for record, result in zip(expected, results, strict=True):
        assert record["label_method"] == "likelihood" and result["id"] == record["id"]
        assert result["type"] == record["prediction"] and result["type_is_label"] is True
        assert result["raw"]["type"] == record["generated"]
    assert label_choices(["title", "tags"], "likelihood") == {} and label_choices(["type"], "generate") == {}
    # The adapter's label repeats (generate.py passes trained_label_repeats) weigh on the choice: a label of every
    # other one repeated e^50 times in training wins each article, whatever its nll
    others = {label: int(math.exp(50)) for label in ARTICLE_TYPES if label != "Speech"}
    weighed = answer_articles(tiny_model, tokenizer, articles, ["type"], prompts=prompts,
                              settings=settings | {"label_repeats": {"type": others}}, log=lambda line: None)
    assert [result["type"] for result in weighed] == ["Speech"] * 3


def test_an_article_without_summary_reads_the_models_own(tiny_model, tokenizer, normalised_articles, config):
    prompts = config.tasks.prompts
    article = prepare_article({"content": normalised_articles(1)[0]["content"], "id": "x"}, 1, 10**6)
    (result,) = answer_articles(tiny_model, tokenizer, [article], ["title"], prompts=prompts, settings=SETTINGS,
                                log=lambda line: None)
    assert result["summary_generated"] is True and set(result["raw"]) == {"title"}
    # The answers only have to exist for make_examples: they do not enter the inputs.
    answers = {"summary": "?", "title": "?", "type": "?"}
    (summary,) = generate_predictions(tiny_model, tokenizer, make_examples(
        {"id": "x", "content": article["content"], **answers}, ["summarization"], prompts), log=lambda line: None,
        **SETTINGS)
    with_summary = article | {"summary": summary["prediction"]}
    (title,) = generate_predictions(tiny_model, tokenizer, make_examples(
        answers | with_summary, ["title"], prompts), log=lambda line: None, **SETTINGS)
    assert result["title"] == title["prediction"]


def test_two_articles_with_one_id_are_refused(tiny_model, tokenizer, config):
    twins = [prepare_article({"content": "x", "id": "a"}, n, 100) for n in (1, 2)]
    with pytest.raises(UserError, match="share an id"):
        answer_articles(tiny_model, tokenizer, twins, ["type"], prompts=config.tasks.prompts, settings=SETTINGS)


# ------------------------------------------------------------------ the command


def _project(tmp_path: Path) -> Path:
    """A folder with the committed config and room for the tiny tokenizer's long prompts."""
    text = (REPO / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(text.replace("  max_length: 224\n", "  max_length: 512\n", 1))
    return tmp_path


def _generate(cwd: Path, *args: str, stdin: str | None = None):
    return subprocess.run([sys.executable, GENERATE, *args], cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=300)


def test_validate_scores_every_task_with_invented_facts_and_both_label_methods(tiny_adapter, normalised_articles,
                                                                              config, tmp_path):
    """scripts/validate.py, which chooses settings on validation: each task's headline, invented numbers and names
    in the free-text answers, the label task scored as generated and by likelihood (always a valid label), and for
    tags offered one candidate line each, the likeliest of that line and the answer."""
    project = _project(tmp_path)
    articles = normalised_articles(5)
    examples = [example for article in articles[:3]
                for example in make_examples(article, list(REGISTRY), config.tasks.prompts)]
    pool = [dict(example, rank=rank) for rank, article in enumerate(articles[3:])
            for example in make_examples(article, ["tags"], config.tasks.prompts)]
    add_candidates(examples, pool, {"tags": 1}, train_articles=len(pool))
    (project / "val.jsonl").write_text("".join(json.dumps(example) + "\n" for example in examples))
    (project / "pool.jsonl").write_text("".join(json.dumps(example) + "\n" for example in pool))
    done = subprocess.run([sys.executable, str(REPO / "scripts/validate.py"), "--model", str(tiny_adapter),
                           "--examples", "val.jsonl", "--pool", "pool.jsonl", "--out", "val.json", "--answers",
                           "answers.jsonl"], cwd=project,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    scores = json.loads((project / "val.json").read_text())
    for task in ("summarization", "title"):
        assert scores[task]["examples"] == 3
        assert 0 <= scores[task]["invented_numbers"] <= 1 and 0 <= scores[task]["invented_names"] <= 1
    assert "invented_numbers" not in scores["tags"] and scores["type"]["likelihood"]["well_formed"] == 1.0
    assert set(scores["type"]) == {"examples", "hit_limit", "generate", "likelihood"}
    assert "summarization (3 examples): rougeL" in done.stdout and ", invented numbers " in done.stdout
    # Where the tags come from: the pool's two articles carry the references' share that the scores hold.
    tagged = [example for example in examples if example["task"] == "tags"]
    expected = [{tag.casefold() for tag in example["reference"]} for example in tagged]
    learnt = {tag.casefold() for example in pool for tag in example["reference"]}
    share = sum(len(tags & learnt) for tags in expected) / sum(len(tags) for tags in expected)
    assert scores["tags"]["reference_learnt"] == round(share, 4)
    assert "  in the training tags: " in done.stdout and "  offered as candidates: " in done.stdout
    # One line offered each: it is the nearest article's line and the best line; the likeliest is it or the answer.
    lines = [offered_lines(example["hint"])[0] for example in tagged]
    line_f1 = tag_scores(lines, [example["reference"] for example in tagged])["f1"]
    assert scores["tags"]["nearest_line_f1"] == scores["tags"]["best_line_f1"] == line_f1
    is_answer = scores["tags"]["likeliest_is_answer"]
    assert is_answer in {round(k / 3, 4) for k in range(4)}
    if is_answer in (0, 1):  # every choice the line, or every one the answer
        assert scores["tags"]["likeliest_f1"] == (line_f1 if is_answer == 0 else scores["tags"]["f1"])
    assert "  the likeliest of the offered lines and the answer: F1 " in done.stdout
    # --answers: every example's answer, as infer writes them, for reading beside the scores.
    answers = [json.loads(line) for line in (project / "answers.jsonl").read_text().splitlines()]
    assert [(a["id"], a["task"]) for a in answers] == [(e["id"], e["task"]) for e in examples]
    assert all({"prediction", "reference", "hit_limit"} <= set(answer) for answer in answers)


def test_the_command_prints_one_json_line_per_article(tiny_adapter, normalised_articles, tmp_path):
    project = _project(tmp_path)
    articles = normalised_articles(2)
    stdin = "".join(json.dumps({k: a[k] for k in ("id", "content", "summary")}) + "\n" for a in articles)
    done = _generate(project, "-", "--model", str(tiny_adapter), "--tasks", "title,type", stdin=stdin)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["id"] for line in lines] == [a["id"] for a in articles]
    assert all({"title", "type", "type_is_label"} <= set(line) and "tags" not in line for line in lines)
    assert "generate: 2 article(s), title, type" in done.stderr


@pytest.mark.parametrize("args, message", [
    (["nope.txt"], "error: input nope.txt not found"),
    (["article.txt", "--tasks", "headline"], "error: unknown task headline"),
    (["article.txt", "--model", "models/adapter"], "error: model models/adapter not found; run `dvc repro`"),
    (["empty.txt"], "error: input empty.txt is empty"),
    (["broken.jsonl"], "error: input broken.jsonl is neither JSON nor JSONL "
                       "(Expecting property name enclosed in double quotes at line 11, column 2)"),
])
def test_the_command_fails_in_one_line(tmp_path, args, message):
    project = _project(tmp_path)
    (project / "article.txt").write_text("Munich. The BMW iX3 arrives.")
    (project / "empty.txt").write_text("")
    (project / "broken.jsonl").write_text('{"content": "Fine."}\n' * 10 + "{not json\n")
    done = _generate(project, *args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(message), done.stderr


def test_an_unknown_experiment_is_one_line(tmp_path):
    with pytest.raises(UserError, match="no experiment or revision 'no-such-exp'"):
        with model_directory("models/adapter", "no-such-exp", repo=str(REPO)):
            pass
