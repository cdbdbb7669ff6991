"""``resource.Quantity`` as the apiserver reads and prints it (k8s.io/apimachinery/pkg/api/resource).

Enough for the validation messages that quote quantities: parse ``500m``, ``2``, ``1.5Gi``, ``1e3``
exactly, compare them, and print them in canonical form (``2000m`` -> ``2``, ``0.5`` -> ``500m``,
``2048Mi`` -> ``2Gi``), as ``Quantity.String()`` does.
"""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v: k for k, v in _BINARY.items()}
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$")


class QuantityError(ValueError):
    pass


def parse(text) -> tuple[Decimal, str]:
    """(value, format): format is ``BinarySI``, ``DecimalSI`` or ``DecimalExponent``."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        text = str(text)
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise QuantityError("quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    number, exponent, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as err:  # pragma: no cover (the regex admits only decimals)
        raise QuantityError(str(err)) from None
    if exponent:
        return value.scaleb(int(exponent[1:])), "DecimalExponent"
    if suffix in _BINARY:
        return value * (Decimal(1024) ** _BINARY[suffix]), "BinarySI"
    return value.scaleb(_DECIMAL[suffix or ""]), "DecimalSI"


def value(text) -> Decimal:
    return parse(text)[0]


def canonical(text) -> str:
    """``Quantity.String()``: binary suffixes for whole byte counts from 1Ki, else a decimal suffix (or
    exponent) whose mantissa is a whole number, rounded up to nano units first."""
    amount, fmt = parse(text)
    amount = amount.quantize(Decimal("1e-9"), rounding="ROUND_CEILING") if amount % Decimal("1e-9") else amount
    if amount == 0:
        return "0"
    if fmt == "BinarySI" and amount == amount.to_integral_value() and abs(amount) >= 1024:
        whole, power = int(amount), 0
        while power < 6 and whole % 1024 == 0:
            whole //= 1024
            power += 1
        return f"{whole}{_BINARY_SUFFIX.get(power, '')}"
    exponent = 18
    while exponent > -9 and amount.scaleb(-exponent) != amount.scaleb(-exponent).to_integral_value():
        exponent -= 3
    mantissa = int(amount.scaleb(-exponent))
    if fmt == "DecimalExponent":
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)
    return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"
