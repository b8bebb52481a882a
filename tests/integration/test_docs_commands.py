"""Every ``apigee-psc`` command the docs and the README show is checked against the real command
tree, and the read-only ones are run against the emulator, so the docs cannot drift from the CLI.

A command in a fenced shell block is parsed exactly as the command would parse it (unknown
options, missing arguments and bad values fail); a command quoted inline in the text is checked
for its subcommand and option names. Placeholders (``SPEC.yaml``, ``ORG``...) are replaced by the
seed's files and names before parsing and running.
"""

from __future__ import annotations

import glob
import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from apigee_psc.cli import cli
from apigee_psc.emulator import EmulatorServer
from apigee_psc.emulator import _parser as emulator_parser
from apigee_psc.emulator.control import seed_producer_for
from apigee_psc.emulator.producer import load_specs
from apigee_psc.southbound import Southbound, SouthboundSpec

ROOT = Path(__file__).resolve().parents[2]
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
SHELLS = {"", "bash", "sh", "shell", "console", "zsh"}
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
REDIRECTIONS = {">", ">>", "<", "2>", "&>"}
# What a placeholder in the docs stands for when the command is parsed and run.
PLACEHOLDERS = {
    "SPEC.yaml": "examples/seed-scenario.yaml",
    "SPEC": "examples/seed-scenario.yaml",
    "my-connection.yaml": "examples/seed-scenario.yaml",
    "ORG": "my-organization",
    "NAME": "gkebackend",
    "EA_NAME": "gkebackend",
    "FILE": "examples/seed-scenario.yaml",
}
READ_ONLY = {"plan", "status", "diagnose", "list", "target-xml", "schema"}


@dataclass(frozen=True)
class Shown:
    """One command shown in a page: where, its words after ``apigee-psc``, and whether it is inline."""

    page: str
    line: int
    argv: tuple[str, ...]
    inline: bool
    env: tuple[tuple[str, str], ...] = ()  # what ``export`` lines before it in its block set
    stdin: str | None = None  # the file given with ``<``

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: apigee-psc {' '.join(self.argv)}"


def _commands(text: str) -> list[tuple[list[str], str | None]]:
    """The ``apigee-psc`` command lines in one line of shell (after ``$``, ``&&``, ``|``...)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return []
    found: list[tuple[list[str], str | None]] = []
    current: list[str] = []
    redirect: str | None = None
    stdin: str | None = None
    for word in [*words, ";"]:
        if redirect is not None:
            stdin = word if redirect == "<" else stdin
            redirect = None
            continue
        if word in REDIRECTIONS:
            redirect = word  # the file redirected to or from is not an argument
            continue
        if word in SEPARATORS:
            completion = False
            while current and re.fullmatch(r"[A-Z_]+=\S*", current[0]):
                completion |= current.pop(0).startswith("_APIGEE_PSC_COMPLETE=")  # tested on its own
            if current and Path(current[0]).name == "apigee-psc" and not completion:
                found.append((current[1:], stdin))
            current, stdin = [], None
        else:
            current.append(word)
    return found


def shown_commands() -> list[Shown]:
    shown: list[Shown] = []
    for page in PAGES:
        name = page.relative_to(ROOT).as_posix()
        fence: str | None = None
        env: dict[str, str] = {}
        for number, raw in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if line.startswith("```"):
                fence = line[3:].strip().lower() if fence is None else None
                env = {}
                continue
            if fence is not None:
                if fence not in SHELLS:
                    continue
                if fence == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                exported = re.match(r"export ([A-Z_]+)=(\S+)", line)
                if exported:
                    env[exported.group(1)] = exported.group(2)
                found = _commands(line)
                shown += [Shown(name, number, tuple(a), False, tuple(env.items()), stdin) for a, stdin in found]
            else:
                for span in re.findall(r"`(apigee-psc [^`]+)`", raw):
                    shown.append(Shown(name, number, tuple(span.split()[1:]), True))
    return shown


SHOWN = shown_commands()


def _resolve(argv: tuple[str, ...]) -> list[str]:
    """Replace placeholders and expand globs the way a shell in the repository root would."""
    words: list[str] = []
    for word in argv:
        word = PLACEHOLDERS.get(word, word)
        if any(c in word for c in "*?["):
            matches = sorted(glob.glob(word, root_dir=ROOT))
            assert matches, f"{word} matches no file of the repository"
            words += matches
        else:
            words.append(word)
    return words


def _parse(words: list[str]) -> tuple[str, click.Context | None]:
    """Parse ``apigee-psc WORDS`` as the command would; returns the subcommand's name and context."""
    with cli.make_context("apigee-psc", list(words)) as ctx:
        # click keeps the subcommand's name apart from its arguments until it invokes it
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        assert rest, "no subcommand"
        name, *args = rest
        command = cli.get_command(ctx, name)
        assert command is not None, f"no such command: {name}"
        if name == "emulator":
            emulator_parser().parse_args(args)  # the emulator takes its own argparse options
            return name, None
        return name, command.make_context(name, args, parent=ctx)


def test_the_docs_show_commands() -> None:
    pages = {s.page for s in SHOWN if not s.inline}
    assert {"README.md", "docs/quickstart.md", "docs/emulator.md"} <= pages
    assert len(SHOWN) > 20


@pytest.mark.parametrize("shown", [s for s in SHOWN if not s.inline], ids=str)
def test_a_shown_command_parses(shown: Shown, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("APIGEE_PSC_ORGANIZATION", raising=False)
    for key, value in shown.env:
        monkeypatch.setenv(key, value)
    try:
        _parse(_resolve(shown.argv))
    except click.ClickException as exc:
        pytest.fail(f"{shown}: {exc.format_message()}")
    except SystemExit as exc:  # argparse (the emulator's options)
        pytest.fail(f"{shown}: refused by the emulator's options (exit {exc.code})")


@pytest.mark.parametrize("shown", [s for s in SHOWN if s.inline], ids=str)
def test_an_inline_command_names_real_commands_and_options(shown: Shown) -> None:
    group_options = {o for p in cli.params for o in p.opts + p.secondary_opts}
    takes_value = {o for p in cli.params if not getattr(p, "is_flag", False) for o in p.opts}
    argv = list(shown.argv)
    while argv and argv[0].startswith("-"):  # global options before the command
        assert argv[0] in group_options, f"{shown}: no global option {argv[0]}"
        argv = argv[2:] if argv[0] in takes_value else argv[1:]
    assert argv, f"{shown}: no subcommand"
    names = argv[0].split("|")
    options = {w.split("=")[0] for w in argv[1:] if w.startswith("-")}
    for name in names:
        command = cli.commands.get(name)
        assert command is not None, f"{shown}: no command {name!r}"
        if name == "emulator":
            known = {o for a in emulator_parser()._actions for o in a.option_strings}
        else:
            known = {o for p in command.params for o in p.opts + p.secondary_opts}
        unknown = options - known - group_options
        assert not unknown, f"{shown}: {name} has no option {sorted(unknown)}"


def test_the_parser_refuses_what_the_cli_refuses() -> None:
    """The check above is real: an unknown option or a missing argument fails it."""
    with pytest.raises(click.NoSuchOption):
        _parse(["status", "examples/seed-scenario.yaml", "--no-such-option"])
    with pytest.raises(click.MissingParameter):
        _parse(["diagnose", "gkebackend"])
    with pytest.raises(SystemExit):
        _parse(["emulator", "--no-such-option"])
    assert [a for s in SHOWN for a in s.argv if a == "emulator"], "the emulator command is shown"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_shell_completion_shown_in_the_docs_works(shell: str) -> None:
    assert f"_APIGEE_PSC_COMPLETE={shell}_source apigee-psc" in (ROOT / "docs" / "cli.md").read_text()
    script = subprocess.run(
        [sys.executable, "-c", "from apigee_psc.cli import main; main()"],
        env={**os.environ, "_APIGEE_PSC_COMPLETE": f"{shell}_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "_apigee_psc_completion" in script
    words = subprocess.run(
        [sys.executable, "-c", "from apigee_psc.cli import main; main()"],
        env={**os.environ, "_APIGEE_PSC_COMPLETE": "bash_complete", "COMP_WORDS": "apigee-psc sta", "COMP_CWORD": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "status" in words


def test_every_relative_link_of_every_page_resolves() -> None:
    """mkdocs checks links between pages; links to repository files (examples/) are checked here."""
    for page in PAGES:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:|#", target):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            assert path.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"


@pytest.fixture
def applied(apigee_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The emulator with every example's producer side, and the seed's scenario applied."""
    monkeypatch.chdir(ROOT)
    examples = sorted(ROOT.glob("examples/*.yaml")) + sorted(ROOT.glob("examples/fleet/*.yaml"))
    seed_producer_for(apigee_emulator.world, load_specs(examples))
    report = Southbound(SouthboundSpec.from_yaml(ROOT / "examples" / "seed-scenario.yaml")).apply()
    assert report.ok
    return apigee_emulator


def test_the_read_only_commands_shown_run_against_the_emulator(
    applied: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # what they write (plan --out FILE) lands here, not in the repository
    ran = []
    for shown in SHOWN:
        if shown.inline or not shown.argv or shown.argv[0] not in READ_ONLY:
            continue
        words = [str(ROOT / w) if (ROOT / w).exists() else w for w in _resolve(shown.argv)]
        env = {k: v for k, v in shown.env if k != "APIGEE_PSC_EMULATOR_HOST"}  # the test's emulator
        stdin = (ROOT / shown.stdin).read_text() if shown.stdin else None
        result = CliRunner(env=env).invoke(cli, words, catch_exceptions=False, input=stdin)
        assert result.exit_code == 0, f"{shown}: exit {result.exit_code}\n{result.stderr}"
        if "json" in words:
            json.loads(result.stdout)
        ran.append(shown.argv[0])
    assert {"plan", "status", "diagnose", "list", "target-xml"} <= set(ran)
