import json

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


def _dumps(value) -> bytes:
    # Compact UTF-8 JSON as codec.dumps wrote it when this migration was made: a migration keeps
    # its own copy (codec no longer has one since the stored sample is the agent's frame).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def compress_payloads(apps, schema_editor):
    """Existing samples keep their payload, compressed without keyframe."""
    from metrics import codec

    Sample = apps.get_model("metrics", "Sample")
    for sample in Sample.objects.only("id", "payload").iterator(chunk_size=500):
        Sample.objects.filter(pk=sample.pk).update(body=codec.compress(_dumps(sample.payload)))


def expand_payloads(apps, schema_editor):
    from metrics import codec

    Sample = apps.get_model("metrics", "Sample")
    for sample in Sample.objects.only("id", "body", "keyframe").iterator(chunk_size=500):
        keyframe = sample.keyframe.data if sample.keyframe_id else None
        Sample.objects.filter(pk=sample.pk).update(payload=codec.decode(sample.body, keyframe))


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0001_initial"),
        ("metrics", "0003_guest_index_without_runtime"),
    ]

    operations = [
        migrations.CreateModel(
            name="Keyframe",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "tier",
                    models.CharField(
                        choices=[("fast", "Fast"), ("medium", "Medium"), ("slow", "Slow")],
                        max_length=6,
                    ),
                ),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("data", models.BinaryField()),
                (
                    "host",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="hosts.host",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["host", "tier", "created_at"], name="keyframe_current"),
                    models.Index(fields=["created_at"], name="keyframe_created_at"),
                ],
            },
        ),
        migrations.AddField(
            model_name="sample",
            name="keyframe",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="metrics.keyframe",
            ),
        ),
        migrations.AddField(
            model_name="sample",
            name="body",
            field=models.BinaryField(default=b""),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="sample",
            name="payload",
            field=models.JSONField(null=True),
        ),
        migrations.RunPython(compress_payloads, expand_payloads),
        migrations.RemoveField(model_name="sample", name="payload"),
    ]
