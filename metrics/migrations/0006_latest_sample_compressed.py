import json

from django.db import migrations, models


def _dumps(value) -> bytes:
    # Compact UTF-8 JSON as codec.dumps wrote it when this migration was made: a migration keeps
    # its own copy (codec no longer has one since the stored sample is the agent's frame).
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def compress(apps, schema_editor):
    from metrics import codec

    LatestSample = apps.get_model("metrics", "LatestSample")
    for row in LatestSample.objects.all().iterator(chunk_size=200):
        body = codec.compress(_dumps({"data": row.data, "errors": row.errors}))
        LatestSample.objects.filter(pk=row.pk).update(body=body)


def expand(apps, schema_editor):
    from metrics import codec

    LatestSample = apps.get_model("metrics", "LatestSample")
    for row in LatestSample.objects.all().iterator(chunk_size=200):
        LatestSample.objects.filter(pk=row.pk).update(data=codec.decode(row.body)["data"])


class Migration(migrations.Migration):
    dependencies = [("metrics", "0005_drop_redundant_host_indexes")]

    operations = [
        migrations.AddField(
            model_name="latestsample",
            name="body",
            field=models.BinaryField(default=b""),
            preserve_default=False,
        ),
        migrations.RunPython(compress, expand),
        migrations.RemoveField(model_name="latestsample", name="data"),
    ]
