"""Build every wheel with `hatch build -a` and check what users would install.

- exactly 7 wheels: the meta-package and the six distributions;
- no wheel contains ``stalwart/__init__.py`` (``stalwart`` is a PEP 420 namespace);
- the ``stalwart-core`` wheel installs alone into a fresh venv, imports, and
  its ``stalwart --version`` lists only itself;
- every other package installs into its own fresh venv with only the core
  wheel beside it, imports, and its ``stalwart`` subcommand is there.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

EXPECTED = {
    "stalwart",
    "stalwart_core",
    "stalwart_shared_data",
    "stalwart_crash_logger",
    "stalwart_ipc_logger",
    "stalwart_fallbacks",
    "stalwart_monitoring",
}


# (wheel name prefix, module under stalwart., the `stalwart` subcommand it adds)
_PACKAGES = [
    ("stalwart_core", "core", None),
    ("stalwart_shared_data", "shared_data", "store"),
    ("stalwart_crash_logger", "crash_logger", "logs"),
    ("stalwart_ipc_logger", "ipc_logger", "ipc"),
    ("stalwart_fallbacks", "fallbacks", "files"),
    ("stalwart_monitoring", "monitoring", "monitor"),
]


def _check_alone(tmp: Path, dist: Path, prefix: str, module: str, command: str | None) -> str:
    """Install one wheel, with only the core wheel beside it, in a fresh venv; return a problem or ''."""
    core = next(dist.glob("stalwart_core-*.whl"))
    wheel = next(dist.glob(f"{prefix}-*.whl"))
    env_dir = tmp / f"venv-{module}"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    python = str(bindir / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(core), str(wheel)], check=True)
    subprocess.run([python, "-c", f"import stalwart.{module}"], check=True)
    listing = subprocess.run(
        [str(bindir / "stalwart"), "--version"], check=True, capture_output=True, text=True
    ).stdout.split()[::2]
    expected = sorted({"stalwart-core", wheel.name.split("-")[0].replace("_", "-")})
    if listing != expected:
        return f"{wheel.name}: stalwart --version lists {listing}, expected {expected}"
    if command is not None:
        helped = subprocess.run([str(bindir / "stalwart"), command, "--help"], capture_output=True, text=True)
        if helped.returncode != 0 or helped.stderr:
            return f"{wheel.name}: `stalwart {command} --help` failed: {helped.stderr.strip()}"
    return ""


def main() -> int:
    """Run the checks; return the process exit code."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dist"
        subprocess.run(["hatch", "build", "-a", "-t", "wheel", str(out)], check=True)
        wheels = sorted(out.glob("*.whl"))
        names = {wheel.name.split("-")[0] for wheel in wheels}
        if names != EXPECTED or len(wheels) != len(EXPECTED):
            print(f"FAIL: expected wheels {sorted(EXPECTED)}, got {[w.name for w in wheels]}")
            return 1
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                if "stalwart/__init__.py" in archive.namelist():
                    print(f"FAIL: {wheel.name} ships stalwart/__init__.py (breaks the namespace)")
                    return 1
                if not wheel.name.startswith("stalwart-") and not any(
                    name.endswith("py.typed") for name in archive.namelist()
                ):
                    print(f"FAIL: {wheel.name} has no py.typed")
                    return 1
        failures = [
            problem
            for prefix, module, command in _PACKAGES
            if (problem := _check_alone(Path(tmp), out, prefix, module, command))
        ]
        if failures:
            print("FAIL:\n" + "\n".join(failures))
            return 1
        print(f"OK: {len(wheels)} wheels, namespace intact, each package installs alone with core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
