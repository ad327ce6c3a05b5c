"""The README's numbers come from the committed metrics: its headline table is checked against them, so a new
`dvc repro` that changes a metric fails here until the README says the same."""

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADLINE = {"summarization": "summarization (ROUGE-L F1)", "title": "title (ROUGE-1 F1)", "tags": "tags (F1 per article)",
            "type": "type (macro-F1)"}


def _signed(entry: dict) -> str:
    return f"{entry['diff']:+.3f} [{entry['ci_low']:+.3f}, {entry['ci_high']:+.3f}] {entry['verdict']}"


def headline_rows(metrics_dir: Path) -> list[str]:
    """The README's headline table rows, as the committed metrics files give them."""
    comparison = json.loads((metrics_dir / "comparison.json").read_text())
    finetuned = json.loads((metrics_dir / "finetuned.json").read_text())
    rows = []
    for task, label in HEADLINE.items():
        entry, key = comparison[task], comparison[task]["metric"]
        low, high = finetuned[task][f"{key}_ci_low"], finetuned[task][f"{key}_ci_high"]
        rows.append(f"| {label} | {entry['finetuned']:.3f} [{low:.3f}, {high:.3f}] | {entry['base']:.3f} | "
                    f"{entry['best_baseline'].removeprefix('baseline-')} {entry['best_baseline_value']:.3f} | "
                    f"{_signed(entry['finetuned_minus_base'])} | {_signed(entry['finetuned_minus_best_baseline'])} |")
    return rows


def test_readme_headline_table_matches_the_committed_metrics():
    readme = (REPO / "README.md").read_text()
    for row in headline_rows(REPO / "metrics"):
        assert row in readme, f"README lacks the row the committed metrics give:\n{row}"


def test_readme_names_the_committed_base_model():
    """The README's opening says which model the committed numbers come from; params.yaml must agree."""
    assert "\n  base: smollm2-135m-instruct\n" in (REPO / "params.yaml").read_text()
    assert "SmolLM2-135M-Instruct" in (REPO / "README.md").read_text().split("## Set up")[0]


def seed_rows(study_file: Path, params_file: Path) -> list[str]:
    """The README's seed table rows, as the committed study gives them for the committed training size."""
    from ruamel.yaml import YAML

    train = YAML(typ="safe").load(params_file.read_text())["train"]
    row = next(row for row in json.loads(study_file.read_text()) if row["size"] == train["size"])
    rows = []
    for task, label in HEADLINE.items():
        cell = row[task]
        rows.append(f"| {label} | {cell['seed_values'][str(train['seed'])]:.3f} [{cell['ci_low']:.3f}, "
                    f"{cell['ci_high']:.3f}] | {cell['value']:.3f} | {cell['seed_min']:.3f}–{cell['seed_max']:.3f} "
                    f"(sd {cell['seed_sd']:.3f}) | {_signed(cell['vs_base'])} | {_signed(cell['vs_baseline'])} |")
    return rows


def test_readme_seed_table_matches_the_committed_study_of_the_committed_run():
    """The study's run with the committed seed is the committed run (same scores), and the README's spread across
    seeds is the study's."""
    from ruamel.yaml import YAML

    train = YAML(typ="safe").load((REPO / "params.yaml").read_text())["train"]
    row = next(row for row in json.loads((REPO / "study/study.json").read_text()) if row["size"] == train["size"])
    assert len(row["seeds"]) >= 3 and train["seed"] in row["seeds"]
    comparison = json.loads((REPO / "metrics/comparison.json").read_text())
    for task in HEADLINE:
        assert row[task]["seed_values"][str(train["seed"])] == comparison[task]["finetuned"], task
    readme = (REPO / "README.md").read_text()
    for line in seed_rows(REPO / "study/study.json", REPO / "params.yaml"):
        assert line in readme, f"README lacks the row the committed study gives:\n{line}"
