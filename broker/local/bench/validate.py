"""The operator's wait, measured: ``broker routing validate`` on the benchmark's large table.

``python -P .../validate.py TABLE.yaml RESULT.json`` (``PYTHONPATH``: the tree
whose broker is measured) runs that tree's ``broker routing validate TABLE``
in a fresh interpreter, as CI runs it on a pull request (no account registry
next to the table: its checks are skipped, with one warning), and writes the
exit code, the CPU and the peak RSS. The parent times it from spawn to exit,
interpreter start included. Only the standard library is imported at module
level: the import of the CLI is part of the wait.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path


def peak_rss_kb() -> int:
    """Peak resident memory of this program (``VmHWM``), in KiB. Not imported from the other
    harness files: ``broker.local`` here is the measured tree's, which may predate them."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main(argv: list[str]) -> int:
    """``TABLE RESULT``: validate the table, write what it cost."""
    table, result_file = argv
    from broker.cli import main as broker_main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = broker_main(["routing", "validate", table])
    Path(result_file).write_text(json.dumps({
        "exit_code": code, "cpu_s": time.process_time(), "peak_rss_kb": peak_rss_kb(),
        "summary": printed.getvalue().strip().splitlines()[-1:],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
