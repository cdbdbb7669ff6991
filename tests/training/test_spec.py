import dataclasses
from decimal import Decimal

import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.training.spec import (
    OPTIONS,
    TrainSpec,
    check_count,
    check_name,
    parse_duration,
    parse_env,
    parse_quantity,
)


@pytest.mark.parametrize("text,value", [("1Gi", 2**30), ("512Mi", 512 * 2**20), ("500m", Decimal("0.5")), ("2", 2),
                                        ("1.5G", Decimal("1.5e9")), ("1e3", 1000), (".5", Decimal("0.5"))])
def test_quantities_kubernetes_accepts(text, value):
    assert parse_quantity(text, "memory") == value


@pytest.mark.parametrize("text", ["1GB", "1gb", "abc", "-1Gi", "1 Gi", "", "1Gii"])
def test_quantities_kubernetes_rejects(text):
    with pytest.raises(InvalidSpec, match="not a Kubernetes quantity"):
        parse_quantity(text, "memory")


def test_gigabytes_get_a_hint():
    with pytest.raises(InvalidSpec, match="1Gi or 1G, not 1GB"):
        TrainSpec.create(name="a", memory="1GB")


@pytest.mark.parametrize("workers,msg", [("0", "too small"), ("-1", "too small"), ("abc", "not a whole number"), ("1.5", "not a whole number")])
def test_workers_must_be_positive_integers(workers, msg):
    with pytest.raises(InvalidSpec, match=msg) as err:
        TrainSpec.create(name="a", workers=workers)
    assert "--workers" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("name", ["Fit", "fit_1", "1fit", "fit-", "-fit", "a" * 64, "", "fit.1"])
def test_names_must_be_dns_labels(name):
    with pytest.raises(InvalidSpec, match="lowercase letters"):
        check_name(name)


def test_valid_spec_round_trips():
    spec = TrainSpec.create(name="fit-1", workers="2", cpu="1", memory="1Gi", env=["SEED=3", "A=b=c"], timeout="15m")
    assert spec.to_dict()["env"] == {"SEED": "3", "A": "b=c"}
    assert (spec.workers, spec.timeout) == (2, 900.0)


def test_env_and_durations_reject_bad_forms():
    with pytest.raises(InvalidSpec, match="NAME=VALUE"):
        parse_env(["SEED"])
    with pytest.raises(InvalidSpec, match="variable name"):
        parse_env(["1X=2"])
    with pytest.raises(InvalidSpec, match="duration"):
        parse_duration("soon")
    assert parse_duration("2h") == 7200


def test_memory_without_unit_is_caught():
    with pytest.raises(InvalidSpec, match="did you mean 4Mi or 4Gi"):
        TrainSpec.create(name="a", memory="4")
    with pytest.raises(InvalidSpec, match="more than zero"):
        TrainSpec.create(name="a", cpu="0")
    with pytest.raises(InvalidSpec, match="backend 'cloud' is unknown"):
        TrainSpec.create(name="a", backend="cloud")


def test_one_declaration_drives_the_flags_the_keywords_and_rest():
    """Every option is a TrainSpec.create keyword and a %%kf_train flag; nothing is declared twice."""
    import inspect

    from jupyter_kf.training.magics import KfMagics
    from jupyter_kf.training.spec import OPTIONS, check_options

    keywords = set(inspect.signature(TrainSpec.create).parameters) - {"cls"}
    assert {o.name for o in OPTIONS} == keywords
    flags = {a.option_strings[0]: a.dest for a in KfMagics.kf_train.parser._actions if a.option_strings}
    assert all(flags[o.cli] == o.name for o in OPTIONS)
    with pytest.raises(InvalidSpec, match=r"^unknown training option worker: use name, workers, cpu, "):
        check_options({"worker": 2})


def test_kf_train_takes_a_spec_or_keywords(kf_state_dir):
    from jupyter_kf.training import api

    spec = TrainSpec.create(name="from-spec", workers=1)
    assert api.train("x = 1", spec, user_ns={}, dry_run=True).spec == spec
    with pytest.raises(InvalidSpec, match="pass a TrainSpec or options, not both: workers given with the spec"):
        api.train("x = 1", spec, workers=2, user_ns={})


def test_a_spec_given_only_a_name_has_the_documented_defaults():
    spec = TrainSpec.create(name="a")
    assert (spec.workers, spec.gpus, spec.retries, spec.tpu) == (1, 0, 0, None)
    assert TrainSpec(name="a") == spec  # built directly (e.g. from a stored job), the same defaults


def test_counts_given_are_kept():
    spec = TrainSpec.create(name="a", gpus=2, retries=3, workers=4)
    assert (spec.gpus, spec.retries, spec.workers) == (2, 3, 4)
    assert TrainSpec.create(name="a", gpus=None, retries=None).retries == 0


@pytest.mark.parametrize("flag", ["gpus", "retries"])
def test_negative_gpus_and_retries_are_refused(flag):
    with pytest.raises(InvalidSpec, match=f"--{flag} '-1' is too small: use an integer >= 0"):
        TrainSpec.create(name="a", **{flag: "-1"})


def test_a_tpu_job_has_one_worker_per_host_of_its_slice():
    assert TrainSpec.create(name="a", tpu="v5e:4x4").workers == 4
    assert TrainSpec.create(name="a", tpu="v5e:4x4", workers="4", gpus="0").workers == 4
    assert TrainSpec.create(name="a", tpu="v5e:2x2", workers=1).workers == 1


@pytest.mark.parametrize("workers", ["3", "5"])
def test_a_tpu_job_with_another_worker_count_is_refused(workers):
    with pytest.raises(InvalidSpec, match=r"spans 4 host\(s\), one worker each: use --workers 4"):
        TrainSpec.create(name="a", tpu="v5e:4x4", workers=workers)


@pytest.mark.parametrize("gpus", [1, "1", "-1"])
def test_a_tpu_job_with_gpus_is_refused(gpus):
    with pytest.raises(InvalidSpec, match="a worker has TPUs or GPUs, not both"):
        TrainSpec.create(name="a", tpu="v5e:2x2", gpus=gpus)


def test_a_tpu_slice_is_stored_as_its_flag():
    assert TrainSpec.create(name="a", tpu="v5e:4x4").to_dict()["tpu"] == "v5e:4x4"
    assert TrainSpec.create(name="a").to_dict()["tpu"] is None


def test_a_label_keys_prefix_may_be_longer_than_its_name():
    key = "a" * 70 + ".example.com/gpu"
    assert TrainSpec.create(name="a", node_selector=[f"{key}=h200"]).node_selector == {key: "h200"}
    with pytest.raises(InvalidSpec, match="is not a valid label"):
        TrainSpec.create(name="a", node_selector=["example.com/" + "g" * 64 + "=h200"])


@pytest.mark.parametrize("volume", ["zfs:claim:/data", "nfs:claim:/data", "ab:claim:/data"])
def test_only_pvc_volumes_are_accepted(volume):
    with pytest.raises(InvalidSpec, match="is malformed: use pvc:CLAIM:/absolute/path"):
        TrainSpec.create(name="a", volumes=[volume])


def test_a_tpu_job_with_no_workers_says_too_small():
    with pytest.raises(InvalidSpec, match="--workers '0' is too small: use an integer >= 1"):
        TrainSpec.create(name="a", tpu="v5e:2x2", workers="0")


def test_a_count_is_zero_or_more_unless_told():
    assert check_count("0", "--retries") == 0
    with pytest.raises(InvalidSpec, match="use an integer >= 0"):
        check_count("-1", "--retries")


def test_specs_and_options_cannot_change_once_validated():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainSpec.create(name="a").workers = 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        OPTIONS[0].flag = "--other"


def test_every_option_given_is_kept():
    spec = TrainSpec.create(name="a", backend="local", image="python:3.11-slim", kind="pytorchjob",
                            pip=["numpy==2.0"], node_selector=["pool=gpu"], gpus=None)
    assert (spec.backend, spec.image, spec.kind, spec.pip) == ("local", "python:3.11-slim", "pytorchjob", ("numpy==2.0",))
    assert (spec.node_selector, spec.gpus) == ({"pool": "gpu"}, 0)


def test_of_several_names_set_by_env_and_secret_env_the_first_is_named():
    with pytest.raises(InvalidSpec, match="^A_TOKEN is set by both --env and --secret-env: keep one$"):
        TrainSpec.create("e", env={"Z_TOKEN": "x", "A_TOKEN": "y"}, secret_env=["Z_TOKEN=s/k", "A_TOKEN=s/j"])
