"""A trigram index on AddressEntry.normalized, the proper one for each database:
pg_trgm (GIN) on PostgreSQL, an FTS5 trigram table kept by triggers on SQLite.
Both make ``LIKE '%…%'`` use an index."""

from django.db import migrations

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE addresses_entry_fts USING fts5(normalized, content='addresses_addressentry', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER addresses_entry_ai AFTER INSERT ON addresses_addressentry BEGIN
         INSERT INTO addresses_entry_fts(rowid, normalized) VALUES (new.id, new.normalized); END""",
    """CREATE TRIGGER addresses_entry_ad AFTER DELETE ON addresses_addressentry BEGIN
         INSERT INTO addresses_entry_fts(addresses_entry_fts, rowid, normalized) VALUES ('delete', old.id, old.normalized); END""",
    """CREATE TRIGGER addresses_entry_au AFTER UPDATE ON addresses_addressentry BEGIN
         INSERT INTO addresses_entry_fts(addresses_entry_fts, rowid, normalized) VALUES ('delete', old.id, old.normalized);
         INSERT INTO addresses_entry_fts(rowid, normalized) VALUES (new.id, new.normalized); END""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS addresses_entry_ai", "DROP TRIGGER IF EXISTS addresses_entry_ad",
    "DROP TRIGGER IF EXISTS addresses_entry_au", "DROP TABLE IF EXISTS addresses_entry_fts",
]
POSTGRES_FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX address_entry_trgm ON addresses_addressentry USING gin (normalized gin_trgm_ops)",
]
POSTGRES_BACKWARD = ["DROP INDEX IF EXISTS address_entry_trgm"]


def run(statements_by_vendor):
    def apply(apps, schema_editor):
        for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return apply


class Migration(migrations.Migration):
    dependencies = [("addresses", "0001_initial")]
    operations = [
        migrations.RunPython(
            run({"sqlite": SQLITE_FORWARD, "postgresql": POSTGRES_FORWARD}),
            run({"sqlite": SQLITE_BACKWARD, "postgresql": POSTGRES_BACKWARD}),
        )
    ]
