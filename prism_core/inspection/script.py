"""The inspection program shipped to instances, the commands that run it, and its output."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
from importlib import resources
from typing import Any

from prism_core.exceptions import OperationFailed

#: The program's own time bound; the shell wrapper's ``timeout`` is a little longer.
SECONDS = 60
#: Run Command keeps the first 24,000 characters of a command's output.
OUTPUT_LIMIT = 24000
#: Decoded documents larger than this are refused (a hostile instance's output).
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
_HEADER = re.compile(r"^PRISM-INSPECT (\d+) (\d+)/(\d+) ([0-9a-f]{64})$")
_EOF = "PRISM_INSPECT_EOF_7f3a"


def program() -> str:
    """The Python program (``prism_core/data/inspect_instance.py``)."""
    return resources.files("prism_core").joinpath("data/inspect_instance.py").read_text("utf-8")


def scrub_program() -> str:
    """The scrub script run by a helper instance's user data."""
    return resources.files("prism_core").joinpath("data/scrub_instance.sh").read_text("utf-8")


def commands(part: int = 1, seconds: int = SECONDS) -> list[str]:
    """``AWS-RunShellScript`` commands: a POSIX sh wrapper running the program with python3."""
    text = program()
    if _EOF in text:  # pragma: no cover - the shipped program never holds the marker
        raise ValueError("the inspection program holds its own heredoc marker")
    return [
        f"export PRISM_INSPECT_PART={int(part)} PRISM_INSPECT_SECONDS={int(seconds)}",
        'command -v python3 >/dev/null 2>&1 || { echo "PRISM-INSPECT-ERROR no-python3"; exit 0; }',
        f'T=""; command -v timeout >/dev/null 2>&1 && T="timeout -k 5 {int(seconds) + 30}"',
        f"$T python3 - <<'{_EOF}'\n{text}\n{_EOF}",
    ]


class Parts:
    """The output parts of one inspection, joined once every part is in."""

    def __init__(self) -> None:
        self.total = 0
        self.digest = ""
        self.chunks: dict[int, str] = {}

    def add(self, output: str) -> int:
        """Take one command's output; returns how many parts there are in all."""
        text = output.strip()
        if text.startswith("PRISM-INSPECT-ERROR"):
            raise OperationFailed(f"the instance cannot run the inspection: {text[20:][:80]}")
        header, _, chunk = text.partition("\n")
        match = _HEADER.match(header.strip())
        if match is None or int(match.group(1)) != 1:
            raise OperationFailed("the inspection printed something prism cannot read")
        part, total, digest = int(match.group(2)), int(match.group(3)), match.group(4)
        if self.total and (total != self.total or digest != self.digest):
            raise OperationFailed("the instance changed while it was inspected")
        self.total, self.digest = total, digest
        self.chunks[part] = chunk.strip()
        return total

    def missing(self) -> list[int]:
        return [n for n in range(1, self.total + 1) if n not in self.chunks]

    def document(self) -> dict[str, Any]:
        data = "".join(self.chunks[n] for n in range(1, self.total + 1))
        if hashlib.sha256(data.encode()).hexdigest() != self.digest:
            raise OperationFailed("the inspection's output arrived damaged")
        return decode(data)


def decode(data: str) -> dict[str, Any]:
    """The JSON document of the program's base64, gzipped output (bounded)."""
    try:
        raw = gzip.GzipFile(fileobj=_BytesReader(base64.b64decode(data, validate=True)))
        body = raw.read(MAX_DOCUMENT_BYTES + 1)
    except (ValueError, OSError, EOFError) as exc:
        raise OperationFailed(f"the inspection's output cannot be decoded ({exc})") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise OperationFailed("the inspection's output is larger than prism accepts")
    try:
        document = json.loads(body)
    except ValueError:
        raise OperationFailed("the inspection's output is not JSON") from None
    if not isinstance(document, dict) or document.get("prism_inspect") != 1:
        raise OperationFailed("the inspection's output is not an inspection report")
    return document


def _BytesReader(data: bytes) -> Any:  # noqa: N802 - a tiny factory that reads like a class
    import io

    return io.BytesIO(data)
