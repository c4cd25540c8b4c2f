"""API errors in words a person understands: one sentence per `reason`, then the API's `detail`.

Shared by the CLI and the web page (the page shows `message` from its JSON error), so both say the same.
"""

from __future__ import annotations

from typing import Any

from closet_client.client import ApiError

# What went wrong, by the API's bounded `reason` (closet/errors.py) or the client's own.
SENTENCES = {
    "bad_image": "This file is not a photo the server can read.",
    "too_large": "The photo is too large.",
    "unknown_target": "That garment type is not available.",
    "bad_option": "One of the settings was not accepted.",
    "no_person": "No person was found in the photo.",
    "no_garment": "A person was found, but no upper garment to change.",
    "internal": "The server failed on this photo. Please try again.",
    "busy": "The server is busy. Please try again in a moment.",
    "unreachable": "The closet server cannot be reached.",
    "not_found": "The server does not serve the closet model.",
}


def detail_text(detail: Any) -> str:
    """The API's `detail` as one line: text as is; a hint, the allowed values, or key: value pairs."""
    if detail is None or detail == "":
        return ""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, dict):
        if "hint" in detail:
            return str(detail["hint"])
        if "allowed" in detail:
            allowed = detail["allowed"]
            return "Allowed: " + (", ".join(map(str, allowed)) if isinstance(allowed, list) else str(allowed))
        return "; ".join(f"{k}: {detail_text(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return ", ".join(map(detail_text, detail))
    return str(detail)


def explain(err: ApiError) -> str:
    """A sentence for a person, e.g. "No person was found in the photo. Send a photo in which ... visible." """
    sentence = SENTENCES.get(err.reason) or f"The request was refused (HTTP {err.status})."
    detail = detail_text(err.detail)
    parts = [sentence]
    if detail:
        parts.append(detail[0].upper() + detail[1:] + ("" if detail.endswith(".") else "."))
    if err.error and err.error.lower() not in sentence.lower():
        parts.append(f"({err.error})")
    return " ".join(parts)
