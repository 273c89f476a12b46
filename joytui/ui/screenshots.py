"""Where the dashboard saves screenshots."""

from __future__ import annotations

from pathlib import Path

import platformdirs


def screenshot_dir() -> str:
    """``screenshots`` under the user data dir, made if need be (Textual's default,
    Downloads, may not exist on a server)."""
    directory = Path(platformdirs.user_data_dir("joytui")) / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return str(directory)
