"""The four tasks built from one article, with the reference study's prompts."""

from collections.abc import Sequence
from typing import Any

from pressft.config import PromptConfig
from pressft.errors import UserError


def task_input(article: dict[str, Any], task: str) -> str:
    """What the model reads: the content for summaries (the summary is the answer), summary + content otherwise."""
    if task == "summarization":
        return article["content"]
    return f"{article['summary']}\n\n{article['content']}"


def task_answer(article: dict[str, Any], task: str) -> str:
    if task == "summarization":
        return article["summary"]
    if task == "title":
        return article["title"]
    if task == "tags":
        return ", ".join(article["tags"])
    if task == "type":
        return article["type"]
    raise UserError(f"unknown task {task!r}")


def make_examples(article: dict[str, Any], names: Sequence[str], prompts: dict[str, PromptConfig]) -> list[dict[str, Any]]:
    """One example per task: the prompt parts kept apart so the input can be shortened to a token budget later."""
    return [
        {
            "id": article["id"],
            "task": task,
            "system": prompts[task].system,
            "instruction": prompts[task].instruction,
            "input": task_input(article, task),
            "answer": task_answer(article, task),
            # Tags are scored as a set, so the reference keeps the list.
            "reference": article["tags"] if task == "tags" else task_answer(article, task),
            "article_type": article["type"],
        }
        for task in names
    ]
