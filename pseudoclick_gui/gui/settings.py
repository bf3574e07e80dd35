"""App settings (not project data) as one JSON file under ``platformdirs.user_config_dir("pseudoclick-gui")``.

``$PSEUDOCLICK_CONFIG_DIR`` overrides the folder (tests point it at a temporary folder), and
``$PSEUDOCLICK_DATA_DIR`` overrides where autosave projects go.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

APP_NAME = "pseudoclick-gui"
MAX_RECENT = 10


def config_dir() -> Path:
    env = os.environ.get("PSEUDOCLICK_CONFIG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    env = os.environ.get("PSEUDOCLICK_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


@dataclass
class AppSettings:
    recent_projects: list[str] = field(default_factory=list)
    window_geometry: str = ""  # base64 of QWidget.saveGeometry()
    window_state: str = ""  # base64 of QMainWindow.saveState()
    overlay_opacity: float = 0.45
    contour_mode: bool = False
    show_error_maps: bool = False
    suggestions: str = "on"  # Preferences > Suggest next clicks: "on" | "off" | "paper" (the paper's rule)
    suggestions_on: str = "on"  # the mode P turns suggestions back on to ("on" or "paper")
    auto_accept: bool = False
    auto_accept_threshold: float = 0.9
    hint_done: bool = False  # the canvas hint ("Left-click the object…") is shown until the first click
    last_project: str = ""
    last_dir: str = ""

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> AppSettings:
        """Defaults for anything missing or unreadable (a broken settings file never stops the app)."""
        try:
            raw = json.loads(cls.path().read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        known = {f.name: f for f in fields(cls)}
        kwargs = {}
        default = cls()
        raw = raw if isinstance(raw, dict) else {}
        for k, v in raw.items():
            if k in known and type(v) is type(getattr(default, k)):
                kwargs[k] = v
        if "suggestions" not in raw:  # settings written before Preferences existed
            if raw.get("proposal_rule") in ("errors", "paper"):
                kwargs["suggestions"] = kwargs["suggestions_on"] = "paper"
            if raw.get("proposals_enabled") is False:
                kwargs["suggestions"] = "off"
        if kwargs.get("suggestions", "on") not in ("on", "off", "paper"):
            kwargs["suggestions"] = "on"
        if kwargs.get("suggestions_on", "on") not in ("on", "paper"):
            kwargs["suggestions_on"] = "on"
        return cls(**kwargs)

    def save(self) -> None:
        """Atomic write; errors are ignored (settings are a convenience)."""
        p = self.path()
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".settings-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(asdict(self), f, indent=1)
            os.replace(tmp, p)
        except OSError:
            pass

    def add_recent(self, project: str | os.PathLike) -> None:
        s = os.fspath(project)
        self.recent_projects = [s] + [p for p in self.recent_projects if p != s]
        del self.recent_projects[MAX_RECENT:]
        self.last_project = s
