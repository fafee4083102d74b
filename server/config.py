"""Every setting of proctor, read once from the environment (prefix ``PROCTOR_``).

The README's "Settings" table documents each field; keep the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PROCTOR_", extra="ignore")

    # --- paths and storage -------------------------------------------------
    data_dir: Path = Field(
        REPO_ROOT / "data", description="Where the SQLite store and reports live."
    )
    models_dir: Path = Field(
        REPO_ROOT / "models", description="Folder with model files and manifest.json."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/proctor.db. postgresql+psycopg://... for shared state.",
    )
    db_upgrade: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Schema upgrade when serve/worker opens the store: auto (SQLite upgraded; an empty PostgreSQL "
        "created; a PostgreSQL behind the code refused until `proctor db upgrade`), always, never.",
    )
    push_bus: Literal["auto", "off"] = Field(
        "auto",
        description="Pushes across replicas: auto (PostgreSQL LISTEN/NOTIFY when the store is PostgreSQL, "
        "so every replica's dashboard sees every session), off (each process its own).",
    )

    # --- HTTP ----------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `proctor serve` and `make run` listen on.")
    port: int = Field(5001, description="Port `proctor serve` and `make run` listen on.")
    max_body_bytes: int = Field(
        15 * 1024 * 1024, description="Largest accepted request body (413 above)."
    )
    max_image_pixels: int = Field(
        40_000_000, description="Largest decoded image (width*height); guards decompression bombs."
    )
    public_base_url: str | None = Field(
        None, description="Base URL used for websocket_url; default from the request."
    )

    # --- access (off when no proctor key is set: the reference contract is open) ---
    api_keys_proctor: str = Field(
        "",
        description="Comma list of proctor API keys, or better their hashes (sha256:..., `proctor keys hash`); "
        "when set, every endpoint but /health, /docs and the console shells needs a key, token or ticket.",
    )
    api_token_secret: str | None = Field(
        None,
        description="Secret that signs candidate tokens and tickets (default: a random one made on first "
        "start in <data_dir>/secrets/token.key).",
    )
    candidate_token_ttl_s: float = Field(
        6 * 3600.0,
        description="How long a candidate token (session start's candidate_token) is valid.",
    )
    ticket_ttl_s: float = Field(
        60.0,
        description="How long a ticket (POST /api/tickets) is valid: the stand-in for a key in websocket "
        "and console URLs.",
    )
    open_mode: bool = Field(
        False,
        description="Allow `proctor serve` on a non-loopback address with no proctor key (anyone who can "
        "reach the port can read every session); without it such a start is refused.",
    )
    cors_origins: str = Field(
        "",
        description="Comma list of browser origins (scheme://host[:port]) allowed to call the API and open "
        "push channels; '*' any. Default: any while keys are off, same origin only when keys are on.",
    )
    body_idle_timeout_s: float = Field(
        30.0,
        description="408 when a request body stops arriving for this long (slow clients; 0: never).",
    )
    lock_wait_s: float = Field(
        30.0,
        description="Longest wait for a session's lock (requests of one session run in turn) before 503.",
    )
    embedding_key: str | None = Field(
        None,
        description="Base64 of 32 bytes: the AES-GCM key of face embeddings at rest (default: a key file "
        "made on first start in <data_dir>/secrets/embedding.key; `proctor keys rotate-embedding`).",
    )
    retention_days: float = Field(
        0.0,
        description="Ended sessions older than this many days are purged with their jobs and files, "
        "hourly and by `proctor purge` (0: kept until deleted).",
    )
    disk_quota_bytes: int = Field(
        20 * 1024**3,
        description="Most bytes video uploads and downloads may hold on disk at once (507 above).",
    )
    min_free_disk_bytes: int = Field(
        1024**3, description="Uploads and downloads are refused (507) when the disk has less free."
    )

    # --- verification --------------------------------------------------------
    verification_threshold: float = Field(
        80.0, description="0-100 similarity at or above which a face matches."
    )
    min_face_confidence: float = Field(
        80.0, description="0-100 detector confidence required to register a face."
    )
    face_detect_threshold: float = Field(
        0.6, description="Detector score (0-1) below which a box is not a face."
    )
    document_min_face_px: int = Field(
        24, description="Smallest face side accepted on an ID document."
    )

    # --- identity chain and liveness (docs/cheating.md) ----------------------
    identity_max_attempts: int = Field(
        5,
        description="Failed document checks and registrations a session may make before both refuse "
        "(429); a proctor re-registration resets the count (0: unlimited).",
    )
    liveness_threshold: float = Field(
        50.0, description="0-100 liveness score at or above which a face counts as a live person."
    )
    liveness_frames: int = Field(
        8,
        description="Frames with a face over which the session's liveness decision is made "
        "(presentation_attack when it fails).",
    )
    liveness_still_frames: int = Field(
        5,
        description="presentation_attack after this many consecutive frames that differ only by "
        "re-encoding noise (a still picture replayed; 0: off).",
    )
    liveness_image_min: float = Field(
        25.0,
        description="Single-image liveness score below which register-face and verify-document refuse "
        "the live face (screen/print cues; 0: never refuse on one image).",
    )
    liveness_every: int = Field(
        10,
        description="After the first liveness_frames frames, measure the screen/print cues on every "
        "Nth frame (the motion cues run on every frame).",
    )

    # --- alert rules (defaults are the reference's triggers) ----------------
    no_face_frames: int = Field(
        3, description="no_face_detected after this many consecutive frames without a face."
    )
    looking_away_frames: int = Field(
        5, description="looking_away after this many consecutive frames."
    )
    face_mismatch_frames: int = Field(
        3, description="face_mismatch after this many consecutive failed verifications."
    )
    low_engagement_frames: int = Field(
        10, description="low_engagement after this many consecutive low frames."
    )
    low_engagement_below: int = Field(
        40, description="Engagement score (0-100) below which a frame counts as low."
    )
    suspicious_object_confidence: float = Field(
        70.0, description="suspicious_object above this confidence (0-100)."
    )
    text_confidence: float = Field(
        80.0, description="text_detected above this OCR confidence (0-100)."
    )
    alert_rearm_frames: int = Field(
        2,
        description="A condition must be absent this many frames before the same alert can fire again.",
    )
    alert_repeat_frames: int = Field(
        30, description="A condition that never clears is reported again every N frames (0: never)."
    )
    exam_looking_away_frames: int = Field(
        2,
        description="looking_away after this many consecutive frames in the exam profile "
        "(job_data.profile = exam: stricter than looking_away_frames).",
    )
    multiple_voices_frames: int = Field(
        1,
        description="multiple_voices after this many consecutive frames with another voice heard.",
    )
    speech_while_away_frames: int = Field(
        2,
        description="speech_while_away after this many consecutive frames with speech and no face "
        "or the candidate looking away.",
    )
    speech_detected_frames: int = Field(
        1,
        description="speech_detected (exam profile only) after this many consecutive frames with speech.",
    )

    # --- audio (docs/audio.md) ---------------------------------------------------
    audio_enabled: bool = Field(
        True, description="Listen: analyse video audio tracks and accept the live audio channel."
    )
    audio_same_voice: float = Field(
        0.70,
        description="Cosine between speaker embeddings (1.6 s windows) at or above which two "
        "windows are the same voice.",
    )
    audio_min_voice_windows: int = Field(
        2,
        description="A voice counts once it holds this many 1.6 s windows (one odd window is not a voice).",
    )
    audio_enrol_seconds: float = Field(
        4.0,
        description="Live sessions: seconds of the candidate's first speech their voice is enrolled from.",
    )
    audio_max_chunk_seconds: float = Field(
        5.0,
        description="Longest live audio chunk accepted (the console sends 0.5-2 s).",
    )
    transcripts: bool = Field(
        False,
        description="Transcribe a video's speech (faster-whisper tiny.en, CPU) into "
        "audio_analysis.transcript; off by default for privacy (docs/audio.md).",
    )

    # --- inference -----------------------------------------------------------
    providers: str = Field(
        "auto", description="onnxruntime providers: auto, cpu, cuda (comma list accepted)."
    )
    intra_op_threads: int = Field(1, description="onnxruntime intra-op threads per session.")
    inference_workers: int = Field(
        2, description="Threads that run frame inference (one model set each)."
    )
    max_queue: int = Field(
        16, description="Frames waiting for a worker before the server answers 503 busy."
    )
    ocr_every: int = Field(
        5, description="Run OCR on every Nth frame of a session (and on scene change)."
    )
    ocr_idle_every: int = Field(
        20,
        description="While the last OCR run read no text and no part of the background has changed since, "
        "OCR runs only on every Nth frame instead of every ocr_every (0: always every ocr_every).",
    )
    objects_every: int = Field(1, description="Run the object detector on every Nth frame.")
    pose_every: int = Field(3, description="Run body-pose landmarks on every Nth frame.")
    hands_every: int = Field(
        1, description="Run hand landmarks on every Nth frame (phone signals)."
    )
    object_crops_every: int = Field(
        3,
        description="Run the object detector again on a crop of the head and shoulders (a phone at the "
        "ear gets 2-3x the pixels) on every Nth frame, when the detector runs on it (0: never).",
    )
    frame_max_width: int = Field(
        1600,
        description="Live frames wider than this are decoded at 1/2 (or 1/4) size: every model works below "
        "960 px, and JPEG decodes faster reduced (0: always full size).",
    )
    verify_reuse_s: float = Field(
        1.0,
        description="Within this many seconds of a verified frame, a frame whose single face barely moved "
        "(box IoU >= 0.8) reuses that embedding instead of running SFace again (0: never).",
    )
    malloc_mmap_threshold_mb: float = Field(
        16.0,
        description="glibc: blocks from this size up are mmapped, smaller ones reused from the heaps; fixed at "
        "start instead of glibc's ratchet, so the RSS stops growing after start (0: glibc's default).",
    )
    malloc_trim_threshold_mb: float = Field(
        64.0,
        description="glibc: free memory above this at a heap's top goes back to the system (0: glibc's default).",
    )
    gpu_batching: bool = Field(
        True,
        description="With CUDA as provider: batch face detection and embedding across sessions (docs/performance.md).",
    )
    gpu_batch_max: int = Field(8, description="Most frames (or faces) in one batched GPU call.")
    gpu_batch_wait_ms: float = Field(
        3.0, description="How long a batch waits for more frames before it runs."
    )

    # --- local LLM summary ---------------------------------------------------
    llm_enabled: bool = Field(
        True, description="Write the AI summary with the local GGUF model (else template)."
    )
    llm_model: str | None = Field(
        None, description="GGUF file name in the models folder (default: the manifest's)."
    )
    llm_timeout_s: float = Field(
        120.0,
        description="Time limit for the model's summary (in the background after llm_budget_s); "
        "the template stays after it.",
    )
    llm_budget_s: float = Field(
        3.0,
        description="How long ending a session waits for the model; after it the template answers "
        "and a passing model text replaces it in the stored report (report_updated).",
    )
    llm_repack: bool = Field(
        False,
        description="Let llama.cpp repack the weights for faster CPU kernels (a private copy of "
        "about 0.7 GB for the 1.5B model; off: the weights stay mapped from the file).",
    )
    llm_memory_margin_mb: float = Field(
        1536.0,
        description="The 1.5B default summary model is used when available memory at start holds its "
        "file plus this much; else SmolLM2-135M.",
    )
    llm_max_tokens: int = Field(160, description="Most tokens the summary may generate.")
    llm_context: int = Field(2048, description="llama.cpp context size.")
    llm_threads: int = Field(1, description="llama.cpp threads (1 keeps a core free for frames).")
    llm_gpu_layers: int = Field(
        0, description="Layers offloaded to the GPU by llama.cpp (-1: all)."
    )

    # --- sessions ------------------------------------------------------------
    session_idle_timeout_s: float = Field(
        1800.0, description="End sessions with no call for this long (0: never)."
    )
    recent_verifications: int = Field(
        10, description="How many recent checks verification-status lists."
    )

    # --- pre-recorded video (POST /comprehensive-interview-analysis, jobs, analyze-video) ---
    media_root: Path | None = Field(
        None,
        description="Folder whose videos video_url may name by path or file:// URL (unset: local paths refused).",
    )
    allowed_video_hosts: str = Field(
        "",
        description="Comma list of hosts an http(s) video_url may be downloaded from ('.example.org' also allows "
        "its subdomains); empty: none.",
    )
    max_video_bytes: int = Field(
        4 * 1024**3, description="Largest video downloaded from an allowed host."
    )
    max_upload_bytes: int = Field(
        2 * 1024**3, description="Largest video uploaded as multipart form data (streamed to disk)."
    )
    video_download_timeout_s: float = Field(
        30.0, description="Connect/read timeout of a video download."
    )
    video_download_total_s: float = Field(
        900.0, description="Deadline for a whole video download (redirects included)."
    )
    allowed_video_networks: str = Field(
        "",
        description="Comma list of networks (CIDR) an allowed video host may resolve to besides public "
        "addresses (on-premise storage, e.g. 10.20.0.0/16); loopback and private ones are refused otherwise.",
    )
    video_frame_interval: int = Field(
        30, description="Default frame_interval: analyse every Nth frame of a video."
    )
    video_jobs_concurrency: int = Field(
        1,
        description="Video jobs analysed at once; more wait queued. Each holds one inference worker at batch "
        "priority. 0: this replica only accepts jobs, another one (sharing the database) runs them.",
    )

    job_queue: Literal["auto", "local", "procrastinate"] = Field(
        "auto",
        description="Video job queue: auto (procrastinate when the store is PostgreSQL, else in-process), "
        "local (this process polls the store), procrastinate.",
    )
    job_lease_s: float = Field(
        30.0,
        description="A running video job's lease, renewed every third of it; when its owner dies the job "
        "is taken over after this (PostgreSQL) or marked interrupted (SQLite).",
    )
    job_retries: int = Field(
        3, description="Retries of a video job after an internal error (procrastinate queue)."
    )
    job_retry_backoff_s: int = Field(
        5,
        description="Exponential backoff base of those retries: waits of N, N^2, N^3... seconds.",
    )

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'proctor.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
