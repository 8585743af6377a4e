import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The readings' household index dropped: the unique (household, hour) covers it."""

    dependencies = [
        ("intake", "0002_meter_state"),
    ]

    operations = [
        migrations.AlterField(
            model_name="powerreading",
            name="household",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="readings",
                to="intake.household",
            ),
        ),
    ]
