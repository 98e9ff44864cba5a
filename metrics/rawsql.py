"""Plain SQL for the statements ingest runs for every sample (metrics/ingest.py).

Built and bound by the ORM for every sample, they cost more than running them (bench/ingest.py):
`prep` converts values as Django would, `execute` runs a statement with Django's error types.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field


def prep(model, **values: Any) -> list:
    """`values` of `model`'s fields as the database takes them (dates, JSON, bytes).

    On SQLite, dates and JSON are converted here as Django would (naive UTC text, JSON text)
    without Django's per-field checks and its pure-Python JSON encoder: with the field lookups
    they cost more than the statements themselves (bench/ingest.py). Other engines get
    Django's own conversion.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the proxy `connection` looks it up on every use
    if db.vendor != "sqlite":
        return [
            model._meta.get_field(name).get_db_prep_save(value, db)
            for name, value in values.items()
        ]
    return [_SQLITE_KINDS[model, name](value, db) for name, value in values.items()]


def json_text(text: str) -> Any:
    """JSON that is text already, as the database takes it for a JSON column, not encoded
    again: psycopg's Jsonb on PostgreSQL (the adapter Django's JSONField uses there), the text
    itself on SQLite."""
    if connections[DEFAULT_DB_ALIAS].vendor == "postgresql":
        from psycopg.types.json import Jsonb

        return Jsonb(text, dumps=_as_is)
    return text


def _as_is(text: str) -> str:
    return text


def _sqlite_datetime(value: datetime | None, db: Any) -> str | None:
    # django.db.backends.sqlite3.operations.adapt_datetimefield_value, for aware datetimes
    if value is None or value.tzinfo is None:
        return db.ops.adapt_datetimefield_value(value)
    return str(value.astimezone(db.timezone).replace(tzinfo=None))


def _sqlite_json(value: Any, db: Any) -> str | None:
    # JSONField's text; orjson refuses integers beyond 64 bits, the standard library does not
    if value is None:
        return None  # SQL NULL, as get_db_prep_save makes it
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def _same(value: Any, db: Any) -> Any:
    return value


class _Kinds(dict):
    """(model, field name) -> the SQLite conversion of its values, looked up once."""

    def __missing__(self, key: tuple) -> Callable[[Any, Any], Any]:
        model, name = key
        field = model._meta.get_field(name)
        kind = field.get_internal_type()
        if kind == "DateTimeField":
            convert: Callable[[Any, Any], Any] = _sqlite_datetime
        elif kind == "JSONField" and field.encoder is None:
            convert = _sqlite_json
        elif kind in (
            "FloatField",
            "IntegerField",
            "BigIntegerField",
            "CharField",
            "BinaryField",
            "ForeignKey",
        ):
            convert = _same  # sqlite3 takes floats, ints, str and bytes as they are
        else:

            def convert(value: Any, db: Any) -> Any:
                return field.get_db_prep_save(value, db)

        self[key] = convert
        return convert


_SQLITE_KINDS = _Kinds()


def execute(sql: str, values: list, *more: Any) -> int:
    """Run one of the statements every sample runs; its rowcount.

    On PostgreSQL as a prepared statement with server-side binding (Django binds on the client
    and sends every statement as new text), so the server parses and plans each of them once
    per connection instead of once per sample. On SQLite straight on the sqlite3 connection:
    Django's cursor wrapper rewrites the placeholders of every statement with a regular
    expression and adds two layers of calls, which cost more than SQLite's own work here.
    Either way database errors are Django's (IntegrityError, OperationalError).
    """
    params = [*values, *more]
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "postgresql":
        import psycopg

        db.ensure_connection()
        with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            return cursor.rowcount
    if db.vendor == "sqlite":
        db.ensure_connection()
        with db.wrap_database_errors:
            return db.connection.execute(_QMARK[sql], params).rowcount
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def column(model, name: str) -> str:
    """The table column of `model`'s field `name`."""
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a field with a column")
    return field.column


def execute_many(sql: str, rows: list[list]) -> None:
    """Run one statement for each of `rows` (values as `prep` converts them): on SQLite
    straight on the sqlite3 connection, elsewhere through Django's cursor."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor == "sqlite":
        db.ensure_connection()
        with db.wrap_database_errors:
            db.connection.executemany(_QMARK[sql], rows)
        return
    with db.cursor() as cursor:
        cursor.executemany(sql, rows)


class _Qmark(dict):
    """A statement's text with sqlite3's `?` placeholders instead of `%s`, made once."""

    def __missing__(self, sql: str) -> str:
        self[sql] = converted = sql.replace("%s", "?")
        return converted


_QMARK = _Qmark()
