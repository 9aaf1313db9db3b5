"""A TCP server that accepts connections and never answers: a hanging AWS dependency."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class SilentServer:
    """Accepts TCP connections and never answers."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._held: list[socket.socket] = []
        self._stopped = threading.Event()
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._socket.settimeout(0.1)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                self._held.append(self._socket.accept()[0])
            except TimeoutError:
                continue

    @property
    def connections(self) -> int:
        return len(self._held)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._socket.close()


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    """A :class:`SilentServer` for the block (use it as a fixture's body)."""
    server = SilentServer()
    try:
        yield server
    finally:
        server.stop()
