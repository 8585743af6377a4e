"""Trigram (pg_trgm, GIN) indexes for finding events by text on PostgreSQL, on the
very expressions Django's ``icontains`` compares (``UPPER(col::text)``), so
``LIKE '%…%'`` over a district-year uses an index. A no-op on SQLite, where the
search falls back to a plain ``LIKE`` scan (development and tests)."""

from django.db import migrations

POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX event_description_trgm ON events_event USING gin (UPPER(description::text) gin_trgm_ops)",
    "CREATE INDEX event_address_trgm ON events_event USING gin (UPPER(address_text::text) gin_trgm_ops)",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS event_description_trgm", "DROP INDEX IF EXISTS event_address_trgm"]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("events", "0006_event_holder_unit")]
    operations = [migrations.RunPython(run(POSTGRES_FORWARD), run(POSTGRES_BACKWARD))]
