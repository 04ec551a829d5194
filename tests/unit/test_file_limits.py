"""The node raises its open-file limit to what the system allows."""

import resource
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(30)

_CHILD = """
import resource
from roomserver.ops.file_limits import raise_open_file_limit
in_force = raise_open_file_limit()
print(in_force, *resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def test_a_low_soft_limit_is_raised_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")

    def lowered() -> None:  # in the child only: a soft limit like a distribution's default
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    output = subprocess.run(
        [sys.executable, "-c", _CHILD],
        preexec_fn=lowered,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    in_force, soft_now, hard_now = (int(value) for value in output)
    assert hard_now == hard
    expected = 256 if hard == resource.RLIM_INFINITY else hard
    assert (in_force, soft_now) == (expected, expected)
