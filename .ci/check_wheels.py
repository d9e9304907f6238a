"""Build every wheel with `hatch build -a` and check what users would install.

- exactly 7 wheels: the meta-package and the six distributions;
- no wheel contains ``stalwart/__init__.py`` (``stalwart`` is a PEP 420 namespace);
- the ``stalwart-core`` wheel installs alone into a fresh venv, imports, and
  its ``stalwart --version`` lists only itself.
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
        core = next(w for w in wheels if w.name.startswith("stalwart_core-"))
        env_dir = Path(tmp) / "venv"
        venv.EnvBuilder(with_pip=True).create(env_dir)
        bindir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
        python = bindir / "python"
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(core)], check=True)
        subprocess.run(
            [
                str(python),
                "-c",
                "import stalwart.core as c; assert c.decode_batch(c.encode_batch([]))==[]",
            ],
            check=True,
        )
        listing = subprocess.run(
            [str(bindir / "stalwart"), "--version"], check=True, capture_output=True, text=True
        ).stdout.split()
        if listing[0] != "stalwart-core" or len(listing) != 2:
            print(f"FAIL: core alone should list only itself, got {listing}")
            return 1
        print(
            f"OK: {len(wheels)} wheels, namespace intact, stalwart-core installs alone: {listing}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
