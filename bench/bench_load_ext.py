"""`%load_ext jupyter_kf` in a fresh IPython, beside a built-in extension (autoreload). Budget: 150 ms."""
import subprocess
import sys

from common import ROOT, report

SNIPPET = """
import time
from IPython.core.interactiveshell import InteractiveShell
ip = InteractiveShell.instance()
t = time.perf_counter()
ip.run_line_magic("load_ext", "{ext}")
print(time.perf_counter() - t)
"""


def once(ext: str) -> float:
    out = subprocess.run([sys.executable, "-c", SNIPPET.format(ext=ext)], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    return float(out.strip().splitlines()[-1])


def main(repeat: int = 9):
    rows = [("baseline: %load_ext autoreload", [once("autoreload") for _ in range(repeat)]),
            ("%load_ext jupyter_kf", [once("jupyter_kf") for _ in range(repeat)])]
    report("%load_ext (fresh process each time)", rows, budget=0.150)


if __name__ == "__main__":
    main()
