"""The entry point's own ``--version`` says what click's ``version_option`` says, without click."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from tradeassist_runner import entry
from tradeassist_runner.cli import main as cli_main


@pytest.mark.parametrize("args", [["--version"], ["schema"], ["--version", "validate"]])
def test_the_entry_point_answers_as_the_click_program_does(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clicked = CliRunner().invoke(cli_main, args, prog_name="tradeassist")
    monkeypatch.setattr(sys, "argv", ["tradeassist", *args])
    with pytest.raises(SystemExit) as done:
        entry.main()
    assert (done.value.code or 0) == clicked.exit_code
    assert capsys.readouterr().out == clicked.output


def test_version_imports_no_click() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['tradeassist', '--version']\n"
        "from tradeassist_runner.entry import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    print('click' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == entry.VERSION_LINE + "\n"
    assert done.stderr.strip() == "False"
