"""Notebook -> KFP v2 IR, side by side with Kale 2.3.0 (its own venv, .venv-kale) in the same run; local runs.

Budgets: in process <= 50 ms for a 5-step notebook (Kale: 0.39 s), the CLI <= 1 s (Kale's: 2.95 s),
how the time grows from 10 to 500 cells, and 2,000 cells in <= 1 s (200 / 2,000 / 20,000 measured).
A local run of 5 / 20 / 80 chained steps: overhead per step <= 150 ms beyond the step's own work, the
baseline being the same steps' code run by hand in the same run (each in a fresh interpreter, as a
step is, and all in this process: the work alone). Kale is measured doing what its CLI does (notebook ->
DSL -> kfp compile -> IR); without .venv-kale (``make .venv-kale``) only ours is measured.
"""
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, isolated_state, report, timed

KALE_PYTHON = ROOT / ".venv-kale" / "bin" / "python"
KALE_CLI = ROOT / ".venv-kale" / "bin" / "kale"
JUPYTER = ROOT / ".venv" / "bin" / "jupyter"

KALE_IN_PROCESS = """
import json, os, sys, time, warnings, logging
warnings.simplefilter("ignore")
logging.disable(logging.WARNING)
from kale import NotebookProcessor, Compiler
from kale.common import kfputils
nb, repeat = sys.argv[1], int(sys.argv[2])
os.chdir(os.path.dirname(nb))
def once():
    processor = NotebookProcessor(nb, {})
    pipeline = processor.run()
    script = Compiler(pipeline, processor.get_imports_and_functions()).compile()
    kfputils.compile_pipeline(script, pipeline.config.pipeline_name)
once()
times = []
for _ in range(repeat):
    start = time.perf_counter()
    once()
    times.append(time.perf_counter() - start)
print("TIMES " + json.dumps(times))
"""


def kale_notebook(path: Path, steps: int = 5, cells_per_step: int = 1) -> Path:
    """A Kale-tagged notebook: imports, parameters, a chain of steps passing values, metrics."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kubeflow_notebook"] = {"pipeline_name": f"bench-{steps}x{cells_per_step}", "experiment_name": "bench",
                                        "base_image": "python:3.11", "enable_caching": True}

    def cell(source, *tags):
        c = nbformat.v4.new_code_cell(source)
        if tags:
            c.metadata["tags"] = list(tags)
        nb.cells.append(c)

    cell("import math\nimport json", "imports")
    cell("n = 100\nscale = 0.5", "pipeline-parameters")
    for s in range(steps):
        for k in range(cells_per_step):
            value = f"v{s}_{k}"
            if s == 0 and k == 0:
                source = f"{value} = [i * scale for i in range(n)]"
            else:
                prev = f"v{s}_{k - 1}" if k else f"v{s - 1}_{cells_per_step - 1}"
                source = f"{value} = [math.sqrt(abs(x)) + 1 for x in {prev}]\nprint(len({value}))"
            tags = (f"step:step_{s}",) + ((f"prev:step_{s - 1}",) if s else ()) if k == 0 else ()
            cell(source, *tags)
    cell(f"result = sum(v{steps - 1}_{cells_per_step - 1})", "step:final", f"prev:step_{steps - 1}")
    cell("print(result)", "pipeline-metrics")
    nbformat.write(nb, path)
    return path


def kale_in_process(nb: Path, repeat: int) -> list[float] | None:
    if not KALE_PYTHON.exists():
        return None
    out = subprocess.run(
        [str(KALE_PYTHON), "-c", KALE_IN_PROCESS, str(nb), str(repeat)], capture_output=True, text=True
    )
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("TIMES ")]
    if out.returncode or not lines:
        print(f"  (Kale failed: {out.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(lines[-1][6:])


def main(repeat: int = 9):
    isolated_state()
    from jupyter_kf.pipeline import convert

    work = Path(tempfile.mkdtemp(prefix="kf-bench-pipeline-"))
    five = kale_notebook(work / "five.ipynb", steps=4)  # 4 chained steps + final = 5 steps
    assert len(convert(five).pipeline.steps) == 5

    # -- in process ---------------------------------------------------------------------------
    cold = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time, sys; t = time.perf_counter(); "
            "from jupyter_kf.pipeline import convert; c = convert(sys.argv[1]); c.yaml(); "
            "print(time.perf_counter() - t)",
            str(five),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    rows = []
    kale = kale_in_process(five, repeat)
    if kale:
        rows.append(("Kale 2.3.0: NotebookProcessor+Compiler+kfp compile", kale))
    ours = timed(lambda: convert(five).yaml(), repeat * 3)
    rows.append(("jupyter_kf: kf.pipeline.convert(...).yaml()", ours))
    report("notebook (5 steps) -> IR, in process", rows, budget=0.050)
    print(f"  jupyter_kf first call in a fresh process (imports included): {float(cold.stdout) * 1000:.1f} ms")

    # -- the CLI ------------------------------------------------------------------------------
    rows = []
    if KALE_CLI.exists():
        def kale_cli():
            subprocess.run([str(KALE_CLI), "--nb", str(five)], cwd=work, capture_output=True, check=True)

        rows.append(("Kale 2.3.0: kale --nb five.ipynb", timed(kale_cli, max(3, repeat // 2))))
    jupyter = [str(JUPYTER), "kf"] if JUPYTER.exists() else [sys.executable, "-m", "jupyter_kf.cli"]
    out = work / "five.pipeline.yaml"

    def our_cli():
        subprocess.run(
            [*jupyter, "pipeline", "convert", str(five), "-o", str(out)], capture_output=True, check=True, cwd=work
        )

    rows.append(("jupyter_kf: jupyter kf pipeline convert five.ipynb", timed(our_cli, repeat)))
    report("notebook (5 steps) -> IR, command line (fresh process)", rows, budget=1.0, unit="s")

    # -- growth ---------------------------------------------------------------------------------
    print("\n## growth: cells -> IR, in process (5 cells a step)")
    print(f"  {'cells':>6} {'steps':>6} {'jupyter_kf':>12} {'per cell':>10} {'IR size':>10} {'Kale 2.3.0':>12}")
    for cells in (10, 50, 100, 200, 500):
        nb = kale_notebook(work / f"grow-{cells}.ipynb", steps=max(1, cells // 5 - 1), cells_per_step=5)
        count = sum(1 for _ in json.loads(nb.read_text())["cells"])
        times = timed(lambda: convert(nb).yaml(), 5 if cells <= 100 else 3)
        med = statistics.median(times)
        size = len(convert(nb).yaml())
        kale_med = ""
        if KALE_PYTHON.exists() and cells <= 100:
            kt = kale_in_process(nb, 3)
            kale_med = f"{statistics.median(kt) * 1000:9.0f} ms" if kt else "failed"
        print(f"  {count:>6} {len(convert(nb).pipeline.steps):>6} {med * 1000:9.1f} ms {med / count * 1000:7.2f} ms "
              f"{size / 1024:7.0f} KiB {kale_med:>12}")
    print_big_conversions(work)
    print_local_runs(work)


def print_big_conversions(work: Path) -> None:
    print("\n## growth: big notebooks -> IR, in process (5 cells a step; budget 2,000 cells in 1 s)")
    for cells in (200, 2_000, 20_000):
        nb = kale_notebook(work / f"big-{cells}.ipynb", steps=max(1, cells // 5 - 1), cells_per_step=5)
        from jupyter_kf.pipeline import convert

        times = timed(lambda: convert(nb).yaml(), 3 if cells < 20_000 else 1, warmup=1 if cells < 20_000 else 0)
        med = statistics.median(times)
        verdict = f" (budget 1 s: {'within' if med <= 1 else 'OVER'})" if cells == 2_000 else ""
        print(f"  {cells:>6,} cells: {med * 1000:9.1f} ms, {med / cells * 1e6:6.1f} us a cell{verdict}")


def step_sources(nb: Path) -> list[str]:
    """The code cells of a bench notebook, the imports and parameters first: what its steps run."""
    cells = json.loads(nb.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def run_by_hand(sources: list[str], steps: int, work: Path) -> None:
    """Each step's code in a fresh interpreter, as by hand: the previous step's value read from a pickle file,
    its own written to one (a step's floor: a new process and its value in and out)."""
    head = "import pickle\n" + "\n".join(sources[:2])
    for s, source in enumerate(sources[2:2 + steps]):
        load = f"v{s - 1}_0 = pickle.load(open({str(work / f'v{s - 1}.pkl')!r}, 'rb'))\n" if s else ""
        name = f"v{s}_0" if s < steps - 1 else "result"
        save = f"\npickle.dump({name}, open({str(work / f'v{s}.pkl')!r}, 'wb'))"
        subprocess.run([sys.executable, "-c", head + "\n" + load + source + save], check=True, capture_output=True)


def run_in_this_process(sources: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        exec("\n".join(sources), {})


def print_local_runs(work: Path, repeat: int = 3) -> None:
    from jupyter_kf.pipeline import local

    print("\n## local pipeline runs of chained steps (budget: 150 ms a step beyond its own work)")
    for steps in (5, 20, 80):
        nb = kale_notebook(work / f"run-{steps}.ipynb", steps=steps - 1)
        sources = step_sources(nb)
        in_process = timed(lambda: run_in_this_process(sources), repeat)
        processes = timed(lambda: run_by_hand(sources, steps, work), repeat, warmup=0)
        runs = timed(lambda: local.run(nb, on_line=None), repeat if steps < 80 else 1, warmup=0)
        med, work_alone, floor = (statistics.median(t) for t in (runs, in_process, processes))
        print(f"  {steps:>3} steps: run {med:6.2f} s; by hand in this process {work_alone * 1000:6.1f} ms, "
              f"in {steps} fresh interpreters {floor:5.2f} s; overhead a step {(med - work_alone) / steps * 1000:6.1f} "
              f"ms ({(med - floor) / steps * 1000:6.1f} ms beyond a fresh interpreter's) "
              f"(budget 150 ms: {'within' if (med - work_alone) / steps <= 0.150 else 'OVER'})")


if __name__ == "__main__":
    main()
