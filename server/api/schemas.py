"""Pydantic schemas of the contract (../shared/reference/seed-api.md), for validation and /docs.

Request fields are typed loosely on purpose (``Any``): a wrong type must answer the
contract's own error text ("No frame data provided") with a 400, not FastAPI's 422.
Response models allow extra keys so additions never break the contract's shape.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- requests ---------------------------------------------------------------------------
class StartSessionRequest(Open):
    job_data: Any = Field(
        None, description="Free-form job data: jobTitle, company, candidateName, interviewType"
    )


class VerifyDocumentRequest(Open):
    document: Any = Field(
        None, description="Base64 image of the ID document (data URL prefix optional)"
    )
    live_face: Any = Field(None, description="Base64 live face capture")
    document_type: Any = Field(
        None, description="aadhaar | pan | passport | driving_license | voter_id | other"
    )


class RegisterFaceRequest(Open):
    face: Any = Field(None, description="Base64 image with exactly one face")


class FrameRequest(Open):
    frame: Any = Field(None, description="Base64 webcam frame (JPEG at 720p is plenty)")


# --- responses --------------------------------------------------------------------------
class ErrorResponse(Open):
    success: bool = False
    error: str


class Features(Open):
    aws_rekognition: bool
    openai_llm: bool
    anthropic_llm: bool
    rest_api_enabled: bool
    websocket_enabled: bool
    video_url_analysis: bool


class HealthResponse(Open):
    status: str
    service: str
    version: str
    timestamp: str
    active_sessions: int
    features: Features
    models: dict[str, Any] = Field(
        default_factory=dict, description="Loaded models with licences (addition)"
    )


class StartSessionResponse(Open):
    success: bool
    session_id: str
    status: str
    start_time: str
    face_verification_required: bool
    websocket_url: str
    api_endpoints: dict[str, str]
    verification_flow: list[str]


class VerifyDocumentResponse(Open):
    success: bool
    verified: bool
    similarity: float
    threshold: float
    document_type: str
    document_face_confidence: float
    live_face_confidence: float
    message: str
    next_step: str
    face_registered: bool | None = None


class VerificationResult(Open):
    verified: bool
    similarity: float
    document_type: str
    timestamp: str


class DocumentStatusResponse(Open):
    success: bool
    session_id: str
    document_verified: bool
    document_type: str | None
    verification_result: VerificationResult | None
    face_registered: bool


class BoundingBox(Open):
    Width: float
    Height: float
    Left: float
    Top: float


class RegisterFaceResponse(Open):
    success: bool
    message: str
    face_confidence: float
    face_bounding_box: BoundingBox
    verification_enabled: bool


class FaceVerification(Open):
    verified: bool
    similarity: float
    message: str
    threshold: float


class Pose(Open):
    pitch: float
    roll: float
    yaw: float


class LiveFrameMetrics(Open):
    eye_contact: int = Field(ge=0, le=100)
    confidence: int = Field(ge=0, le=100)
    engagement: int = Field(ge=0, le=100)
    posture: int = Field(ge=0, le=100)


class Alert(Open):
    type: str
    severity: str
    message: str
    timestamp: float


class FrameResult(Open):
    frame_number: int
    timestamp: float
    face_detected: bool
    face_count: int
    emotions: dict[str, float]
    dominant_emotion: str | None
    metrics: LiveFrameMetrics
    face_verification: FaceVerification | None
    pose: Pose | None
    labels_detected: list[str]
    alerts: list[Alert]


class FrameResponse(Open):
    success: bool
    session_id: str
    result: FrameResult


class AggregateMetrics(Open):
    avg_eye_contact: int
    avg_confidence: int
    avg_engagement: int
    avg_posture: int
    avg_facial_expressions: int
    dominant_emotion: str | None
    emotion_distribution: dict[str, int]


class SessionMetrics(Open):
    session_id: str
    frames_analyzed: int
    total_frames_received: int
    session_duration: float
    is_active: bool
    metrics: AggregateMetrics
    alert_count: int


class MetricsResponse(Open):
    success: bool
    session_id: str
    metrics: SessionMetrics


class AlertsResponse(Open):
    success: bool
    session_id: str
    total_alerts: int
    alerts: list[Alert]


class VerificationSummary(Open):
    enabled: bool
    registered: bool
    total_verifications: int
    successful_verifications: int
    average_similarity: float
    max_similarity: float
    min_similarity: float
    verification_rate: float
    total_mismatches: int


class RecentVerification(Open):
    timestamp: float
    verified: bool
    similarity: float
    message: str
    threshold: float


class VerificationStatusResponse(Open):
    success: bool
    session_id: str
    face_registered: bool
    verification_enabled: bool
    verification_summary: VerificationSummary
    recent_verifications: list[RecentVerification]


class SessionSummary(Open):
    start_time: str
    end_time: str
    duration_seconds: float
    total_frames_received: int
    frames_analyzed: int
    total_alerts: int


class Report(Open):
    session_id: str | None = None
    session_summary: SessionSummary
    behavioral_analysis: dict[str, Any]
    body_language_analysis: dict[str, Any]
    cultural_fit_analysis: dict[str, Any]
    overall_behavior_analysis: dict[str, Any]
    video_analysis_insights: dict[str, Any]
    face_verification_summary: VerificationSummary
    emotion_timeline: list[dict[str, Any]]
    alert_history: list[dict[str, Any]]
    ai_summary: dict[str, Any]
    token_consumption: dict[str, Any]
    analysis_metadata: dict[str, Any]


class EndSessionResponse(Open):
    success: bool
    session_id: str
    report: Report


class SessionListItem(Open):
    session_id: str
    is_active: bool
    start_time: str
    frames_analyzed: int
    alert_count: int


class SessionListResponse(Open):
    success: bool
    total_sessions: int
    sessions: list[SessionListItem]


class MessageResponse(Open):
    success: bool
    message: str
