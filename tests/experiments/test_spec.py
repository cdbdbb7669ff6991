"""Parameter forms, casts and the rules a search is checked against before anything starts."""
import pytest

from jupyter_kf.errors import InvalidSpec
from jupyter_kf.experiments.spec import ExperimentSpec, Param, parse_param


def test_forms():
    assert parse_param("lr=loguniform(1e-4,1e-1)") == Param("lr", "double", 1e-4, 1e-1, None, log=True)
    assert parse_param("layers=int(1,4)") == Param("layers", "int", 1, 4)
    assert parse_param("n=int(2,10,2)").grid() == [2, 4, 6, 8, 10]
    assert parse_param("x=uniform(0,1,0.25)").grid() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert parse_param("opt=choice(adam,sgd)") == Param("opt", "categorical", values=("adam", "sgd"))
    assert parse_param("bs=discrete(16, 32, 64)").values == ("16", "32", "64")


def test_values_travel_as_text_and_are_cast_back():
    assert parse_param("lr=uniform(0,1)").cast("0.5") == 0.5
    assert parse_param("n=int(1,4)").cast("3") == 3 and isinstance(parse_param("n=int(1,4)").cast("3"), int)
    assert parse_param("bs=discrete(16,32)").cast("32") == 32
    assert parse_param("p=discrete(0.5,1)").cast("1") == 1.0
    assert parse_param("o=choice(adam,sgd)").cast("sgd") == "sgd"


def test_katib_feasible_space_is_strings():
    assert parse_param("lr=loguniform(0.001,0.1)").feasible_space() == {
        "min": "0.001", "max": "0.1", "distribution": "logUniform"}
    assert parse_param("n=int(1,4,1)").feasible_space() == {"min": "1", "max": "4", "step": "1",
                                                            "distribution": "uniform"}


BAD_PARAMS = {
    "lr=loguniform(0.1)": "loguniform() takes a low and a high bound",
    "lr=uniform(1,0.5)": "min < max",
    "lr=uniform(1,1)": "min < max",
    "lr=gauss(0,1)": "unknown form 'gauss'",
    "lr": "is malformed",
    "lr=loguniform(0,1)": "positive low bound",
    "n=int(1.5,4)": "'1.5' is not a whole number",
    "x=uniform(a,1)": "'a' is not a number",
    "o=choice()": "needs one or more",
    "b=discrete(1,x)": "'x' is not a number",
    "n=int(1,4,0)": "step must be positive",
}


@pytest.mark.parametrize("text", sorted(BAD_PARAMS))
def test_bad_param_is_one_line(text):
    with pytest.raises(InvalidSpec) as err:
        parse_param(text)
    assert BAD_PARAMS[text] in str(err.value) and "\n" not in str(err.value)


def spec(**kw):
    args = dict(name="lr-search", params=["lr=loguniform(1e-4,1e-1)", "layers=int(1,4)"], objective="loss")
    return ExperimentSpec.create(**{**args, **kw})


BAD_SPECS = [
    (dict(algorithm="annealing"), "--algorithm 'annealing' is unknown"),
    (dict(trials=4, parallel=5), "--parallel 5 is more than --trials 4"),
    (dict(name="x" * 41), "at most 40"),
    (dict(name="Bad_Name"), "experiment name 'Bad_Name' is invalid"),
    (dict(algorithm="grid"), "lr is continuous"),
    (dict(goal="max"), "--goal 'max' is invalid: use minimize or maximize"),
    (dict(params=["x=int(1,2)"], algorithm="grid", trials=3, parallel=1), "more than the 2 points"),
    (dict(params=["x=int(1,2)"], algorithm="cmaes"), "at least two"),
    (dict(params=["x=uniform(-1,1)"], algorithm="bayesianoptimization"), "positive low bound"),
    (dict(params=["x=int(1,2)", "x=int(1,3)"]), "given twice"),
    (dict(params=[]), "at least one parameter"),
    (dict(objective="val loss"), "--objective 'val loss' is invalid"),
    (dict(trials=0), "--trials 0 is too small"),
    (dict(target="low"), "--target 'low' is not a number"),
    (dict(early_stopping="hyperband"), "--early-stopping 'hyperband' is unknown"),
    (dict(max_failed=20, trials=10), "--max-failed 20 is more than --trials 10"),
]


@pytest.mark.parametrize("kw,message", BAD_SPECS, ids=[m for _, m in BAD_SPECS])
def test_bad_spec_is_one_line(kw, message):
    with pytest.raises(InvalidSpec) as err:
        spec(**kw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_grid_on_bounded_space_and_round_trip():
    s = spec(params=["n=int(1,4)", "o=choice(a,b)", "x=uniform(0,1,0.5)"], algorithm="grid", trials=24, parallel=2)
    assert ExperimentSpec.from_dict(s.to_dict()) == s
