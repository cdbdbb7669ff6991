"""``make mutate``: cosmic-ray over the core modules, one module at a time, each against its own tests.

cosmic-ray mutates files in place, so it works on a throwaway copy of the tree (tracked and unignored files,
``../shared`` linked beside it): the working tree and other people's test runs never see a mutant. Modules run
smallest first; each module's report (survivors with their diffs) and session database go to ``artifacts/mutation/``.

    python tests/support/mutate.py [SUBSTRING ...]   # only the modules whose path contains one of them
    python tests/support/mutate.py --sample 200 runner   # a seeded random 200 of the module's mutants (big modules)
    python tests/support/mutate.py --survivors spec      # after new tests: only the last run's survivors run again;
                                                         # the mutants it killed (same place, same operator) count killed
    python tests/support/mutate.py --survivors --tests tests/training/test_runner.py runner
                                        # survivors against only the files that gained tests (they survived the rest)
"""
from __future__ import annotations

import ast
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORTS = ROOT / "artifacts" / "mutation"
TIMEOUT_S = 120.0  # per mutant: a mutant that hangs a test counts as killed once this passes
# Replacing an arithmetic or comparison operator with a bitwise, shift, power, modulo or floor-division one makes
# ~6 extra mutants per operator that crash at once (str | str, list >> int): they only pad the kill rate and the run.
EXCLUDED_OPERATORS = [r"core/ReplaceBinaryOperator_\w+_(BitOr|BitAnd|BitXor|LShift|RShift|FloorDiv|Pow|Mod|MatMult)$"]

# Each module and its own tests. "server": the tests need the root conftest (pytest-jupyter's server fixtures).
MODULES: dict[str, list[str]] = {
    "jupyter_kf/training/capture.py": ["tests/training/test_capture.py", "tests/training/test_capture_flow.py"],
    "jupyter_kf/training/payload.py": ["tests/training/test_payload.py", *(
        f"tests/training/test_api.py::{t}" for t in ("test_unpicklable_input_is_refused_before_anything_starts",
                                                     "test_payload_limit_names_the_biggest_inputs",
                                                     "test_local_helper_module_travels_as_source"))],
    "jupyter_kf/training/results.py": ["tests/training/test_results.py", "tests/training/test_results_functions.py",
                                       "tests/training/test_results_load.py"],
    "jupyter_kf/training/runner.py": ["tests/training/test_runner.py", "tests/training/test_api.py",
                                      "tests/training/test_results.py", "tests/training/test_results_load.py",
                                      "tests/training/test_results_functions.py", "tests/training/test_fast_path.py",
                                      "tests/training/test_result_auth.py", "tests/datasets/test_sigv4.py"],
    "jupyter_kf/training/spec.py": ["tests/training/test_spec.py", "tests/training/test_spec_parsers.py"],
    "jupyter_kf/training/manifests.py": ["tests/training/test_manifests.py", "tests/training/test_trainer_versions.py"],
    "jupyter_kf/training/backends/local_supervisor.py": ["tests/training/test_local_supervisor.py",
                                                         "tests/training/test_api.py"],
    "jupyter_kf/kube/watch.py": ["tests/kube/test_watch.py"],
    "jupyter_kf/serving/local_server.py": ["tests/serving/test_local_server.py", "tests/serving/test_local.py"],
    "jupyter_kf/serving/client.py": ["tests/serving/test_client_protocol.py", "tests/serving/test_client_replies.py",
                                     "tests/serving/test_client.py"],
    "jupyter_kf/pipeline/dataflow.py": ["tests/pipeline/test_dataflow.py"],
    "jupyter_kf/pipeline/ir.py": ["tests/pipeline/test_ir.py"],
    "jupyter_kf/server/handlers.py": ["server", "tests/server/test_server.py", "tests/server/test_server_cluster.py"],
}


def copy_tree(dest: Path) -> Path:
    """The tree as git sees it (plus the built labextension) under ``dest/main``; ``dest/shared`` and side venvs linked."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    main = dest / "main"
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (main / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, main / name)
    if (ROOT / "jupyter_kf" / "labextension").is_dir():
        shutil.copytree(ROOT / "jupyter_kf" / "labextension", main / "jupyter_kf" / "labextension", dirs_exist_ok=True)
    (dest / "shared").symlink_to((ROOT.parent / "shared").resolve())
    for venv in (".venv-kserve", ".venv-kfp"):  # the side venvs some tests run (KServe's server, kfp)
        if (ROOT / venv).is_dir():
            (main / venv).symlink_to(ROOT / venv)
    return main


def test_command(tests: list[str]) -> str:
    plugins = [] if tests[0] == "server" else ["--noconftest", "-p", "tests.support.mutation_plugin"]
    files = [t for t in tests if t != "server"]
    return " ".join([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:randomly",
                     *plugins, *files])


def counts(session: Path) -> dict:
    """Killed, survived, incompetent (the mutant does not even import), from cosmic-ray's session database."""
    with sqlite3.connect(session) as db:
        rows = db.execute("SELECT test_outcome, worker_outcome, output = ?, output = ?, count(*) FROM work_results "
                          "GROUP BY 1, 2, 3, 4", (UNSAMPLED, KILLED_BEFORE)).fetchall()
    out = {"killed": 0, "survived": 0, "incompetent": 0, "skipped": 0, "not_sampled": 0, "other": 0}
    for test_outcome, worker_outcome, unsampled, killed_before, n in rows:
        test_outcome, worker_outcome = str(test_outcome).lower(), str(worker_outcome).lower()
        if unsampled:  # left out of a --sample run
            out["not_sampled"] += n
        elif killed_before:  # a --survivors run
            out["killed"] += n
        elif "skipped" in worker_outcome:  # filtered out (pragma, excluded operators)
            out["skipped"] += n
        else:
            out[next((k for k in ("killed", "survived", "incompetent") if k in test_outcome), "other")] += n
    return out


UNSAMPLED = "not sampled"
KILLED_BEFORE = "killed in the previous run"


def keep_sample(session: Path, size: int, seed: int = 18) -> None:
    """Leave ``size`` of the pending mutants, chosen at random (seeded: reruns test the same ones); skip the rest."""
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session)) as db:
        pending = sorted(item.job_id for item in db.pending_work_items)
        for job_id in set(pending) - set(random.Random(seed).sample(pending, min(size, len(pending)))):
            db.set_result(job_id, WorkResult(output=UNSAMPLED, worker_outcome=WorkerOutcome.SKIPPED))


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where the annotations are, when ``from __future__ import annotations`` keeps them unevaluated (mutating one,
    e.g. ``str | None`` into ``str - None``, changes nothing)."""
    tree = ast.parse(source)
    if not any(isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
               for n in tree.body):
        return []
    notes = [n.returns for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    notes += [n.annotation for n in ast.walk(tree) if isinstance(n, (ast.arg, ast.AnnAssign))]
    return [((n.lineno, n.col_offset), (n.end_lineno, n.end_col_offset)) for n in notes if n is not None]


def skip_annotations(session: Path, source: str) -> None:
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    spans = annotation_spans(source)
    with use_db(str(session)) as db:
        for item in list(db.pending_work_items):
            if all(any(a <= tuple(m.start_pos) < b for a, b in spans) for m in item.mutations):
                db.set_result(item.job_id, WorkResult(output="in an annotation, never evaluated",
                                                      worker_outcome=WorkerOutcome.SKIPPED))


def keep_survivors(session: Path, previous: Path) -> None:
    """Run again only what survived last time: a mutant the previous run killed (same operator, same place) counts
    as killed. Valid while the module is unchanged and tests were only added."""
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    query = ("SELECT m.operator_name, m.occurrence, m.start_pos_row, m.start_pos_col FROM mutation_specs m "
             "JOIN work_results r ON r.job_id = m.job_id WHERE ")
    with sqlite3.connect(previous) as db:
        killed = set(db.execute(query + "r.test_outcome = 'KILLED'").fetchall())
        unsampled = set(db.execute(query + "r.output = ?", (UNSAMPLED,)).fetchall())  # a --sample run stays one
    with use_db(str(session)) as db:
        for item in list(db.pending_work_items):
            keys = [(m.operator_name, m.occurrence, *m.start_pos) for m in item.mutations]
            if all(k in killed for k in keys):
                db.set_result(item.job_id, WorkResult(output=KILLED_BEFORE, worker_outcome=WorkerOutcome.SKIPPED))
            elif all(k in unsampled for k in keys):
                db.set_result(item.job_id, WorkResult(output=UNSAMPLED, worker_outcome=WorkerOutcome.SKIPPED))


def run_module(main: Path, module: str, tests: list[str], env: dict, sample: int | None = None,
               survivors: bool = False) -> dict:
    work = main.parent / "sessions"
    work.mkdir(exist_ok=True)
    stem = module.replace("/", "_").removesuffix(".py")
    config, session = work / f"{stem}.toml", work / f"{stem}.sqlite"
    config.write_text(f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = {TIMEOUT_S}\nexcluded-modules = []\n'
                      f'test-command = "{test_command(tests)}"\n\n[cosmic-ray.distributor]\nname = "local"\n\n'
                      f'[cosmic-ray.filters.operators-filter]\nexclude-operators = {json.dumps(EXCLUDED_OPERATORS)}\n')
    bin_dir = Path(sys.executable).parent
    baseline = subprocess.run(test_command(tests).split(), cwd=main, env=env, capture_output=True, text=True)
    if baseline.returncode:
        print(f"{module}: its tests fail without any mutant; skipped\n{baseline.stdout[-2000:]}", flush=True)
        return {"module": module, "error": "baseline failed"}
    subprocess.run([bin_dir / "cosmic-ray", "init", config, session], cwd=main, env=env, check=True)
    subprocess.run([bin_dir / "cr-filter-pragma", session], cwd=main, env=env, check=True)
    subprocess.run([bin_dir / "cr-filter-operators", session, config], cwd=main, env=env, check=True)
    skip_annotations(session, (main / module).read_text())
    previous = REPORTS / f"{stem}.sqlite"
    rerun = survivors and previous.exists() and previous.stat().st_size > 0
    if rerun:
        keep_survivors(session, previous)
    if sample:
        keep_sample(session, sample)
    subprocess.run([bin_dir / "cosmic-ray", "exec", config, session], cwd=main, env=env, check=True)
    report = subprocess.run([bin_dir / "cr-report", "--show-diff", "--surviving-only", session], cwd=main, env=env,
                            capture_output=True, text=True).stdout
    REPORTS.mkdir(parents=True, exist_ok=True)
    (REPORTS / f"{stem}.txt").write_text(report)
    if not rerun:  # a full (or sampled) run's database is the reference for the next --survivors run
        shutil.copy(session, previous)  # for cr-report / cr-html later
    result = {"module": module, **counts(session)}
    done = result["killed"] + result["survived"]
    result["kill_rate"] = round(100 * result["killed"] / done, 1) if done else None
    print(json.dumps(result), flush=True)
    return result


def write_summary(results: list[dict]) -> None:
    """``summary.json`` keeps every module's latest figures: a run over some modules updates only theirs."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    path = REPORTS / "summary.json"
    summary = {r["module"]: r for r in (json.loads(path.read_text()) if path.exists() else [])}
    summary.update((r["module"], r) for r in results)
    path.write_text(json.dumps(list(summary.values()), indent=1))


def main(argv: list[str]) -> int:
    sample = None
    if "--sample" in argv:
        at = argv.index("--sample")
        sample, argv = int(argv[at + 1]), argv[:at] + argv[at + 2:]
    survivors = "--survivors" in argv
    argv = [a for a in argv if a != "--survivors"]
    tests = None
    if "--tests" in argv:
        at = argv.index("--tests")
        tests, argv = argv[at + 1].split(","), argv[:at] + argv[at + 2:]
    chosen = [m for m in MODULES if not argv or any(a in m for a in argv)]
    chosen.sort(key=lambda m: (ROOT / m).stat().st_size)  # smallest first
    results = []
    with tempfile.TemporaryDirectory(prefix="kf-mutate-") as tmp:
        main_copy = copy_tree(Path(tmp))
        env = dict(os.environ, PYTHONPATH=str(main_copy), JUPYTER_KF_CRDS_DIR=str(Path(tmp) / "shared" / "crds"))
        for module in chosen:
            results.append(run_module(main_copy, module, tests or MODULES[module], env, sample, survivors))
    write_summary(results)
    for r in results:
        print(f"{r['module']:55} " + (r["error"] if "error" in r else
                                      f"{r['killed']:4} killed {r['survived']:4} survived {r['incompetent']:3} "
                                      f"incompetent  {r['kill_rate']}%  {r['not_sampled']} not sampled"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
