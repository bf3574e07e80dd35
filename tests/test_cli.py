import subprocess
import sys

from pseudoclick_gui.cli import main


def test_cli_without_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_cli_version():
    out = subprocess.run([sys.executable, "-m", "pseudoclick_gui.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "pseudoclick" in out.stdout
