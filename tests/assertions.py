"""Assertions shared by the command-line tests."""


def assert_one_line_error(proc, *needles):
    """A tool run that failed the project's way: exit 2, no traceback, one 'error:' line holding every needle."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
