"""``python -m model_studio``: the same as the ``model-studio`` command."""

import sys

from .cli import main

sys.exit(main())
