"""The exported model's card (README.md) in the Hugging Face model-card format, filled from the committed metrics,
params and data provenance with the report's sections."""

import io
from typing import Any

from ruamel.yaml import YAML

from pressft.config import Config
from pressft.presentation.report import data_section, model_section, summary_section
from pressft.tasks import get_task


def _front_matter(base: dict[str, Any], config: Config, data: dict[str, Any]) -> str:
    meta: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["pressft", "lora", "bmw", "press-releases", "summarization", "text-classification"],
        "language": ["en"],
    }
    if "model" in base:
        meta["base_model"] = base["model"]
    elif config.model.base != "embedded":
        meta["base_model"] = config.model.base
    if "license" in base:
        meta["license"] = base["license"]
    if data["source"] == "huggingface":
        meta["datasets"] = [config.data.huggingface.dataset]
    text = io.StringIO()
    YAML().dump(meta, text)
    return f"---\n{text.getvalue()}---"


def _candidates(config: Config) -> str:
    return "".join(f"; the {task} prompt also held, between the article and the instruction, the lines \"{noun} of "
                   f"similar articles, most similar first:\" and \"- A, B\" for each of the {k} most similar "
                   f"training articles (data/neighbours.py; give it such lines)" for task, k in config.tasks.neighbours.items()
                   for noun in [get_task(task).nouns[1].capitalize()])


def _usage(name: str, config: Config) -> str:
    prompt = config.tasks.prompts["summarization"]
    return f"""## How to use

The model was trained on prompts made of a system message and a user message: the article, a blank line, then the
task's instruction (summary, title and tags as in the reference study; the title, tags and type prompts read the
article's summary + content){_candidates(config)}. Decoding is greedy and stops at the end-of-turn token
(`generation_config.json`).

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{name}")
tokenizer = AutoTokenizer.from_pretrained("{name}")
messages = [
    {{"role": "system", "content": {prompt.system!r}}},
    {{"role": "user", "content": article + "\\n\\n" + {prompt.instruction!r}}},
]
inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True,
                                       date_string={config.model.date_string!r})
answer = model.generate(**inputs, max_new_tokens={config.infer.max_new_tokens['summarization']})
print(tokenizer.decode(answer[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))
```

The prompts of all its tasks are in `params.yaml` (`tasks.prompts`) of the project that trained it; its
`scripts/generate.py` runs them on articles of your own. Articles longer than the training budget
({config.model.max_length} tokens, prompt + answer) were shortened at their end."""


def _limitations(config: Config, data: dict[str, Any], comparison: dict[str, Any]) -> str:
    lines = []
    if data["synthetic"]:
        lines.append("- Trained and tested on a SYNTHETIC corpus that the project generates (not on real PressClub "
                     "articles): the results say what fine-tuning buys on those articles only.")
    if config.model.base == "embedded":
        lines.append("- The base is a tiny model trained from scratch, a smoke test of the pipeline, not an LLM.")
    behind = [f"{task} ({entry['best_baseline']})" for task, entry in comparison.items()
              if isinstance(entry, dict) and entry.get("finetuned_minus_best_baseline", {}).get("verdict") == "worse"]
    if behind:
        lines.append(f"- A simple baseline is still better at: {', '.join(behind)}.")
    lines += [
        "- English press texts of one company; the four article types are BMW PressClub's. Other domains, languages "
        "and labels were not tested.",
        "- Summaries and titles are generated text: they can state facts that are not in the article. Check them "
        "before publishing.",
        f"- Answers are cut at {', '.join(f'{n} tokens ({task})' for task, n in config.infer.max_new_tokens.items())}.",
    ]
    return "## Limitations\n\n" + "\n".join(lines)


def model_card(*, name: str, config: Config, base: dict, data: dict, splits: dict, train: dict,
               comparison: dict) -> str:
    """README.md in the Hugging Face model-card format: YAML metadata, then what the model is, how it was trained,
    on what, its results against the base model and simple baselines (with intervals), how to use it, and limits."""
    tasks = [get_task(task).title.lower() for task in config.tasks.names]
    return "\n\n".join([
        _front_matter(base, config, data),
        f"# {name}",
        f"`{base.get('model', config.model.base)}` fine-tuned with LoRA (merged into the weights) on BMW "
        f"PressClub-style news articles for {len(tasks)} tasks: {', '.join(tasks)}. Exported by the pressft pipeline "
        f"(`scripts/export.py`) from its committed run; the test set is {splits['test']['articles']} articles × "
        f"{len(tasks)} tasks.",
        summary_section(comparison, data["synthetic"], config.model.base == "embedded"),
        model_section(config, base, train),
        data_section(data, splits),
        _usage(name, config),
        _limitations(config, data, comparison),
    ]) + "\n"
