"""A small evaluator for the CEL subset CRD authors use in ``x-kubernetes-validations``.

Real apiservers enforce these rules (TrainJob names must be RFC 1035 labels, many fields are
immutable via ``self == oldSelf``...). This covers literals, field selection, ``has()``,
``size()``, comparisons, ``in``, ``&&``/``||``/``!``, ``?:``, arithmetic, string functions
(``matches``, ``startsWith``, ``endsWith``, ``contains``) and the ``all``/``exists``/``exists_one``/
``filter``/``map`` macros. A rule using anything else, or failing to evaluate, is skipped rather
than guessed: the emulator must never reject what a real server accepts.
"""
from __future__ import annotations

import re
from typing import Any

from tests.support.k8s_emulator.schema import FieldError, MapKey, format_path, json_type

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>\d+\.\d+|\d+)u?
    | (?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]{}])
    )""", re.VERBOSE)


_CONSTANTS = {"true": True, "false": False, "null": None}


class Unsupported(Exception):
    """The rule uses something outside the subset, or cannot be evaluated on this value."""


class _Missing:
    pass


def _tokenize(text: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise Unsupported(text[pos:])
        pos = m.end()
        if m["num"] is not None:
            out.append(("lit", float(m["num"]) if "." in m["num"] else int(m["num"])))
        elif m["str"] is not None:
            out.append(("lit", _unquote(m["str"])))
        elif m["id"] is not None:
            word = m["id"]
            if word in _CONSTANTS:
                out.append(("lit", _CONSTANTS[word]))
            else:
                out.append(("op", word) if word == "in" else ("id", word))
        else:
            out.append(("op", m["op"]))
    return out


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"'}.get(m[1], "\\" + m[1]),
                  body)


class _Parser:
    """Recursive descent to a tuple AST: ("lit", v) ("id", name) ("sel", e, f) ("call", target, f, args)..."""

    def __init__(self, text: str):
        self.toks = _tokenize(text)
        self.i = 0

    def parse(self):
        e = self.cond()
        if self.i != len(self.toks):
            raise Unsupported("trailing tokens")
        return e

    def peek(self, value=None):
        if self.i < len(self.toks) and (value is None or self.toks[self.i] == ("op", value)):
            return self.toks[self.i]
        return None

    def take(self, value):
        if not self.peek(value):
            raise Unsupported(f"expected {value}")
        self.i += 1

    def cond(self):
        e = self.binary(0)
        if self.peek("?"):
            self.take("?")
            a = self.cond()
            self.take(":")
            return ("?", e, a, self.cond())
        return e

    _LEVELS = (("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%"))

    def binary(self, level):
        if level == len(self._LEVELS):
            return self.unary()
        e = self.binary(level + 1)
        while (t := self.peek()) and t[0] == "op" and t[1] in self._LEVELS[level]:
            self.i += 1
            e = (t[1], e, self.binary(level + 1))
        return e

    def unary(self):
        if self.peek("!"):
            self.take("!")
            return ("!", self.unary())
        if self.peek("-"):
            self.take("-")
            return ("neg", self.unary())
        return self.member()

    def member(self):
        e = self.primary()
        while True:
            if self.peek("."):
                self.take(".")
                kind, name = self.toks[self.i]
                if kind != "id":
                    raise Unsupported("field name")
                self.i += 1
                if self.peek("("):
                    e = ("call", e, name, self.args(")"))
                else:
                    e = ("sel", e, name)
            elif self.peek("["):
                self.take("[")
                idx = self.cond()
                self.take("]")
                e = ("idx", e, idx)
            else:
                return e

    def args(self, close):
        self.take("(" if close == ")" else "[")
        out = []
        while not self.peek(close):
            out.append(self.cond())
            if not self.peek(close):
                self.take(",")
        self.take(close)
        return out

    def primary(self):
        if self.i >= len(self.toks):
            raise Unsupported("unexpected end")
        kind, value = self.toks[self.i]
        if kind == "lit":
            self.i += 1
            return ("lit", value)
        if kind == "id":
            self.i += 1
            if self.peek("("):
                return ("call", None, value, self.args(")"))
            return ("id", value)
        if value == "(":
            self.take("(")
            e = self.cond()
            self.take(")")
            return e
        if value == "[":
            return ("list", self.args("]"))
        raise Unsupported(f"token {value}")


_MACROS = ("all", "exists", "exists_one", "filter", "map")


def _eval(node, env: dict) -> Any:
    op = node[0]
    if op == "lit":
        return node[1]
    if op == "id":
        if node[1] not in env:
            raise Unsupported(f"unknown identifier {node[1]}")
        return env[node[1]]
    if op == "list":
        return [_eval(e, env) for e in node[1]]
    if op == "sel":
        target = _eval(node[1], env)
        if not isinstance(target, dict) or node[2] not in target:
            raise Unsupported(f"no such key: {node[2]}")
        return target[node[2]]
    if op == "idx":
        target, idx = _eval(node[1], env), _eval(node[2], env)
        try:
            return target[idx]
        except (KeyError, IndexError, TypeError):
            raise Unsupported("index")
    if op == "?":
        return _eval(node[2] if _truth(_eval(node[1], env)) else node[3], env)
    if op == "!":
        return not _truth(_eval(node[1], env))
    if op == "neg":
        return -_eval(node[1], env)
    if op == "&&":
        return _truth(_eval(node[1], env)) and _truth(_eval(node[2], env))
    if op == "||":
        return _truth(_eval(node[1], env)) or _truth(_eval(node[2], env))
    if op == "call":
        return _call(node, env)
    a, b = _eval(node[1], env), _eval(node[2], env)
    try:
        return {"==": lambda: a == b, "!=": lambda: a != b, "<": lambda: a < b, "<=": lambda: a <= b,
                ">": lambda: a > b, ">=": lambda: a >= b, "in": lambda: a in b, "+": lambda: a + b,
                "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a // b if isinstance(a, int) else a / b,
                "%": lambda: a % b}[op]()
    except TypeError:
        raise Unsupported(f"operands of {op}")


def _truth(v: Any) -> bool:
    if not isinstance(v, bool):
        raise Unsupported("non-boolean condition")
    return v


def _call(node, env: dict) -> Any:
    _, target, name, args = node
    if target is None:
        if name == "has" and len(args) == 1 and args[0][0] == "sel":
            obj = _eval(args[0][1], env)
            return isinstance(obj, dict) and args[0][2] in obj
        values = [_eval(a, env) for a in args]
        if name == "size" and len(values) == 1:
            return len(values[0])
        if name in ("int", "string", "double") and len(values) == 1:
            return {"int": int, "string": str, "double": float}[name](values[0])
        raise Unsupported(f"function {name}")
    obj = _eval(target, env)
    if name in _MACROS and len(args) == 2 and args[0][0] == "id":
        var = args[0][1]
        items = list(obj.keys()) if isinstance(obj, dict) else obj
        results = [_eval(args[1], {**env, var: item}) for item in items]
        if name == "all":
            return all(_truth(r) for r in results)
        if name == "exists":
            return any(_truth(r) for r in results)
        if name == "exists_one":
            return sum(1 for r in results if _truth(r)) == 1
        if name == "filter":
            return [item for item, r in zip(items, results) if _truth(r)]
        return results
    values = [_eval(a, env) for a in args]
    if name == "size" and not values:
        return len(obj)
    if isinstance(obj, str) and len(values) == 1 and isinstance(values[0], str):
        if name == "matches":
            return re.search(values[0], obj) is not None
        if name in ("startsWith", "endsWith", "contains"):
            return {"startsWith": obj.startswith, "endsWith": obj.endswith,
                    "contains": obj.__contains__}[name](values[0])
    raise Unsupported(f"method {name}")


def _lookup_old(old: Any, corr: tuple) -> Any:
    cur = old
    for step in corr:
        if isinstance(step, MapKey):
            match = [x for x in cur if isinstance(x, dict) and all(x.get(k) == v for k, v in step.keys.items())] \
                if isinstance(cur, list) else []
            if not match:
                return _Missing
            cur = match[0]
        elif isinstance(cur, dict) and step in cur:
            cur = cur[step]
        else:
            return _Missing
    return cur


_COMPILED: dict[str, Any] = {}


def _compile(rule: str):
    if rule not in _COMPILED:
        try:
            _COMPILED[rule] = _Parser(rule).parse()
        except Unsupported:
            _COMPILED[rule] = None
    return _COMPILED[rule]


def check_rules(sites: list, old: dict | None) -> list[FieldError]:
    """Evaluate collected rule sites; transition rules (``oldSelf``) only run when an old value exists."""
    errors = []
    for site in sites:
        for rule in site.rules:
            ast = _compile(rule.get("rule", ""))
            if ast is None:
                continue
            env = {"self": site.value}
            if "oldSelf" in rule["rule"]:
                if old is None or site.corr is None:
                    continue
                previous = _lookup_old(old, site.corr)
                if previous is _Missing:
                    continue
                env["oldSelf"] = previous
            try:
                ok = _truth(_eval(ast, env))
            except (Unsupported, re.error, ValueError, ZeroDivisionError):
                continue
            if ok:
                continue
            field = format_path(site.path)
            if rule.get("fieldPath"):
                field = field + rule["fieldPath"] if site.path else rule["fieldPath"].lstrip(".")
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            reason = rule.get("reason") or "FieldValueInvalid"
            if reason == "FieldValueInvalid":
                errors.append(FieldError(reason, field, json_type(site.value), message))
            else:
                errors.append(FieldError(reason, field, detail=message))
    return errors
