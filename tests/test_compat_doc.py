"""COMPAT.md must match the command table, and every command it calls done must be exercised
by at least one test."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_compat_md_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_compat.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_implemented_command_is_tested():
    sys.path.insert(0, str(ROOT))
    import valkeyd.commands  # noqa: F401
    from valkeyd.commands.registry import all_commands, unique_subcommands

    corpus = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py")
                       if p.name != "test_compat_doc.py").lower()
    missing = []
    for cmd in all_commands():
        if not re.search(r"\b%s\b" % re.escape(cmd.name), corpus):
            missing.append(cmd.name)
        for sub in unique_subcommands(cmd):
            pat = r"\b%s\b\W{1,4}\b%s\b" % (re.escape(cmd.name), re.escape(sub.name))
            if not re.search(pat, corpus):
                missing.append(f"{cmd.name} {sub.name}")
    assert not missing, f"commands no test mentions: {sorted(missing)}"
