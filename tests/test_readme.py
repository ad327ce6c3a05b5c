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
    assert "\n  base: smollm2-135m-instruct " in (REPO / "params.yaml").read_text()
    assert "SmolLM2-135M-Instruct" in (REPO / "README.md").read_text().split("## Set up")[0]
