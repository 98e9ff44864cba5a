"""The environment is read in one place, proxmon/settings.py (with proxmon/env.py's helpers):
app code reads django.conf.settings, so every variable is listed, checked and overridable in
tests. The agent, tests, benchmarks and scripts are outside this rule."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("proxmon", "hosts", "metrics", "alerts", "dashboard")
READS_ENVIRONMENT = {"proxmon/settings.py", "proxmon/env.py"}
USES_ENV_HELPERS = READS_ENVIRONMENT | {"proxmon/checks.py"}  # checks: env.OUT_OF_RANGE only


def app_modules():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/tests/" not in relative:
                yield relative, ast.parse(path.read_text(encoding="utf-8"))


def environment_reads(tree: ast.AST) -> list[int]:
    """Lines that touch os.environ / os.getenv, except the Django bootstrap's setdefault."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "getenv", "environb"}
            or (
                isinstance(node, ast.ImportFrom)
                and node.module == "os"
                and {alias.name for alias in node.names} & {"environ", "getenv"}
            )
        ):
            lines.append(node.lineno)
    bootstrap = {
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setdefault"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "DJANGO_SETTINGS_MODULE"
    }
    return [line for line in lines if line not in bootstrap]


def imports_env_helpers(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "proxmon"
            and any(alias.name == "env" for alias in node.names)
        ):
            return True
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [alias.name for alias in node.names] + [getattr(node, "module", None)]
            if "proxmon.env" in names:
                return True
    return False


def test_only_settings_reads_the_environment():
    offenders = [
        f"{path}:{line}"
        for path, tree in app_modules()
        if path not in READS_ENVIRONMENT
        for line in environment_reads(tree)
    ]
    assert offenders == []


def test_only_settings_uses_the_environment_helpers():
    offenders = [
        path
        for path, tree in app_modules()
        if path not in USES_ENV_HELPERS and imports_env_helpers(tree)
    ]
    assert offenders == []


def test_the_scan_finds_a_read():
    # the rule above cannot pass by finding nothing
    tree = ast.parse("import os\nfrom os import getenv\nPORT = os.environ.get('PORT')\n")
    assert environment_reads(tree) == [2, 3]
    assert imports_env_helpers(ast.parse("from proxmon import env\n"))
    assert (
        environment_reads(
            ast.parse("import os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', 'x')\n")
        )
        == []
    )
