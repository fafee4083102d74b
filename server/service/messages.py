"""Every sentence a use case says to a candidate or a proctor, in one place.

Words of the reference contract stay word for word (clients match on some of them).
"""

from __future__ import annotations

# --- sessions ---------------------------------------------------------------------------
INVALID_SESSION = "Invalid session"
SESSION_ENDED = "Session has ended"
SESSION_STILL_ACTIVE = "Session is still active: end it to get the report"
CONCURRENT_UPDATE = "Session was updated concurrently; retry the frame"
BUSY = "Server busy, retry shortly"
SESSION_BUSY = "Session busy: an earlier request of this session is still running; retry shortly"


# --- images -----------------------------------------------------------------------------
def no_data(field: str) -> str:
    return f"No {field} data provided"


def invalid_image(field: str, why: object) -> str:
    return f"Invalid {field} image: {why}"


FRAME_FAILED = "Frame could not be analysed"

# --- register-face ----------------------------------------------------------------------
NO_FACE = "No face detected in the image. Please ensure your face is clearly visible."
MULTI = "Multiple faces detected. Please ensure only you are in the frame."
ALREADY_REGISTERED = "Face already registered for this session"
FACE_REGISTERED = "Face registered successfully"


def low_confidence(conf: float) -> str:
    return (
        f"Face detection confidence too low ({conf}%). "
        "Please ensure good lighting and face the camera directly."
    )


# --- verify-document --------------------------------------------------------------------
NO_FACE_DOCUMENT = (
    "No face detected in the document. Please upload a clear image of your ID with a visible photo."
)
MULTI_LIVE = "Multiple faces detected in live image. Please ensure only you are in the frame."
NO_FACE_LIVE = "No face detected in live image. Please ensure your face is clearly visible."
VERIFIED = "Identity verified successfully! Document face matches live face."
NEXT_AFTER_VERIFIED = "You can now proceed with the interview."
NEXT_AFTER_FAILED = "Please try again with a clearer document or better lighting."


def invalid_document_type(types: tuple[str, ...]) -> str:
    return f"Invalid document_type. Use one of: {', '.join(types)}"


def not_verified(similarity: float, threshold: float) -> str:
    return (
        f"Identity verification failed. Face similarity ({similarity}%) is below "
        f"threshold ({threshold:g}%)."
    )
