"""What every domain's magics share: argument parsing, the --backend/--namespace group, Detached, errors shown.

A magic is argument parsing plus one API call plus a view; this module is the parsing part, so that a
flag means the same in every magic and a domain's magics never import another domain's.
"""
from __future__ import annotations

import shlex

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument

from jupyter_kf.errors import KfError

BACKEND_HELP = "local or kubernetes (default: c.KfConfig.backend, else kubernetes when a cluster is configured)"
NAMESPACE_HELP = "Kubernetes namespace (default: the kubeconfig context's, else c.KfConfig.namespace)"


class Detached(KfError):
    """The user interrupted the kernel while watching: the work (job, server, model) goes on."""


def parse(func, line: str):
    """Parse a magic's line as a shell would (quotes removed, ``'A=x y'`` one word); a bad flag is one line."""
    name = func.__name__
    try:
        words = shlex.split(line)
    except ValueError as err:
        raise UsageError(f"%{name}: {err} in {line!r}: quote values with spaces, e.g. --env 'A=x y'") from None
    try:
        return func.parser.parse_args(words)
    except UsageError as err:
        raise UsageError(f"{err} (see %{name}? for the accepted flags)") from None


def where(func):
    """Add ``--backend`` and ``--namespace``: where the work runs, the same two flags on every magic."""
    func = argument("--namespace", help=NAMESPACE_HELP)(func)
    return argument("--backend", help=BACKEND_HELP)(func)


def show_kf_error(shell, etype, value, tb, tb_offset=None):
    """A KfError is one line for the user, never a traceback."""
    stb = [f"\x1b[0;31m{etype.__name__}\x1b[0m: {value}"]
    shell._showtraceback(etype, value, stb)
    return stb
