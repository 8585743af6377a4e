from django.db import migrations


def fillfactor(percent):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            table = schema_editor.quote_name(apps.get_model("intake", "MeterState")._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")

    return run


class Migration(migrations.Migration):
    """Each batch rewrites a thousand running states: with room left on their pages,
    PostgreSQL writes each new version beside the old one (a HOT update: no index
    entry, and the page's dead versions are pruned when it is next written) instead of
    at the table's end, where the table grew by a batch's states every batch."""

    dependencies = [
        ("intake", "0003_reading_household_index"),
    ]

    operations = [
        migrations.RunPython(fillfactor(50), fillfactor(100)),
    ]
