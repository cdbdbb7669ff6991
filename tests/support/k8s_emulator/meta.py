"""Object metadata the server owns: timestamps, uids, generated names, name and label syntax.

Kept apart from the schema walker because these rules live in Go validation code (ObjectMeta
validation, DNS-1123/1035 names, label syntax), not in any OpenAPI schema.
"""
from __future__ import annotations

import datetime as _dt
import random
import re
import uuid

from tests.support.k8s_emulator.schema import FieldError

_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                 "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_DNS1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
MSG_QUALIFIED = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                 "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                 "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")

# name rule per resource: (regex, message, max length)
NAME_RULES = {
    "subdomain": (DNS1123_SUBDOMAIN, MSG_SUBDOMAIN, 253),
    "label": (DNS1123_LABEL, MSG_LABEL, 63),
    "dns1035": (DNS1035_LABEL, MSG_DNS1035, 63),
}


def now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def rfc3339(t: _dt.datetime | None = None) -> str:
    """Seconds precision with ``Z``, as metav1.Time marshals."""
    return (t or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_nano(t: _dt.datetime) -> str:
    """Log timestamps (``timestamps=true``) use RFC 3339 with nanoseconds."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}000Z"


def parse_time(value: str) -> _dt.datetime:
    v = value.strip()
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    t = _dt.datetime.fromisoformat(v)
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.timezone.utc)
    return t


def new_uid() -> str:
    return str(uuid.uuid4())


def generate_name(prefix: str) -> str:
    """``generateName`` + 5 random characters (the apiserver's SimpleNameGenerator)."""
    prefix = prefix[: 63 - 5]
    return prefix + "".join(random.choice(_GENERATE_ALPHABET) for _ in range(5))


def validate_name(name: str, rule: str) -> list[FieldError]:
    regex, message, max_len = NAME_RULES[rule]
    errs = []
    if len(name) > max_len:
        errs.append(FieldError("FieldValueInvalid", "metadata.name", name,
                               f"must be no more than {max_len} characters"))
    if not regex.match(name):
        errs.append(FieldError("FieldValueInvalid", "metadata.name", name, message))
    return errs


def _validate_qualified_key(key: str, field: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    errs = []
    if prefix and not DNS1123_SUBDOMAIN.match(prefix):
        errs.append(FieldError("FieldValueInvalid", field, key, "prefix part " + MSG_SUBDOMAIN))
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        errs.append(FieldError("FieldValueInvalid", field, key, MSG_QUALIFIED))
    return errs


def validate_labels_and_annotations(metadata: dict) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in (metadata.get("labels") or {}).items():
        errs += _validate_qualified_key(key, "metadata.labels")
        if isinstance(value, str) and (len(value) > 63 or not LABEL_VALUE.match(value)):
            errs.append(FieldError("FieldValueInvalid", "metadata.labels", value, MSG_LABEL_VALUE))
    for key in (metadata.get("annotations") or {}):
        errs += _validate_qualified_key(key.lower(), "metadata.annotations")
    return errs
