import subprocess
import sys

from pseudoclick_gui.cli import main


def test_cli_without_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_cli_version():
    out = subprocess.run([sys.executable, "-m", "pseudoclick_gui.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "pseudoclick" in out.stdout


def test_unexpected_errors_end_in_one_line_not_a_traceback(monkeypatch, capsys):
    import pseudoclick_gui.io.cli_info as cli_info

    def boom(args):
        raise KeyError("surprise")

    monkeypatch.setattr(cli_info, "run", boom)
    monkeypatch.delenv("PSEUDOCLICK_DEBUG", raising=False)
    assert main(["info", "x.png"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (KeyError" in err and "Traceback" not in err

    def oserror(args):
        raise PermissionError(13, "Permission denied", "/some/file")

    monkeypatch.setattr(cli_info, "run", oserror)
    assert main(["info", "x.png"]) == 1
    assert capsys.readouterr().err == "pseudoclick info: error: /some/file: Permission denied\n"


def test_escape_codes_in_messages_are_neutralised(tmp_path, capsys):
    bad = tmp_path / "a\x1b[2Jb.png"
    bad.write_bytes(b"not an image")
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2J" in err


def test_clean_message():
    from pseudoclick_gui.errors import clean_message

    assert clean_message("a\x1b[31mred\x1b[0m\x07b\nc") == "a\\x1b[31mred\\x1b[0m\\x07b\nc"
