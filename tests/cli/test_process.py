"""The settings the ``jaxbridge`` program makes for its own process (``jaxbridge.cli._process``):
made by ``console()`` once the start-up imports are done, never by ``main()`` run in-process."""

import subprocess
import sys
import textwrap


def test_console_settles_its_process_and_main_leaves_it_alone(cli_env, tmp_path):
    # a fit that stops right after the start-up: the data file cannot be read
    (tmp_path / "bad.csv").write_text("not,a,data,file\n")
    code = textwrap.dedent(
        """
        import gc, sys
        import pytensor
        from jaxbridge.cli import console, main

        before = pytensor.config.traceback__limit
        assert before != 0, before
        assert main(["fit", "bad.csv", "--states", "2", "--quiet"]) == 2
        print("main", pytensor.config.traceback__limit == before, gc.get_freeze_count() == 0)
        sys.argv = ["jaxbridge", "fit", "bad.csv", "--states", "2", "--quiet"]
        assert console() == 2
        print("console", pytensor.config.traceback__limit, gc.get_freeze_count() > 0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=cli_env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split("\n")[:2] == ["main True True", "console 0 True"]
    assert "bad.csv" in result.stderr  # the one-line error, both times
