"""``python -m pseudoclick_gui.gui`` (and the PyInstaller entry script)."""

import sys

from pseudoclick_gui.gui.app import main

if __name__ == "__main__":
    sys.exit(main())
