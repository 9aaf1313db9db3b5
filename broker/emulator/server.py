"""moto in server mode with the extension: ``python -m broker.emulator.server``.

moto's own ``moto_server`` cannot load an extension, hence this entrypoint.
It prints the endpoint URL on one line once it accepts requests and stops
cleanly on Ctrl-C or SIGTERM. Behaviour comes from the ``BROKER_EMULATOR_*``
env vars (see :mod:`broker.emulator.settings`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from moto.server import ThreadedMotoServer

from . import install


def start_server(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadedMotoServer, str]:
    """Install the extension and start a threaded moto server; port 0 picks a free one.

    Returns the server (call ``server.stop()`` when done) and its base URL.
    """
    install()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return server, f"http://{bound_host}:{bound_port}"


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted; the endpoint URL is the first line on stdout."""
    parser = argparse.ArgumentParser(
        prog="python -m broker.emulator.server",
        description="moto server with the broker's SageMaker extension",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: a free port)")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    server, url = start_server(args.host, args.port)
    print(url, flush=True)
    try:
        # A timed wait keeps the main thread responsive to signals.
        while not stopping.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
