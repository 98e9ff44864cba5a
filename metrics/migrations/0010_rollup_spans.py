"""History rows hold a span of points, columnar (metrics/rollupformat.py): an hour of 5-minute
points or a UTC day of hourly points per row, instead of one point per row.

The rows of the old layout are converted into a new table, host by host and step by step, a
window of WINDOW_SPANS spans at a time (bounded memory whatever the history's length); the old
table is then dropped and the new one takes its name. Going back converts the other way.
The migration keeps its own copy of both formats: metrics/rollupformat.py will move on.
"""

import django.db.models.deletion
import orjson
import zstandard
from django.db import migrations, models

SPAN = {300: 3600, 3600: 86400}
WINDOW_SPANS = 64  # 64 days of hourly rows (1,536 old rows), 64 hours of 5-minute rows (768)
LEVEL = 3  # codec.LEVEL when this was written


def _old_decode(blob) -> dict:
    raw = bytes(blob)
    if raw[:1] == b"{":  # rows written before they were compressed
        return orjson.loads(raw)
    return orjson.loads(zstandard.ZstdDecompressor().decompress(raw))


def _put(groups: dict, name, slot: int, values: list) -> None:
    """Append one point to a columnar group ([slots, [[counts], [avgs], [maxes]] per field]);
    points come in time order, so appending keeps the slots sorted."""
    group = groups.get(name)
    if group is None:
        group = groups[name] = [[], [[[], [], []] for _ in values]]
    group[0].append(slot)
    for column, agg in zip(group[1], values, strict=True):
        for i in range(3):
            column[i].append(None if agg is None else agg[i])


def _to_span(points: list) -> tuple[dict, dict | None]:
    """(data, guests) of a new row from the old rows of its span: (slot, data, guests)."""
    data: dict = {}
    guests: dict | None = None
    for slot, row, guest_row in points:
        if "host" in row:
            _put(data, "host", slot, row["host"])
        for kind in ("pools", "storage"):
            for name, values in (row.get(kind) or {}).items():
                _put(data.setdefault(kind, {}), name, slot, values)
        if guest_row is not None:
            guests = {} if guests is None else guests
            for vmid, values in guest_row.items():
                _put(guests, vmid, slot, values)
    return data, guests


def _windows(rows_of, host_id: int, step: int):
    """The old model's rows of a host and step, a window of WINDOW_SPANS spans at a time."""
    span = SPAN[step]
    at = rows_of.filter(host_id=host_id, step=step).aggregate(m=models.Min("start"))["m"]
    while at is not None:
        first = at - at % span
        end = first + WINDOW_SPANS * span
        window = rows_of.filter(host_id=host_id, step=step, start__gte=first, start__lt=end)
        yield list(window.order_by("start").values_list("start", "data", "guests"))
        after = rows_of.filter(host_id=host_id, step=step, start__gte=end)
        at = after.aggregate(m=models.Min("start"))["m"]


def to_spans(apps, schema_editor):
    Old = apps.get_model("metrics", "Rollup")
    New = apps.get_model("metrics", "RollupSpan")
    compress = zstandard.ZstdCompressor(level=LEVEL).compress
    for host_id in Old.objects.values_list("host_id", flat=True).distinct().order_by():
        for step, span in SPAN.items():
            for rows in _windows(Old.objects, host_id, step):
                spans: dict[int, list] = {}
                for start, data, blob in rows:
                    first = start - start % span
                    guests = None
                    if blob is not None:
                        guests = orjson.loads(zstandard.ZstdDecompressor().decompress(bytes(blob)))
                    spans.setdefault(first, []).append(
                        ((start - first) // step, _old_decode(data), guests)
                    )
                objects = []
                for first, points in spans.items():
                    data, guests = _to_span(points)
                    if step == 3600 and guests is None:
                        guests = {}
                    objects.append(
                        New(
                            host_id=host_id,
                            step=step,
                            start=first,
                            data=compress(orjson.dumps(data)),
                            guests=None if guests is None else compress(orjson.dumps(guests)),
                        )
                    )
                New.objects.bulk_create(objects, batch_size=500)


def _points(group: list) -> list:
    """(slot, [aggregate per field]) of a columnar group."""
    slots, columns = group
    return [
        (slot, [None if c[0][i] is None else [c[0][i], c[1][i], c[2][i]] for c in columns])
        for i, slot in enumerate(slots)
    ]


def to_points(apps, schema_editor):
    """Back: one old row per point of each span."""
    New = apps.get_model("metrics", "RollupSpan")
    Old = apps.get_model("metrics", "Rollup")
    compress = zstandard.ZstdCompressor(level=LEVEL).compress
    decompress = zstandard.ZstdDecompressor().decompress
    for host_id in New.objects.values_list("host_id", flat=True).distinct().order_by():
        for step in SPAN:
            for rows in _windows(New.objects, host_id, step):
                objects = []
                for first, data, blob in rows:
                    span = orjson.loads(decompress(bytes(data)))
                    guests = orjson.loads(decompress(bytes(blob))) if blob is not None else None
                    points: dict[int, list] = {}
                    if "host" in span:
                        for slot, values in _points(span["host"]):
                            points.setdefault(slot, [{}, {}])[0]["host"] = values
                    for kind in ("pools", "storage"):
                        for name, group in (span.get(kind) or {}).items():
                            for slot, values in _points(group):
                                row = points.setdefault(slot, [{}, {}])[0]
                                row.setdefault(kind, {})[name] = values
                    for vmid, group in (guests or {}).items():
                        for slot, values in _points(group):
                            points.setdefault(slot, [{}, {}])[1][vmid] = values
                    for slot, (row, guest_row) in sorted(points.items()):
                        objects.append(
                            Old(
                                host_id=host_id,
                                step=step,
                                start=first + slot * step,
                                data=compress(orjson.dumps(row)),
                                guests=compress(orjson.dumps(guest_row)) if step == 3600 else None,
                            )
                        )
                Old.objects.bulk_create(objects, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("hosts", "0003_host_tags"),
        ("metrics", "0009_latest_keyframe"),
    ]

    operations = [
        migrations.CreateModel(
            name="RollupSpan",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("step", models.PositiveIntegerField()),
                ("start", models.BigIntegerField()),
                ("data", models.BinaryField()),
                ("guests", models.BinaryField(null=True)),
                (
                    "host",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="hosts.host",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("host", "step", "start"), name="rollup_once_per_span"
                    )
                ],
            },
        ),
        migrations.RunPython(to_spans, to_points),
        migrations.DeleteModel(name="Rollup"),
        migrations.RenameModel(old_name="RollupSpan", new_name="Rollup"),
    ]
