"""Unit layer: what ``prism launch`` makes of a checkip service's answer
(``launch_access.caller_address`` against a local HTTP server; no sandbox, no AWS).
The launch refusing before anything is created is proven end to end for one unusable
answer in ``tests/test_launch_access.py``."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from prism_core.exceptions import InputError
from prism_core.templates.launch_access import caller_address


class _Answer(http.server.BaseHTTPRequestHandler):
    answer = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.answer)))
        self.end_headers()
        self.wfile.write(self.answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def checkip() -> Iterator[tuple[str, type[_Answer]]]:
    handler = type("Handler", (_Answer,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("answer", [b"<html>rate limited</html>", b"1" * 4096, b""])
def test_an_unusable_answer_is_refused(checkip: tuple[str, type[_Answer]], answer: bytes) -> None:
    url, handler = checkip
    handler.answer = answer
    with pytest.raises(InputError) as refused:
        caller_address(url)
    message = str(refused.value)
    assert "did not answer an IP address" in message and "--allow-from" in message


@pytest.mark.parametrize(
    ("answer", "address"),
    [(b"198.51.100.23\n", "198.51.100.23"), (b" 2001:db8::1 ", "2001:db8::1")],
)
def test_an_address_is_taken(
    checkip: tuple[str, type[_Answer]], answer: bytes, address: str
) -> None:
    url, handler = checkip
    handler.answer = answer
    assert caller_address(url) == address
