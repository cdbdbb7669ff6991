"""Cell capture: which names a cell reads (inputs) when only some paths bind them."""
from jupyter_kf.training.capture import analyse


def test_match_without_wildcard_binds_nothing_for_later_reads():
    """No case may match: a name bound in every case is still read from the notebook afterwards."""
    src = "match cmd:\n    case 1:\n        r = 1\n    case [x]:\n        r = x\nprint(r)"
    assert analyse(src).inputs == ["cmd", "print", "r"]


def test_match_with_wildcard_binds_what_every_case_binds():
    src = "match cmd:\n    case 1:\n        r = 1\n    case _:\n        r = 2\nprint(r)"
    assert analyse(src).inputs == ["cmd", "print"]
    partial = "match cmd:\n    case 1:\n        r = 1\n    case _:\n        pass\nprint(r)"
    assert analyse(partial).inputs == ["cmd", "print", "r"]


def test_capture_pattern_is_a_wildcard_too():
    src = "match cmd:\n    case 1:\n        r = 1\n    case other:\n        r = other\nprint(r)"
    assert analyse(src).inputs == ["cmd", "print"]
