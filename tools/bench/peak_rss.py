"""Run a command and print `<peak RSS in KiB> <exit status>`: its own peak, not its parent's.

Started as a small process of its own (by path, importing nothing of orthweb) because Linux keeps a
process's resident-set high-water mark across fork and exec: a command forked straight from a large
Python process reports at least that process's size. Forked from this small one, the command's
`wait4` figure is the largest resident set of the command or of any process it waited for.

    python peak_rss.py COMMAND [ARG ...]
"""

from __future__ import annotations

import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: peak_rss.py COMMAND [ARG ...]", file=sys.stderr)
        return 2
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    # ru_maxrss is in KiB on Linux.
    print(usage.ru_maxrss, os.waitstatus_to_exitcode(status))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
