"""Typed input errors. Each maps to one HTTP status and one bounded metric reason.

Handlers turn these into `{"error": ..., "detail": ...}` JSON with the status
code; anything else is an internal error (500, reason "internal").
"""

from __future__ import annotations

# Bounded set of reasons: the only values of the `reason` metric label.
REASONS = ("bad_image", "too_large", "unknown_target", "bad_option", "no_person", "no_garment", "internal")


class ClosetError(Exception):
    """An error caused by the request, reported to the client as 4xx JSON."""

    status = 400
    reason = "bad_option"

    def __init__(self, message: str, detail: str | dict | list | None = None):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_json(self) -> dict:
        return {"error": self.message, "detail": self.detail, "reason": self.reason}


class BadImage(ClosetError):
    """Body is empty, not an image, truncated or otherwise undecodable."""

    status = 400
    reason = "bad_image"


class TooLarge(ClosetError):
    """Declared pixel count or side length is over the configured limit."""

    status = 413
    reason = "too_large"


class BadOption(ClosetError):
    """A request option is unknown, malformed or conflicts with another."""

    status = 400
    reason = "bad_option"


class UnknownTarget(ClosetError):
    """`target` names no domain of the loaded translation checkpoint."""

    status = 400
    reason = "unknown_target"


class NoPerson(ClosetError):
    """Segmentation or face detection found no person to work on."""

    status = 422
    reason = "no_person"


class NoGarment(ClosetError):
    """A person was found, but no upper garment region."""

    status = 422
    reason = "no_garment"
