"""What every magic shares: a line parsed as a shell would, one line for a bad flag, the where-group."""
import pytest
from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments

from jupyter_kf.magic_args import parse, where


@magic_arguments()
@argument("--env", action="append", default=[])
@where
def kf_sample(line):
    """A magic's parser, as the domains declare theirs."""


def test_quotes_are_removed_as_a_shell_would():
    args = parse(kf_sample, "--env 'A=x y' --env \"B=1 2\" --namespace team-a")
    assert args.env == ["A=x y", "B=1 2"] and args.namespace == "team-a" and args.backend is None


def test_a_bad_flag_or_quote_is_one_line_naming_the_magic():
    with pytest.raises(UsageError, match=r"unrecognized arguments: --bogus \(see %kf_sample\? for the accepted flags\)"):
        parse(kf_sample, "--bogus")
    with pytest.raises(UsageError, match=r"^%kf_sample: No closing quotation in .*: quote values with spaces"):
        parse(kf_sample, "--env 'A=x")
