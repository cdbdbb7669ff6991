"""No function in the package runs over 80 lines: long ones are split into named phases."""
import ast
from pathlib import Path

import jupyter_kf

LIMIT = 80


def test_no_function_over_80_lines():
    package = Path(jupyter_kf.__file__).resolve().parent
    long = []
    for path in sorted(package.rglob("*.py")):
        if "labextension" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= LIMIT:
                long.append(f"{path.relative_to(package)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1})")
    assert long == []
