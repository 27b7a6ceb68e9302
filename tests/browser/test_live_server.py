"""The browser tests' own server: a browser that leaves mid-answer must not leak a file."""

import gc
import socket
import struct
import time
import warnings


def _leave_mid_answer(base_url: str, path: str, after: float) -> None:
    host, port = base_url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)))
    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    time.sleep(after)  # the answer is on its way, as when Chromium leaves a page
    # Linger 0: close with a reset, not a polite FIN, exactly as a closed tab does.
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def test_an_icon_abandoned_mid_answer_leaves_no_open_file(live_server):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        # werkzeug is exposed for the 10 ms after it has sent an answer: step through them.
        for step in range(40):
            _leave_mid_answer(live_server, "/static/icons/icon.svg", after=step / 2000)
        time.sleep(0.3)
        gc.collect()
    leaked = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)
              and "static" in str(w.message)]
    assert leaked == []
