"""python manage.py workflow_doc [--check]

Writes the transition table into docs/workflow.md between its markers."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from backend.events.workflow import workflow_markdown

DOC = Path(settings.BASE_DIR) / "docs" / "workflow.md"
BEGIN = "<!-- transition-table:begin -->"
END = "<!-- transition-table:end -->"


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{workflow_markdown()}{END}{tail}"


class Command(BaseCommand):
    help = "把流转表写入 docs/workflow.md (print the transition table into docs/workflow.md)"

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="fail if the document is stale")

    def handle(self, *args, check: bool, **options) -> None:
        text = DOC.read_text()
        if BEGIN not in text or END not in text:
            raise CommandError(f"{DOC} lacks the markers {BEGIN} / {END}")
        updated = render(text)
        if check:
            if updated != text:
                raise CommandError("docs/workflow.md is stale: run `make workflow-doc`")
            return
        DOC.write_text(updated)
        self.stdout.write(f"wrote {DOC}")
