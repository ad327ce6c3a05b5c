"""The README and docs/ cannot drift silently: the README stays short, every relative link resolves, the stage graph,
the stage table and the layout are the ones dvc.yaml and the source tree have, and the claims about results are the
committed metrics'. Committed result numbers are not copied into the docs: they link the generated
reports/results.md and study/study.md. The one table of numbers in the README is the documented (not committed) run on
real articles, checked against its record in docs/data-sources.md."""

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from pressft.config import compose, load_config

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = [README, *sorted((REPO / "docs").glob("*.md"))]
TASKS = ("summarization", "title", "tags", "type")

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)
FENCE = re.compile(r"^```[^\n]*\n.*?^```", re.MULTILINE | re.DOTALL)


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets and parentheses are not links."""
    return re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))


def anchors(markdown: str) -> Iterator[str]:
    """The heading anchors GitHub gives a page: lower case, punctuation dropped, spaces as hyphens, repeats numbered."""
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", FENCE.sub("", markdown), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        seen[slug] = seen.get(slug, -1) + 1
        yield slug if seen[slug] == 0 else f"{slug}-{seen[slug]}"


def broken_links(page: Path) -> list[str]:
    """Relative links of a page whose file (or heading anchor in a markdown file) does not exist in the repository."""
    broken = []
    for target in LINK.findall(prose(page.read_text(encoding="utf-8"))):
        if SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.is_relative_to(REPO) or not resolved.exists():
            broken.append(f"{page.relative_to(REPO)}: {target} (no such file in the repository)")
        elif anchor and resolved.suffix == ".md" and anchor not in set(anchors(resolved.read_text(encoding="utf-8"))):
            broken.append(f"{page.relative_to(REPO)}: {target} (no heading with that anchor)")
    return broken


def test_readme_is_at_most_200_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; details belong in docs/"


def test_every_relative_link_in_readme_and_docs_points_to_an_existing_file():
    assert len(DOCS) > 1, "docs/ has no pages"
    broken = [link for page in DOCS for link in broken_links(page)]
    assert not broken, "\n".join(broken)


def test_the_link_check_finds_missing_files_and_anchors(tmp_path, monkeypatch):
    """The check above would pass on a page without links, so it is shown to fail on broken ones."""
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs/a.md").write_text("# A title, with `code`\n\n## Twice\n\n## Twice\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#a-title-with-code) [ok](docs/a.md#twice-1) [ok](https://example.com/x.md) "
                    "`[not a link](nowhere.md)` [gone](docs/b.md) [bad anchor](docs/a.md#b) [outside](../x.md)\n"
                    "```\n[in code](nowhere.md)\n```\n", encoding="utf-8")
    assert [link.split(": ", 1)[1] for link in broken_links(page)] == [
        "docs/b.md (no such file in the repository)", "docs/a.md#b (no heading with that anchor)",
        "../x.md (no such file in the repository)"]


def test_code_files_the_docs_name_exist():
    """Paths like scripts/size_study.py, stages/train.py, tests/test_x.py or pressft/model/training.py."""
    pattern = re.compile(r"(?<![\w/])((?:src/)?(?:pressft|scripts|stages|tests)/[\w/.-]+\.(?:py|sh))\b")
    named = {re.sub(r"^pressft/", "src/pressft/", name) for page in DOCS
             for name in pattern.findall(page.read_text(encoding="utf-8"))}
    assert "scripts/size_study.py" in named
    assert sorted(name for name in named if not (REPO / name).is_file()) == []


def _stage_graph() -> tuple[set[tuple[str, str]], dict]:
    """dvc.yaml's stage graph without the edges implied by others (what the README draws), and its stages."""
    import networkx
    from dvc.repo import Repo

    with Repo(str(REPO)) as repo:
        graph = repo.index.graph  # an edge runs from a stage to a stage it depends on
        stages = {stage.addressing: [out.def_path for out in stage.outs] for stage in repo.index.stages}
        reduced = networkx.transitive_reduction(graph)
        return {(needed.addressing, stage.addressing) for stage, needed in reduced.edges}, stages


def _mermaid_edges(text: str) -> set[tuple[str, str]]:
    block = re.search(r"```mermaid\n(.*?)```", text, re.DOTALL).group(1)
    labels = dict(re.findall(r"(\w+)\[\"([^\"]+)\"\]", block))
    edges = re.findall(r"^\s*(\w+)(?:\[\"[^\"]+\"\])? --> (\w+)", block, re.MULTILINE)
    return {(labels.get(a, a), labels.get(b, b)) for a, b in edges}


def test_readme_stage_graph_is_dvc_yaml_s():
    edges, _ = _stage_graph()
    assert _mermaid_edges(README.read_text(encoding="utf-8")) == edges


def _expand(pattern: str) -> list[str]:
    """`a/{b,c}.json` as the paths it stands for."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if not match:
        return [pattern]
    return [path for choice in match.group(1).split(",")
            for path in _expand(pattern[:match.start()] + choice + pattern[match.end():])]


def test_pipeline_doc_names_every_output_of_each_stage():
    """docs/pipeline.md's stage table: a stage's row names every output dvc.yaml declares for it."""
    _, stages = _stage_graph()
    rows = [line for line in (REPO / "docs/pipeline.md").read_text(encoding="utf-8").splitlines()
            if line.startswith("| `")]
    for stage, outs in stages.items():
        row = next((row for row in rows if f"`{stage}`" in row.split(" | ")[0]), None)
        assert row is not None, f"docs/pipeline.md has no row for stage {stage}"
        named = {path.rstrip("/") for code in re.findall(r"`([^`]+)`", row.split(" | ")[2]) for path in _expand(code)}
        assert not set(outs) - named, f"{stage}: docs/pipeline.md does not name {sorted(set(outs) - named)}"


def _layout() -> list[tuple[str, str]]:
    """(name, description) rows of the README's layout block; continuation lines joined to their row."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## Layout\n\n```\n(.*?)```", text, re.DOTALL).group(1)
    rows: list[tuple[str, str]] = []
    for line in block.splitlines():
        name, description = line[:24].rstrip(), line[24:].strip()
        if name:
            rows.append((name, description))
        else:
            rows[-1] = (rows[-1][0], f"{rows[-1][1]} {description}")
    return rows


def _modules(description: str) -> set[str]:
    """Module names of a layout description: "chat, packaged (registry wheels), modeling" -> chat, packaged, ..."""
    return {item.strip().split()[0] for item in re.sub(r"\([^)]*\)", "", description).split(",") if item.strip()}


def test_readme_layout_is_the_source_tree():
    """Every top-level path the layout names exists, and the library and scripts are listed module by module."""
    library = REPO / "src/pressft"
    listed_top, listed_packages = set(), {}
    for name, description in _layout():
        if name.startswith("  "):
            name = name.strip()
            if name.endswith("/"):
                listed_packages[name.rstrip("/")] = _modules(description)
            else:
                listed_top.add(name)
        else:
            for path in re.split(r",? ", name):
                assert (REPO / path).exists(), f"README layout names {path}, which does not exist"
            if name == "scripts/":
                scripts = set(re.findall(r"[\w.]+\.(?:py|sh)", description))
                held = {p.name for p in (REPO / "scripts").iterdir() if p.suffix in (".py", ".sh")}
                assert scripts == held, f"README layout lists scripts {sorted(scripts)}; scripts/ holds {sorted(held)}"
    held = {p.name for p in library.glob("*.py") if p.name != "__init__.py"}
    assert listed_top == held, f"README layout lists {sorted(listed_top)}; src/pressft/ holds {sorted(held)}"
    packages = {p.name for p in library.iterdir() if (p / "__init__.py").exists()}
    assert set(listed_packages) == packages, f"README layout lists {sorted(listed_packages)}; found {sorted(packages)}"
    for package, modules in listed_packages.items():
        held = {p.stem for p in (library / package).glob("*.py") if p.name != "__init__.py"}
        assert modules == held, f"README layout lists {package}/ as {sorted(modules)}; it holds {sorted(held)}"


def test_readme_names_the_committed_base_model():
    """The README's opening says which model the committed numbers come from; params.yaml must agree."""
    assert "\n  base: smollm2-135m-instruct\n" in (REPO / "params.yaml").read_text()
    assert "SmolLM2-135M-Instruct" in README.read_text(encoding="utf-8").split("## Set up")[0]


def test_readme_set_up_commands_are_the_ones_ci_runs():
    """.ci/run installs and tests as the README's two set-up commands do."""
    setup = README.read_text(encoding="utf-8").split("## Set up")[1].split("\n## ")[0]
    assert 'pip install -e ".[test]" && dvc repro' in setup and ". .venv/bin/activate && python -m pytest -q" in setup
    ci = (REPO / ".ci/run").read_text()
    assert '-e ".[test]"' in ci and "\npython -m pytest -q\n" in ci


def test_readme_result_claims_are_the_committed_metrics():
    """The README says, without numbers: fine-tuning beats the base model on every task and no best baseline; the
    best baselines are the lead (summaries, titles), the nearest article's tags and TF-IDF (type)."""
    readme = " ".join(README.read_text(encoding="utf-8").split())
    assert "fine-tuning beats the zero-shot base model on every task, and beats none of the best simple baselines" \
        in readme
    comparison = json.loads((REPO / "metrics/comparison.json").read_text())
    assert {comparison[task]["finetuned_minus_base"]["verdict"] for task in TASKS} == {"better"}
    assert "better" not in {comparison[task]["finetuned_minus_best_baseline"]["verdict"] for task in TASKS}
    best = {"summarization": "baseline-lead", "title": "baseline-lead", "tags": "baseline-nearest",
            "type": "baseline-tfidf"}
    assert {task: comparison[task]["best_baseline"] for task in TASKS} == best


def test_committed_study_holds_the_committed_run():
    """The linked study's run at the committed size and seed is the committed run (same scores), and that size ran
    with every seed of the study."""
    params = YAML(typ="safe").load((REPO / "params.yaml").read_text())
    train = params["train"]
    row = next(row for row in json.loads((REPO / "study/study.json").read_text()) if row["size"] == train["size"])
    assert sorted(row["seeds"]) == sorted(params["study"]["seeds"])
    comparison = json.loads((REPO / "metrics/comparison.json").read_text())
    for task in TASKS:
        assert row[task]["seed_values"][str(train["seed"])] == comparison[task]["finetuned"], task


def _rows(markdown: str) -> dict[str, list[str]]:
    """Table rows by their first cell, whitespace-normalised cells."""
    return {cells[0]: cells[1:] for line in markdown.splitlines() if line.startswith("| ")
            for cells in [[cell.strip() for cell in line.strip().strip("|").split("|")]]}


def _real_articles_rows(rows: dict[str, list[str]]) -> dict[str, str]:
    """{task: its row's first cell} of a real-articles table ("summarization (ROUGE-L F1)", ...)."""
    return {key.split(" (")[0]: key for key in rows if key.split(" (")[0] in TASKS}


def test_readme_real_articles_table_is_the_documented_runs():
    """The README's real-articles table (a measured record, not committed metrics) copies the documented run in
    docs/data-sources.md cell for cell, so one cannot be updated without the other."""
    readme, docs = _rows(README.read_text(encoding="utf-8")), _rows((REPO / "docs/data-sources.md").read_text())
    tasks = list(_real_articles_rows(readme).values())
    assert len(tasks) == len(TASKS)
    for task in tasks:
        # README: fine-tuned, base, best baseline, fine-tuned − base; docs: the same, the verdict after the last.
        assert readme[task][:3] == docs[task][:3], task
        assert docs[task][3].startswith(readme[task][3]), task


PRESET_RUN = REPO / "study/real-articles/preset"


def test_real_study_largest_point_is_the_recorded_run():
    """The real-article study's whole-pool point is the recorded run of the committed preset (the committed seed's
    scores, the same base), so the study cannot drift from the record that the README's table copies."""
    rows = json.loads((REPO / "study/real-articles/study.json").read_text())
    largest = max(rows, key=lambda row: row["size"])
    assert largest["synthetic"] is False and largest["size"] == 238
    # The default's train.seed, which the real preset keeps.
    seed = largest["interval_seed"]
    assert seed == load_config("train", path=REPO / "params.yaml").train.seed
    comparison = json.loads((PRESET_RUN / "comparison.json").read_text())
    for task in TASKS:
        assert largest[task]["seed_values"][str(seed)] == comparison[task]["finetuned"], task
        assert largest[task]["base"] == comparison[task]["base"], task


# The recorded runs of the `real` preset on the shared articles: their folder, and the -S each ran with besides the
# preset and data.path (the record on the default split; the same recipe on two other splits, nothing chosen on them).
REAL_RUNS = {PRESET_RUN: [],
             **{REPO / f"study/real-articles/split-seed-{seed}": [f"split.seed={seed}"] for seed in (1, 2)}}


@pytest.mark.parametrize(("run", "overrides"), REAL_RUNS.items(), ids=[run.name for run in REAL_RUNS])
def test_recorded_real_runs_are_the_committed_preset(run: Path, overrides: list[str]):
    """A recorded run's params are what `-S preset=real` (and its own overrides) composes from today's conf/ (a param
    added since, with its default, may be missing from the record; none may differ), so a change to the preset shows
    the record stale."""
    recorded = YAML(typ="safe").load((run / "params.yaml").read_text())
    path = recorded["data"]["path"]
    composed = YAML(typ="safe").load(
        compose(["preset=real", f"data.path={path}", *overrides], conf_dir=REPO / "conf"))

    def differences(record, now, where=""):
        if isinstance(record, dict) and isinstance(now, dict):
            return [d for key in record for d in differences(record[key], now.get(key), f"{where}.{key}")]
        return [] if record == now else [f"{where[1:]}: recorded {record!r}, composed {now!r}"]

    assert differences(recorded, composed) == []


def _runs_by_split_seed() -> dict[str, Path]:
    """{split.seed as written in the docs' tables: the recorded run's folder}."""
    return {str(YAML(typ="safe").load((run / "params.yaml").read_text())["split"]["seed"]): run for run in REAL_RUNS}


def _difference(diff: dict) -> str:
    """A paired difference as the tables write it: "+0.113 [+0.000, +0.338] tie"."""
    return f"{diff['diff']:+.3f} [{diff['ci_low']:+.3f}, {diff['ci_high']:+.3f}] {diff['verdict']}"


def _cells(run: Path, task: str) -> list[str]:
    """A recorded run's row of a real-articles table: fine-tuned [95% CI], base, best baseline's score, fine-tuned −
    base [95% CI] verdict, fine-tuned − best baseline [95% CI] verdict."""
    comparison = json.loads((run / "comparison.json").read_text())[task]
    finetuned = json.loads((run / "finetuned.json").read_text())[task]
    low, high = (finetuned[f"{comparison['metric']}_ci_{end}"] for end in ("low", "high"))
    return [f"{comparison['finetuned']:.3f} [{low:.3f}, {high:.3f}]", f"{comparison['base']:.3f}",
            f"{comparison['best_baseline_value']:.3f}", _difference(comparison["finetuned_minus_base"]),
            _difference(comparison["finetuned_minus_best_baseline"])]


def test_readme_real_articles_table_copies_the_recorded_run():
    """The README's real-articles table (fine-tuned score and interval, base, best baseline, fine-tuned − base) is the
    recorded run's metrics, so the two cannot drift apart."""
    readme = _rows(README.read_text(encoding="utf-8"))
    tasks = _real_articles_rows(readme)
    assert sorted(tasks) == sorted(TASKS)
    for task, key in tasks.items():
        finetuned, base, best, minus_base, _ = _cells(PRESET_RUN, task)
        assert readme[key][:2] == [finetuned, base], task
        assert readme[key][2].split()[-1] == best, task
        assert readme[key][3] == minus_base.rsplit(" ", 1)[0], task


SPLIT_ROW = re.compile(r"^(\w+), split seed (\d+)$")


def test_split_table_copies_the_recorded_runs():
    """docs/data-sources.md's table of the preset on the default and other splits (rows "title, split seed 42") copies
    each recorded run's metrics, one row per task and run."""
    runs = _runs_by_split_seed()
    rows = {match.groups(): cells for key, cells in _rows((REPO / "docs/data-sources.md").read_text()).items()
            if (match := SPLIT_ROW.match(key))}
    assert sorted(rows) == sorted((task, seed) for task in TASKS for seed in runs)
    for (task, seed), cells in rows.items():
        finetuned, base, best, minus_base, minus_best = _cells(runs[seed], task)
        assert cells[:2] == [finetuned, base] and cells[2].split()[-1] == best, (task, seed)
        assert cells[3:] == [minus_base, minus_best], (task, seed)


# The baselines' names as the docs' tables write them.
SHORT_NAMES = {"baseline-lead": "lead", "baseline-nearest": "nearest", "baseline-tfidf": "TF-IDF"}
NEAREST_TYPE_ROW = re.compile(r"(?:the record \()?split seed (\d+)\)?|CPU default .*")


def test_nearest_type_table_copies_the_recorded_runs():
    """docs/data-sources.md's table of the nearest articles' type (rows "split seed 1", "CPU default ...") copies what
    validation chose, the nearest type's and TF-IDF's test macro-F1 and the difference from the best type baseline of
    each recorded run and of the committed default's metrics."""
    runs = _runs_by_split_seed()
    rows = {key: cells for key, cells in _rows((REPO / "docs/data-sources.md").read_text()).items()
            if NEAREST_TYPE_ROW.fullmatch(key)}
    assert len(rows) == len(runs) + 1
    for key, cells in rows.items():
        seed = NEAREST_TYPE_ROW.fullmatch(key).group(1)
        folder = runs[seed] if seed else REPO / "metrics"
        chosen = json.loads((folder / "baselines.json").read_text())["type"]
        scores = {name: json.loads((folder / f"baseline-{name}.json").read_text())["type"]["macro_f1"]
                  for name in ("nearest", "tfidf")}
        assert cells[:3] == [f"k={chosen['nearest_k']} ({chosen['nearest_val_macro_f1']:.3f})",
                             f"{scores['nearest']:.3f}", f"{scores['tfidf']:.3f}"], key
        comparison = json.loads((folder / "comparison.json").read_text())["type"]
        assert cells[3].strip("*").startswith(SHORT_NAMES[comparison["best_baseline"]]), key
        if seed:
            assert _difference(comparison["finetuned_minus_best_baseline"]) in cells[3].replace("−", "-"), key


STUDY_ROW = re.compile(r"(\d+) articles(?:, (\d) seeds| \(the record\))?")
SHORT_VERDICTS = {"better": "better", "worse": "worse", "not distinguishable": "tie"}


def test_real_study_table_copies_the_committed_study():
    """docs/data-sources.md's table of the real-article size study (rows "30 articles", "60 articles, 3 seeds", ...)
    copies study/real-articles/study.json: each task's fine-tuned score (the seeds' mean), its best baseline and the
    difference from it with the verdict, the best eval loss and the training seconds."""
    study = {row["size"]: row for row in json.loads((REPO / "study/real-articles/study.json").read_text())}
    rows = {match: cells for key, cells in _rows((REPO / "docs/data-sources.md").read_text()).items()
            if (match := STUDY_ROW.fullmatch(key))}
    assert sorted(int(match.group(1)) for match in rows) == sorted(study)
    for match, cells in rows.items():
        row = study[int(match.group(1))]
        assert len(row["seeds"]) == int(match.group(2) or 1), match.group(0)
        for task, cell in zip(TASKS, cells):
            entry = row[task]
            assert cell.replace("−", "-") == (f"{entry['value']:.3f}, {SHORT_NAMES[entry['best_baseline']]} "
                                              f"{entry['vs_baseline']['diff']:+.3f} "
                                              f"{SHORT_VERDICTS[entry['vs_baseline']['verdict']]}"), (match.group(0), task)
        assert cells[4:6] == [f"{row['best_eval_loss']:.4f}", f"{round(row['train_seconds']):,}"], match.group(0)


def _target_cells(run: Path) -> dict[str, str]:
    """A recorded run's column of the docs' table of issue 23's targets, by target."""
    comparison = json.loads((run / "comparison.json").read_text())
    valid = json.loads((run / "finetuned.json").read_text())["type"]["well_formed"]

    def against_best(task: str) -> str:
        return f"{SHORT_NAMES[comparison[task]['best_baseline']]} " \
               f"{_difference(comparison[task]['finetuned_minus_best_baseline'])}"

    better = sum(comparison[task]["finetuned_minus_base"]["verdict"] == "better" for task in TASKS)
    invented = comparison["summarization"]["invented_numbers"]
    return {
        "fine-tuned beats the base on every task":
            f"{better} of {len(TASKS)}; type {_difference(comparison['type']['finetuned_minus_base'])}",
        "titles beat the best baseline": against_best("title"),
        "tags beat the best baseline": against_best("tags"),
        "summaries not worse than lead-k": against_best("summarization"),
        "type at least the best baseline's, every label valid": f"{against_best('type')}; valid {valid:.0%}",
        "invented numbers in summaries fewer than the base's":
            f"{invented['finetuned']:.3f} against {invented['base']:.3f}: "
            f"{_difference(invented['finetuned_minus_base'])}",
    }


def test_targets_table_copies_the_recorded_runs():
    """docs/data-sources.md's table of issue 23's targets copies, per split (the record, split seeds 1 and 2), the
    differences from the base and the best baseline, the share of valid type labels and the invented numbers."""
    runs = _runs_by_split_seed()
    # The table's columns: the record, then the other splits.
    expected = [_target_cells(runs[seed]) for seed in ("42", "1", "2")]
    rows = _rows((REPO / "docs/data-sources.md").read_text())
    for target in expected[0]:
        assert rows[target][:len(expected)] == [cells[target] for cells in expected], target
