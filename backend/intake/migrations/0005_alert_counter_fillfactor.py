from django.db import migrations


def fillfactor(percent):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            table = schema_editor.quote_name(apps.get_model("intake", "AlertCounter")._meta.db_table)
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")

    return run


class Migration(migrations.Migration):
    """A batch of video alerts adds to some nine hundred camera-and-type counters: with
    room on their pages the new versions are HOT updates (none of the four indexes
    touched), as the running states' (0004)."""

    dependencies = [
        ("intake", "0004_meter_state_fillfactor"),
    ]

    operations = [
        migrations.RunPython(fillfactor(50), fillfactor(100)),
    ]
