"""The ``stalwart`` console script: a click group whose subcommands come from plugins.

Each stalwart package registers its own click group in the entry-point group
``stalwart.cli`` (``stalwart store …``, ``stalwart logs …``), so installing one
package brings its commands. A plugin that fails to load costs one warning
line on stderr, never a traceback, and the other commands keep working.
"""

from __future__ import annotations

import re
from importlib import metadata

import click

__all__ = ["ENTRY_POINT_GROUP", "StalwartGroup", "installed_distributions", "main"]

#: Entry-point group where packages register their click commands.
ENTRY_POINT_GROUP = "stalwart.cli"


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> list[tuple[str, str]]:
    """Return ``(name, version)`` of every installed stalwart distribution, sorted by name."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = _normalize(dist.metadata["Name"] or "")
        if name == "stalwart" or name.startswith("stalwart-"):
            found[name] = dist.version
    return sorted(found.items())


def _print_versions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    for name, version in installed_distributions():
        click.echo(f"{name} {version}")
    ctx.exit()


@click.command("demo")
def _placeholder_demo() -> None:
    """Run the full-stack demo (provided by the integration layer once installed)."""
    click.echo(
        "stalwart demo: not yet available in this version; install the full stack once it ships."
    )


class StalwartGroup(click.Group):
    """A click group that adds the commands registered under :data:`ENTRY_POINT_GROUP`.

    Plugins are loaded lazily: running ``stalwart store get`` imports only the
    ``store`` plugin. A registered plugin overrides a built-in command of the
    same name (the placeholder ``demo`` is meant to be overridden).
    """

    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return built-in and plugin command names, loading plugins to drop broken ones."""
        names = set(super().list_commands(ctx))
        for name in self._entry_points():
            if self._load_plugin(name) is not None:
                names.add(name)
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the plugin or built-in command called ``cmd_name``."""
        plugin = self._load_plugin(cmd_name)
        if plugin is not None:
            return plugin
        return super().get_command(ctx, cmd_name)

    def _load_plugin(self, name: str) -> click.Command | None:
        entry_point = self._entry_points().get(name)
        if entry_point is None:
            return None
        try:
            command = entry_point.load()
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break the CLI
            _warn(name, entry_point.value, f"{type(exc).__name__}: {exc}")
            return None
        if not isinstance(command, click.Command):
            _warn(name, entry_point.value, f"it is a {type(command).__name__}, not a click command")
            return None
        return command


def _warn(name: str, target: str, reason: str) -> None:
    first_line = reason.strip().splitlines()[0] if reason.strip() else reason
    click.echo(
        f"warning: stalwart plugin {name!r} ({target}) failed to load: {first_line}", err=True
    )


@click.group(cls=StalwartGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_versions,
    help="List every installed stalwart distribution with its version, then exit.",
)
def main() -> None:
    """stalwart: keep a multi-process program's data and logs safe when things go wrong."""


main.add_command(_placeholder_demo)
