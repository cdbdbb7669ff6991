"""RBAC denials a test switches on, answered with the exact 403 a real authorizer produces.

Everything is allowed until a test calls :meth:`Rbac.deny`. Requests and SelfSubjectAccessReviews
are judged by the same rules, so code that checks access first and code that just tries both see
one consistent cluster.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from tests.support.k8s_emulator.errors import forbidden

DEFAULT_USER = "system:serviceaccount:default:default"


@dataclass(frozen=True)
class DenyRule:
    verb: str                  # "list", "create"... or "*"
    resource: str              # "pods", "pods/log", "trainjobs" or "*"
    group: str = ""            # "" for core, "*" for any
    namespace: str | None = None  # None: every namespace and the cluster scope
    name: str | None = None

    def matches(self, verb: str, group: str, resource: str, namespace: str | None, name: str | None) -> bool:
        return ((self.verb in ("*", verb)) and (self.group in ("*", group)) and (self.resource in ("*", resource))
                and (self.namespace is None or self.namespace == (namespace or ""))
                and (self.name is None or self.name == name))


class Rbac:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[DenyRule] = []
        self.user = DEFAULT_USER

    def deny(self, verb: str, resource: str, group: str = "", namespace: str | None = None,
             name: str | None = None) -> DenyRule:
        rule = DenyRule(verb, resource, group, namespace, name)
        with self._lock:
            self._rules.append(rule)
        return rule

    def allow(self, rule: DenyRule | None = None) -> None:
        """Lift one rule, or all of them."""
        with self._lock:
            self._rules = [r for r in self._rules if rule is not None and r != rule]

    def allowed(self, verb: str, group: str, resource: str, subresource: str = "", namespace: str | None = None,
                name: str | None = None) -> bool:
        full = f"{resource}/{subresource}" if subresource else resource
        with self._lock:
            return not any(r.matches(verb, group, full, namespace, name) for r in self._rules)

    def check(self, verb: str, group: str, resource: str, subresource: str, namespace: str | None,
              name: str | None) -> None:
        if self.allowed(verb, group, resource, subresource, namespace, name):
            return
        full = f"{resource}/{subresource}" if subresource else resource
        scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
        why = f'User "{self.user}" cannot {verb} resource "{full}" in API group "{group}" {scope}'
        raise forbidden(resource, group, name, why)

    def user_info(self) -> dict:
        """A SelfSubjectReview's userInfo: a service account's name and groups."""
        groups = ["system:authenticated"]
        if self.user.startswith("system:serviceaccount:"):
            namespace = self.user.split(":")[2]
            groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"] + groups
        return {"username": self.user, "groups": groups}

    def rules(self, resources, namespace: str) -> list[dict]:
        """SelfSubjectRulesReview resourceRules: one wildcard rule, or each resource's verbs not denied."""
        with self._lock:
            if not self._rules:
                return [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
        out = []
        for r in sorted(resources, key=lambda r: (r.group, r.plural)):
            for full in [r.plural] + [f"{r.plural}/{sub}" for sub in r.subresources]:
                verbs = [v for v in r.verbs if self.allowed(v, r.group, full, "", namespace if r.namespaced
                                                            else None)]
                if verbs and {"group": r.group, "plural": full} not in [x["_key"] for x in out]:
                    out.append({"_key": {"group": r.group, "plural": full},
                                "verbs": verbs, "apiGroups": [r.group], "resources": [full]})
        return [{k: v for k, v in rule.items() if k != "_key"} for rule in out]

    def review(self, attributes: dict | None) -> dict:
        """The ``status`` of a SelfSubjectAccessReview for ``spec.resourceAttributes``."""
        if not attributes:
            return {"allowed": True}
        ok = self.allowed(attributes.get("verb", ""), attributes.get("group", ""), attributes.get("resource", ""),
                          attributes.get("subresource", ""), attributes.get("namespace") or None,
                          attributes.get("name") or None)
        return {"allowed": True} if ok else {"allowed": False}
