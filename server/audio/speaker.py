"""Speaker embeddings: Resemblyzer's GE2E voice encoder, ported to numpy.

The network (Wan et al., "Generalized End-to-End Loss for Speaker Verification"):
40 mel bands every 10 ms (25 ms window) -> 3-layer LSTM of 256 -> linear 256 -> ReLU ->
L2 norm, on partial utterances of 160 frames (1.6 s).  Weights come from Resemblyzer's
``pretrained.pt``; ``proctor models fetch`` turns them into a plain ``.npz``
(``convert_checkpoint``), so the server neither needs torch nor unpickles anything.

Preprocessing follows ``resemblyzer.audio``: volume raised (never lowered) to -30 dBFS,
librosa's mel spectrogram (Slaney mel scale and norm, Hann window, centred frames, power
2, not logarithmic).  Resemblyzer trims long silences with webrtcvad; here the caller
hands only speech (Silero VAD segments), which is what that trimming is for.
Same voice: cosine ~0.9; two people: ~0.65 (figures in docs/audio.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .sessions import cpu_session

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
HIDDEN = 256
LAYERS = 3
NORM_TARGET_DBFS = -30.0
_INT16_MAX = 2**15 - 1


def convert_checkpoint(pt_path: Path, out: Path) -> None:
    """Resemblyzer's ``pretrained.pt`` -> ``.npz`` of the LSTM and linear weights (fetch step)."""
    from .torch_legacy import load_legacy_checkpoint

    state = load_legacy_checkpoint(pt_path)["model_state"]
    arrays = {
        k.replace(".", "_"): np.asarray(v, np.float32)
        for k, v in state.items()
        if k.startswith(("lstm.", "linear."))
    }
    expected = {
        f"lstm_{w}_l{i}"
        for i in range(LAYERS)
        for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    }
    expected |= {"linear_weight", "linear_bias"}
    if set(arrays) != expected:
        raise ValueError(f"unexpected GE2E checkpoint tensors: {sorted(arrays)}")
    with open(out, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds loosely


# --- mel spectrogram (librosa.feature.melspectrogram with Resemblyzer's parameters) ---------
def _hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, mels
    )


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filters(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """librosa.filters.mel(sr, n_fft, n_mels) with its defaults (Slaney scale and area norm)."""
    fftfreqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


_MEL = mel_filters()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(
    np.float32
)  # periodic Hann


def mel_spectrogram(wav: np.ndarray) -> np.ndarray:
    """(frames, 40) power mel spectrogram; frames centred, one every 10 ms (1 + n // 160)."""
    wav = np.asarray(wav, dtype=np.float32)
    padded = np.pad(wav, N_FFT // 2)  # librosa >= 0.10 pads centred frames with zeros
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.as_strided(
        padded,
        shape=(n_frames, N_FFT),
        strides=(padded.strides[0] * HOP, padded.strides[0]),
        writeable=False,
    )
    power = np.abs(np.fft.rfft(frames * _WINDOW, axis=1)) ** 2
    # einsum, not matmul: no BLAS thread pool for a small product
    return np.einsum("fk,mk->fm", power.astype(np.float32), _MEL).astype(np.float32)


def normalize_volume(wav: np.ndarray, target_dbfs: float = NORM_TARGET_DBFS) -> np.ndarray:
    """Raise the level to ``target_dbfs`` (never lower it), as Resemblyzer does."""
    rms = float(np.sqrt(np.mean((wav.astype(np.float64) * _INT16_MAX) ** 2))) if len(wav) else 0.0
    if rms <= 0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / _INT16_MAX)
    if change < 0:
        return wav
    return (wav * (10 ** (change / 20))).astype(np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free logistic


@dataclass
class SpeakerEncoder:
    """GE2E forward pass in numpy; ``embed_partials`` takes a batch of mel windows."""

    weights: dict[str, np.ndarray]
    _layers: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    _lin_w: np.ndarray = field(default_factory=lambda: np.zeros((HIDDEN, HIDDEN), np.float32))
    _lin_b: np.ndarray = field(default_factory=lambda: np.zeros(HIDDEN, np.float32))
    _session: Any = None  # onnxruntime session of ``onnx_graph`` (None: the numpy port)

    @classmethod
    def load(cls, path: Path, runtime: str = "onnx", threads: int = 1) -> SpeakerEncoder:
        """``runtime``: ``onnx`` (the same network as an onnxruntime graph built in memory
        from these weights: one thread, no BLAS thread pool fighting the frame workers) or
        ``numpy`` (the reference port, step by step)."""
        with np.load(path, allow_pickle=False) as data:
            weights = {k: data[k].astype(np.float32) for k in data.files}
        layers = []
        for i in range(LAYERS):
            w_ih, w_hh = weights[f"lstm_weight_ih_l{i}"], weights[f"lstm_weight_hh_l{i}"]
            bias = weights[f"lstm_bias_ih_l{i}"] + weights[f"lstm_bias_hh_l{i}"]
            layers.append((np.ascontiguousarray(w_ih.T), np.ascontiguousarray(w_hh.T), bias))
        enc = cls(weights)
        enc._layers = layers
        enc._lin_w = np.ascontiguousarray(weights["linear_weight"].T)
        enc._lin_b = weights["linear_bias"]
        if runtime == "onnx":
            enc._session = cpu_session(onnx_graph(weights), threads)
        return enc

    def embed_partials(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel windows -> (batch, 256) L2-normalised embeddings."""
        if self._session is not None:
            x = np.ascontiguousarray(mels, dtype=np.float32)
            return self._session.run(None, {"mels": x})[0]
        return self.embed_partials_numpy(mels)

    def embed_partials_numpy(self, mels: np.ndarray) -> np.ndarray:
        """(batch, frames, 40) mel windows -> (batch, 256) L2-normalised embeddings."""
        x = np.asarray(mels, dtype=np.float32)
        batch, steps, _ = x.shape
        for w_ih, w_hh, bias in self._layers:
            gates_in = x @ w_ih + bias  # (batch, steps, 4H): the input part for every step at once
            h = np.zeros((batch, HIDDEN), np.float32)
            c = np.zeros((batch, HIDDEN), np.float32)
            out = np.empty((batch, steps, HIDDEN), np.float32)
            for t in range(steps):
                g = gates_in[:, t] + h @ w_hh
                i = _sigmoid(g[:, :HIDDEN])  # PyTorch's gate order: input, forget, cell, output
                f = _sigmoid(g[:, HIDDEN : 2 * HIDDEN])
                cell = np.tanh(g[:, 2 * HIDDEN : 3 * HIDDEN])
                o = _sigmoid(g[:, 3 * HIDDEN :])
                c = f * c + i * cell
                h = o * np.tanh(c)
                out[:, t] = h
            x = out
        raw = np.maximum(h @ self._lin_w + self._lin_b, 0.0)
        norm = np.linalg.norm(raw, axis=1, keepdims=True)
        return raw / np.maximum(norm, 1e-9)

    def embed_windows(self, wavs: list[np.ndarray], batch: int = 16) -> np.ndarray:
        """One embedding per speech window (each up to 1.6 s; shorter ones are not padded).

        Windows of the same length run as one batch through the LSTM.
        """
        if not wavs:
            return np.zeros((0, HIDDEN), np.float32)
        mels = [mel_spectrogram(normalize_volume(w))[:PARTIAL_FRAMES] for w in wavs]
        out = np.zeros((len(mels), HIDDEN), np.float32)
        by_len: dict[int, list[int]] = {}
        for i, m in enumerate(mels):
            by_len.setdefault(len(m), []).append(i)
        for _length, idx in by_len.items():
            for start in range(0, len(idx), batch):
                part = idx[start : start + batch]
                out[part] = self.embed_partials(np.stack([mels[i] for i in part]))
        return out

    def embed_utterance(
        self, wav: np.ndarray, rate: float = 1.3, min_coverage: float = 0.75
    ) -> np.ndarray:
        """Resemblyzer's ``embed_utterance``: mean of partial embeddings, re-normalised."""
        wav = normalize_volume(np.asarray(wav, np.float32))
        wav_slices, mel_slices = partial_slices(len(wav), rate, min_coverage)
        need = wav_slices[-1].stop
        if need >= len(wav):
            wav = np.pad(wav, (0, need - len(wav)))
        mel = mel_spectrogram(wav)
        partials = self.embed_partials(np.stack([mel[s] for s in mel_slices]))
        mean = partials.mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-9)


def onnx_graph(weights: dict[str, np.ndarray]) -> bytes:
    """The GE2E network as an ONNX graph (three LSTM ops, Gemm, Relu, L2 norm), serialised.

    PyTorch stacks the LSTM gates as input, forget, cell, output; ONNX as input, output,
    forget, cell: the blocks are reordered.  Input ``mels`` (batch, frames, 40), output
    ``embedding`` (batch, 256).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def reorder(w: np.ndarray) -> np.ndarray:
        i, f, g, o = np.split(w, 4, axis=0)
        return np.concatenate([i, o, f, g], axis=0)

    inits, nodes = [], [helper.make_node("Transpose", ["mels"], ["x0"], perm=[1, 0, 2])]
    x = "x0"
    for n in range(LAYERS):
        w = reorder(weights[f"lstm_weight_ih_l{n}"])[None]
        r = reorder(weights[f"lstm_weight_hh_l{n}"])[None]
        b = np.concatenate(
            [reorder(weights[f"lstm_bias_ih_l{n}"]), reorder(weights[f"lstm_bias_hh_l{n}"])]
        )[None]
        for name, arr in ((f"W{n}", w), (f"R{n}", r), (f"B{n}", b)):
            inits.append(numpy_helper.from_array(arr.astype(np.float32), name))
        nodes.append(
            helper.make_node(
                "LSTM", [x, f"W{n}", f"R{n}", f"B{n}"], [f"y{n}", f"h{n}"], hidden_size=HIDDEN
            )
        )
        nodes.append(helper.make_node("Squeeze", [f"y{n}", "axis1"], [f"x{n + 1}"]))
        x = f"x{n + 1}"
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axis0"))
    inits.append(numpy_helper.from_array(weights["linear_weight"].astype(np.float32), "LW"))
    inits.append(numpy_helper.from_array(weights["linear_bias"].astype(np.float32), "LB"))
    last = LAYERS - 1
    nodes += [
        helper.make_node("Squeeze", [f"h{last}", "axis0"], ["h"]),  # (1, batch, H) -> (batch, H)
        helper.make_node("Gemm", ["h", "LW", "LB"], ["lin"], transB=1),
        helper.make_node("Relu", ["lin"], ["pos"]),
        helper.make_node("LpNormalization", ["pos"], ["embedding"], axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes,
        "ge2e",
        [helper.make_tensor_value_info("mels", TensorProto.FLOAT, ["batch", "frames", N_MELS])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", HIDDEN])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def partial_slices(n_samples: int, rate: float = 1.3, min_coverage: float = 0.75):
    """Resemblyzer's ``compute_partial_slices``: where the 1.6 s partials of an utterance lie."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    frame_step = max(1, min(PARTIAL_FRAMES, int(np.round((SAMPLE_RATE / rate) / HOP))))
    wav_slices, mel_slices = [], []
    steps = max(1, n_frames - PARTIAL_FRAMES + frame_step + 1)
    for i in range(0, steps, frame_step):
        mel_slices.append(slice(i, i + PARTIAL_FRAMES))
        wav_slices.append(slice(i * HOP, (i + PARTIAL_FRAMES) * HOP))
    last = wav_slices[-1]
    coverage = (n_samples - last.start) / (last.stop - last.start)
    if coverage < min_coverage and len(mel_slices) > 1:
        mel_slices, wav_slices = mel_slices[:-1], wav_slices[:-1]
    return wav_slices, mel_slices


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-9))
