"""Every setting of proctor, read once from the environment (prefix ``PROCTOR_``).

The README's "Settings" table documents each field; keep the two in step.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROCTOR_", extra="ignore")

    # --- paths and storage -------------------------------------------------
    data_dir: Path = Field(REPO_ROOT / "data", description="Where the SQLite store and reports live.")
    models_dir: Path = Field(REPO_ROOT / "models", description="Folder with model files and manifest.json.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/proctor.db. postgresql+psycopg://... for shared state."
    )

    # --- HTTP ----------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = 5001
    max_body_bytes: int = Field(15 * 1024 * 1024, description="Largest accepted request body (413 above).")
    max_image_pixels: int = Field(40_000_000, description="Largest decoded image (width*height); guards decompression bombs.")
    public_base_url: str | None = Field(None, description="Base URL used for websocket_url; default from the request.")

    # --- verification --------------------------------------------------------
    verification_threshold: float = Field(80.0, description="0-100 similarity at or above which a face matches.")
    min_face_confidence: float = Field(80.0, description="0-100 detector confidence required to register a face.")
    face_detect_threshold: float = Field(0.6, description="Detector score (0-1) below which a box is not a face.")
    document_min_face_px: int = Field(24, description="Smallest face side accepted on an ID document.")

    # --- alert rules (defaults are the reference's triggers) ----------------
    no_face_frames: int = 3
    looking_away_frames: int = 5
    face_mismatch_frames: int = 3
    low_engagement_frames: int = 10
    low_engagement_below: int = 40
    suspicious_object_confidence: float = 70.0
    text_confidence: float = 80.0
    alert_rearm_frames: int = Field(
        2, description="A condition must be absent this many frames before the same alert can fire again."
    )
    alert_repeat_frames: int = Field(
        30, description="A condition that never clears is reported again every N frames (0: never)."
    )

    # --- inference -----------------------------------------------------------
    providers: str = Field("auto", description="onnxruntime providers: auto, cpu, cuda (comma list accepted).")
    intra_op_threads: int = Field(1, description="onnxruntime intra-op threads per session.")
    inference_workers: int = Field(2, description="Threads that run frame inference (one model set each).")
    max_queue: int = Field(16, description="Frames waiting for a worker before the server answers 503 busy.")
    ocr_every: int = Field(5, description="Run OCR on every Nth frame of a session (and on scene change).")
    objects_every: int = Field(1, description="Run the object detector on every Nth frame.")
    pose_every: int = Field(3, description="Run body-pose landmarks on every Nth frame.")
    hands_every: int = Field(1, description="Run hand landmarks on every Nth frame (phone signals).")
    detect_width: int = Field(640, description="Frames are shrunk to this width for face detection.")

    # --- local LLM summary ---------------------------------------------------
    llm_enabled: bool = Field(True, description="Write the AI summary with the local GGUF model (else template).")
    llm_model: str | None = Field(None, description="GGUF file name in the models folder (default: the manifest's).")
    llm_timeout_s: float = Field(20.0, description="Time limit for the summary; the template answers after it.")
    llm_max_tokens: int = 160
    llm_context: int = 2048
    llm_threads: int = 1
    llm_gpu_layers: int = Field(0, description="Layers offloaded to the GPU by llama.cpp (-1: all).")

    # --- sessions ------------------------------------------------------------
    session_idle_timeout_s: float = Field(1800.0, description="End sessions with no call for this long (0: never).")
    recent_verifications: int = 10

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'proctor.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
