"""Each of the spec's small parsers, value by value: quantities with every suffix, durations, label keys and
values, tolerations, Secret references, volumes, pip requirements and image references (what mutation
testing of jupyter_kf/training/spec.py found untested)."""
from decimal import Decimal

import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.training import spec
from jupyter_kf.training.spec import TrainSpec


@pytest.mark.parametrize("text, value", [
    ("2", 2), ("1.5", Decimal("1.5")), (".5", Decimal("0.5")), ("500m", Decimal("0.5")), ("250u", Decimal("0.00025")),
    ("3n", Decimal("3e-9")), ("1k", 1000), ("2M", 2_000_000), ("3G", 3 * 10**9), ("4T", 4 * 10**12),
    ("5P", 5 * 10**15), ("6E", 6 * 10**18), ("1Ki", 1024), ("2Mi", 2 * 1024**2), ("3Gi", 3 * 1024**3),
    ("4Ti", 4 * 1024**4), ("5Pi", 5 * 1024**5), ("6Ei", 6 * 1024**6), ("1e3", 1000), ("2E-2", Decimal("0.02")),
    (" 7Mi ", 7 * 1024**2),
])
def test_every_quantity_suffix_has_its_kubernetes_value(text, value):
    assert spec.parse_quantity(text, "memory") == value


@pytest.mark.parametrize("text, hint", [("1GB", True), ("2mb", True), ("1Gb", False), ("Gi", False), ("-1", False),
                                         ("1.2.3", False), ("1 Gi", False)])
def test_a_malformed_quantity_is_one_line_with_the_gigabyte_hint_where_it_fits(text, hint):
    with pytest.raises(InvalidSpec) as err:
        spec.parse_quantity(text, "memory")
    assert str(err.value).startswith(f"memory {text!r} is not a Kubernetes quantity")
    assert ("not 1GB" in str(err.value)) is hint


@pytest.mark.parametrize("memory, ok", [("1Mi", True), ("1048576", True), ("1048575", False), ("1023Ki", False),
                                         ("0.5Gi", True)])
def test_memory_below_one_mebibyte_is_refused(memory, ok):
    if ok:
        assert TrainSpec.create("m", memory=memory).memory == memory
    else:
        with pytest.raises(InvalidSpec, match=rf"memory '{memory}' is below 1Mi: did you mean {memory}Mi"):
            TrainSpec.create("m", memory=memory)


@pytest.mark.parametrize("cpu, ok", [("1", True), ("1m", True), ("0", False), ("0m", False), ("0.0", False)])
def test_cpu_must_be_more_than_zero(cpu, ok):
    if ok:
        assert TrainSpec.create("c", cpu=cpu).cpu == cpu
    else:
        with pytest.raises(InvalidSpec, match="must be more than zero"):
            TrainSpec.create("c", cpu=cpu)


@pytest.mark.parametrize("text, seconds", [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("2h", 7200.0),
                                           ("1.5h", 5400.0), (" 3 m ", 180.0), (None, None), ("", None), (0, None)])
def test_durations(text, seconds):
    assert spec.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["1d", "m", "-5", "5 minutes"])
def test_a_malformed_duration_is_one_line(text):
    with pytest.raises(InvalidSpec, match=rf"^timeout {text!r} is not a duration"):
        spec.parse_duration(text)


@pytest.mark.parametrize("value, minimum, ok", [("3", 1, 3), (" 2 ", 0, 2), ("0", 1, None), ("-1", 0, None),
                                                 ("1.5", 0, None), (None, 0, None)])
def test_counts(value, minimum, ok):
    if ok is not None:
        assert spec.check_count(value, "--workers", minimum) == ok
    else:
        with pytest.raises(InvalidSpec, match=r"^--workers .* (is not a whole number|is too small): use an integer >= "
                           + str(minimum)):
            spec.check_count(value, "--workers", minimum)


@pytest.mark.parametrize("items, expected", [
    (["gpu=a100"], {"gpu": "a100"}),
    (["nvidia.com/gpu.product=NVIDIA-H200"], {"nvidia.com/gpu.product": "NVIDIA-H200"}),
    (["empty="], {"empty": ""}),
    ({"k": "v"}, {"k": "v"}),
    ([f"{'k' * 63}=v"], {"k" * 63: "v"}),
    ([f"k={'v' * 63}"], {"k": "v" * 63}),
])
def test_node_selectors(items, expected):
    assert spec.parse_node_selector(items) == expected


@pytest.mark.parametrize("item", [f"{'k' * 64}=v", f"k={'v' * 64}", "-k=v", "k=-v", "k", "=v", "a b=c", "k=v w"])
def test_a_node_selector_that_is_no_label_is_refused(item):
    with pytest.raises(InvalidSpec, match=r"^--node-selector .* (is not a valid label|is malformed)"):
        spec.parse_node_selector([item])


@pytest.mark.parametrize("text, toleration", [
    ("nvidia.com/gpu:NoSchedule", {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}),
    ("dedicated=ml:NoExecute", {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute"}),
    ("dedicated=ml", {"key": "dedicated", "operator": "Equal", "value": "ml"}),
    ("spot", {"key": "spot", "operator": "Exists"}),
    ("k=v:PreferNoSchedule", {"key": "k", "operator": "Equal", "value": "v", "effect": "PreferNoSchedule"}),
])
def test_tolerations(text, toleration):
    assert spec.parse_toleration(text) == toleration


@pytest.mark.parametrize("text", [":NoSchedule", "k:Sometimes", "k=v w", "=v", "-k"])
def test_a_malformed_toleration_is_one_line(text):
    with pytest.raises(InvalidSpec, match=r"^--toleration .* is malformed: use KEY\[=VALUE\]\[:EFFECT\]"):
        spec.parse_toleration(text)


def test_secret_references():
    assert spec.parse_secret_env(["HF_TOKEN=hf-secret/token", "K=s/a.b_c-d"]) == {
        "HF_TOKEN": ("hf-secret", "token"), "K": ("s", "a.b_c-d")}


@pytest.mark.parametrize("item", ["1X=s/k", "X=s", "X=s/", "X=s/k k", "X", "X=Bad_Secret/k"])
def test_a_malformed_secret_reference_is_one_line(item):
    with pytest.raises(InvalidSpec, match=r"(--secret-env .* is malformed|secret name .* is invalid)"):
        spec.parse_secret_env([item])


@pytest.mark.parametrize("text, parsed", [("pvc:datasets:/data", ("datasets", "/data")),
                                          ("pvc:c:/mnt/a/", ("c", "/mnt/a/"))])
def test_volumes(text, parsed):
    assert spec.parse_volume(text) == parsed


@pytest.mark.parametrize("text", ["pvc:datasets:data", "nfs:x:/data", "pvc::/data", "pvc:c:/", "pvc:c:/kf",
                                  "pvc:c:/kf/", "pvc:c"])
def test_a_malformed_volume_is_one_line(text):
    with pytest.raises(InvalidSpec, match=r"^--volume .* is malformed: use pvc:CLAIM:/absolute/path"):
        spec.parse_volume(text)


@pytest.mark.parametrize("requirement, ok", [("transformers==4.57.0", True), ("torch>=2; python_version>'3.9'", True),
                                             ("pkg[extra]", True), ("-r req.txt", False), ("--index-url x", False),
                                             ("pkg && rm -rf /", False), ("$(id)", False)])
def test_pip_requirements(requirement, ok):
    if ok:
        assert spec.check_pip(requirement) == requirement
    else:
        with pytest.raises(InvalidSpec, match="is not a package requirement"):
            spec.check_pip(requirement)


@pytest.mark.parametrize("image, ok", [
    ("python:3.11-slim", True), ("quay.io/jupyter/scipy-notebook:2025-03-14", True),
    ("localhost:5000/org/img", True), (f"img@sha256:{'a' * 64}", True), ("Upper/Case", False),
    ("img:", False), ("img with space", False), ("a" * 256, False),
])
def test_image_references(image, ok):
    if ok:
        assert spec.check_image(image) == image
    else:
        with pytest.raises(InvalidSpec, match=r"^--image .* is not an image reference"):
            spec.check_image(image)


def test_env_and_secret_env_may_not_set_one_name():
    with pytest.raises(InvalidSpec, match="^TOKEN is set by both --env and --secret-env: keep one$"):
        TrainSpec.create("e", env={"TOKEN": "x"}, secret_env=["TOKEN=s/k"])


@pytest.mark.parametrize("vendor, ok", [("nvidia.com/gpu", True), ("amd.com/gpu", True), ("gpu", False),
                                        ("Nvidia.com/gpu", False)])
def test_gpu_vendor_is_a_resource_name(vendor, ok):
    if ok:
        assert TrainSpec.create("g", gpu_vendor=vendor).gpu_vendor == vendor
    else:
        with pytest.raises(InvalidSpec, match="is not a resource name"):
            TrainSpec.create("g", gpu_vendor=vendor)


REPEATED = {"env": ("--env", "A=1", "B=2"), "pip": ("--pip", "a", "b"), "node_selector": ("--node-selector", "a=1", "b=2"),
            "tolerations": ("--toleration", "a", "b"), "secret_env": ("--secret-env", "A=s/k", "B=s/k"),
            "volumes": ("--volume", "pvc:a:/a", "pvc:b:/b"), "data": ("--data", "a:x", "b:y")}


def test_every_repeatable_flag_of_the_magic_collects_each_value():
    from jupyter_kf.magic_args import parse
    from jupyter_kf.training.magics import KfMagics

    assert {o.name for o in spec.OPTIONS if o.repeat} == set(REPEATED)
    for name, (flag, first, second) in REPEATED.items():
        args = parse(KfMagics.kf_train, f"{flag} {first} {flag} {second}")
        assert getattr(args, name) == [first, second], name


@pytest.mark.parametrize("image", ["python:3.11 slim", "-python", "\tx"])
def test_an_image_with_a_space_or_a_leading_dash_is_refused(image):
    with pytest.raises(InvalidSpec, match="is not an image reference"):
        TrainSpec.create("i", image=image)


def test_lengths_at_their_limits_are_accepted():
    assert spec.check_name("a" * 63) == "a" * 63
    assert spec.check_image("a" * 255) == "a" * 255
    key = "example.com/" + "k" * 63  # the name part counts, not the prefix
    assert spec.parse_node_selector([f"{key}=v"]) == {key: "v"}


def test_tolerations_and_volumes_already_parsed_pass_through():
    made = TrainSpec.create("t", tolerations=[{"key": "k", "operator": "Exists"}, "spot"], volumes=[("c", "/d"), "pvc:e:/f"])
    assert made.tolerations == ({"key": "k", "operator": "Exists"}, {"key": "spot", "operator": "Exists"})
    assert made.volumes == (("c", "/d"), ("e", "/f"))


def test_unknown_options_are_named_with_the_right_plural():
    with pytest.raises(InvalidSpec, match=r"^unknown training option worker: use name, workers"):
        spec.check_options({"worker": 2})
    with pytest.raises(InvalidSpec, match=r"^unknown training options gpu, worker: use name"):
        spec.check_options({"worker": 2, "gpu": 1})
