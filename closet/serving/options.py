"""Request options: from multipart fields or `X-Closet-<Name>` headers.

TorchServe 0.12 never passes the URL query string to a handler
(pytorch/serve#989), so options arrive as multipart form fields (`target=hoodie`)
or headers (`X-Closet-Target: hoodie`). The same option given both ways with
different values is a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from closet.errors import BadImage, BadOption

HEADER_PREFIX = "x-closet-"
# Keys TorchServe uses for a raw (non-multipart) request body.
BODY_KEYS = ("body", "data")
IMAGE_FIELD = "image"


@dataclass(frozen=True)
class Option:
    """One request option: its parser (str -> value) and default."""

    parse: Callable[[str], Any]
    default: Any = None
    help: str = ""


def choice(*allowed: str) -> Callable[[str], str]:
    """Parser that accepts one of `allowed` (case-insensitive)."""

    def parse(value: str) -> str:
        v = value.strip().lower()
        if v not in allowed:
            raise ValueError(f"must be one of {list(allowed)}")
        return v

    parse.allowed = allowed  # type: ignore[attr-defined]
    return parse


def boolean(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def integer(lo: int, hi: int) -> Callable[[str], int]:
    def parse(value: str) -> int:
        try:
            n = int(value.strip(), 10)
        except ValueError:
            raise ValueError(f"must be an integer in [{lo}, {hi}]") from None
        if not lo <= n <= hi:
            raise ValueError(f"must be an integer in [{lo}, {hi}]")
        return n

    return parse


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise BadOption("option is not UTF-8 text") from None
    if isinstance(value, str):
        return value
    raise BadOption("option must be text", f"got a {type(value).__name__}")


# Markup characters, escaped like JSON's \uXXXX so an error body is inert if a client renders it as HTML.
_MARKUP = str.maketrans({c: f"\\u{ord(c):04x}" for c in "<>&\"'`"})


def safe_preview(value: str, limit: int = 40) -> str:
    """A short, escaped rendering of user input for error messages (never the raw value).

    Control characters and non-ASCII come back as Python escapes, markup characters as \\uXXXX.
    """
    shown = value[:limit].encode("unicode_escape").decode("ascii").translate(_MARKUP)
    return shown + ("..." if len(value) > limit else "")


@dataclass
class ParsedRequest:
    """One request, decoded: raw image bytes, optional extra files, validated options."""

    image: bytes
    files: dict[str, bytes]
    options: dict[str, Any]
    request_id: str = ""


def parse_request(
    row: dict,
    headers: dict[str, str],
    spec: dict[str, Option],
    file_fields: tuple[str, ...] = (),
    max_chars: int = 64,
    request_id: str = "",
) -> ParsedRequest:
    """Split one TorchServe input row into image bytes, extra files and options.

    Args:
        row: TorchServe's per-request dict: `body`/`data` for a raw body, or one key per multipart field.
        headers: request headers (any case).
        spec: the options this model accepts.
        file_fields: extra multipart fields that carry binary files (e.g. `reference`).
        max_chars: longest accepted option value.
    Raises:
        BadOption for unknown, overlong, malformed or conflicting options; BadImage for no image.
    """
    image = None
    files: dict[str, bytes] = {}
    given: dict[str, str] = {}
    for key, value in row.items():
        name = str(key).lower()
        if name in BODY_KEYS or name == IMAGE_FIELD:
            if image is not None:
                raise BadOption("the image was sent twice", "send it as the body or as the field 'image', not both")
            image = value
        elif name in file_fields:
            files[name] = bytes(value) if isinstance(value, (bytes, bytearray)) else _text(value).encode()
        elif name in spec:
            given[name] = _text(value)
        else:
            raise BadOption(f"unknown field '{safe_preview(name)}'", {"allowed": sorted([IMAGE_FIELD, *file_fields, *spec])})
    for hkey, hvalue in headers.items():
        hname = str(hkey).lower()
        if not hname.startswith(HEADER_PREFIX):
            continue
        name = hname[len(HEADER_PREFIX):].replace("-", "_")
        if name not in spec:
            raise BadOption(
                f"unknown header 'X-Closet-{safe_preview(name)}'",
                {"allowed": sorted(f"X-Closet-{n.replace('_', '-').title()}" for n in spec)},
            )
        value = _text(hvalue)
        if name in given and given[name].strip() != value.strip():
            raise BadOption(f"option '{name}' was given twice with different values", "send it once, as a field or a header")
        given[name] = value
    if image is None:
        raise BadImage("no image in the request", "send the image as the request body or the multipart field 'image'")
    if isinstance(image, str):
        image = image.encode("latin-1", errors="replace")
    options: dict[str, Any] = {}
    for name, opt in spec.items():
        if name not in given:
            options[name] = opt.default
            continue
        raw = given[name]
        if len(raw) > max_chars:
            raise BadOption(f"option '{name}' is too long", f"{len(raw)} characters; at most {max_chars}")
        try:
            options[name] = opt.parse(raw)
        except ValueError as e:
            raise BadOption(f"bad value for '{name}': '{safe_preview(raw)}'", str(e)) from None
    return ParsedRequest(image=bytes(image), files=files, options=options, request_id=request_id)
