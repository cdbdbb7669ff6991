"""Dataset names, references and mount points: checked once, one line when wrong."""
import pytest

from jupyter_kf.datasets.spec import DataMount, DataRef, parse_mounts
from jupyter_kf.errors import InvalidSpec


def test_references():
    assert DataRef.parse("mnist") == DataRef("mnist")
    assert DataRef.parse("mnist@latest") == DataRef("mnist")
    assert DataRef.parse("mnist@12") == DataRef("mnist", version=12)
    assert DataRef.parse("mnist@sha256:ab12cd") == DataRef("mnist", digest="ab12cd")
    assert DataRef.parse("mnist@ab12cd34") == DataRef("mnist", digest="ab12cd34")
    assert str(DataRef.parse("mnist@3")) == "mnist@3"


@pytest.mark.parametrize("text, expected", [
    ("Mnist", "dataset name 'Mnist' is invalid"),
    ("mnist_1", "dataset name 'mnist_1' is invalid"),
    ("", "dataset name '' is invalid"),
    ("mnist@0", "dataset version 'mnist@0' is invalid"),
    ("mnist@x1", "dataset version 'mnist@x1' is invalid"),
    ("mnist@sha256:ab", "dataset version 'mnist@sha256:ab' is invalid"),
])
def test_bad_references(text, expected):
    with pytest.raises(InvalidSpec, match=expected) as err:
        DataRef.parse(text)
    assert "\n" not in str(err.value)


def test_mounts():
    assert DataMount.parse("mnist@1:data") == DataMount(DataRef("mnist", 1), "data")
    assert DataMount.parse("clean:/mnt/clean/") == DataMount(DataRef("clean"), "/mnt/clean")
    assert DataMount.parse("clean:./a/../b").mount == "b"
    assert not DataMount.parse("clean:/mnt/clean").relative and DataMount.parse("clean:x").relative


@pytest.mark.parametrize("text, expected", [
    ("mnist", "--data 'mnist' is malformed: use NAME[@VERSION]:MOUNT"),
    ("mnist:", "--data 'mnist:' is malformed"),
    ("mnist:..", "is outside the job's working folder"),
    ("mnist:a/../../b", "is outside the job's working folder"),
    ("mnist:.", "is outside the job's working folder"),
    ("mnist:/", "is not allowed"),
    ("mnist:/kf/x", "is not allowed"),
    ("Bad:data", "dataset name 'Bad' is invalid"),
])
def test_bad_mounts(text, expected):
    with pytest.raises(InvalidSpec, match=expected.replace("[", r"\[").replace("]", r"\]")):
        DataMount.parse(text)


def test_overlapping_mounts_are_refused():
    assert len(parse_mounts(["a:data/a", "b:data/b"])) == 2
    with pytest.raises(InvalidSpec, match="overlap at 'data/a'"):
        parse_mounts(["a:data", "b:data/a"])
    with pytest.raises(InvalidSpec, match="overlap"):
        parse_mounts(["a:data", "b:data"])
