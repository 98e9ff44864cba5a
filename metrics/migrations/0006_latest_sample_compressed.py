from django.db import migrations, models


def compress(apps, schema_editor):
    from metrics import codec

    LatestSample = apps.get_model("metrics", "LatestSample")
    for row in LatestSample.objects.all().iterator(chunk_size=200):
        body = codec.compress(codec.dumps({"data": row.data, "errors": row.errors}))
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
