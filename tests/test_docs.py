"""The README and docs keep their promises about the project itself: no link leaves
the repository, and the figures and options they name are the code's."""

import re
import subprocess
from pathlib import Path

from django.core.management import get_commands, load_command_class

from backend.addresses.demo import BUILDINGS, UNITS

ROOT = Path(__file__).resolve().parent.parent


def tracked_documents() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.md", "docs"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def test_it_has_no_link_out_of_the_repository_in_any_tracked_document():
    documents = tracked_documents()
    assert ROOT / "README.md" in documents and ROOT / "docs" / "product.md" in documents
    for document in documents:
        text = document.read_text(errors="replace")
        assert "../shared" not in text and "/work/shared" not in text, document
        for target in re.findall(r"\]\((\.\.?/[^)#]+)", text):  # relative Markdown links resolve inside
            resolved = (document.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (document, target)


def test_it_states_the_address_count_the_first_run_imports():
    parser = load_command_class(get_commands()["seed_demo"], "seed_demo").create_parser("manage.py", "seed_demo")
    assert parser.get_default("addresses") == UNITS == 222_800 and BUILDINGS == 7_627
    readme = (ROOT / "README.md").read_text()
    assert "imports its address library of 222,800\nunit addresses in 7,627 buildings" in readme
    assert "seed_demo --events" in readme


def test_it_names_the_host_and_port_make_run_serves_on():
    makefile = (ROOT / "Makefile").read_text()
    assert "HOST ?= 127.0.0.1" in makefile and "PORT ?= 8000" in makefile
    assert "-b $(HOST) -p $(PORT)" in makefile
    assert "make run HOST=0.0.0.0 PORT=9000" in (ROOT / "README.md").read_text()
