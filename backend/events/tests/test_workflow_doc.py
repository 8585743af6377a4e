import io

from django.core.management import call_command

from backend.events.management.commands.workflow_doc import DOC, render
from backend.events.workflow import RELATIONS, STEPS


def test_docs_workflow_md_holds_the_current_transition_table():
    text = DOC.read_text()
    assert render(text) == text, "docs/workflow.md is stale: run `make workflow-doc`"
    call_command("workflow_doc", check=True, stdout=io.StringIO())


def test_every_step_names_known_relations_and_states():
    from backend.events.models import State

    for step in STEPS.values():
        assert step.relations and all(name in RELATIONS for name in step.relations)
        assert set(step.from_states) <= set(State.values)
        assert step.to_state is None or step.to_state in State.values
