"""``python -m stalwart.core`` runs the ``stalwart`` command line."""

from __future__ import annotations

from stalwart.core._cli import main

if __name__ == "__main__":
    main()
