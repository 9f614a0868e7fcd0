"""Local development and `make demo`: debug on, persona login on."""

import os

from .base import *  # noqa: F403

DEBUG = os.environ.get("CARECOORD_DEBUG", "1") == "1"
DEMO_MODE = os.environ.get("CARECOORD_DEMO", "1") == "1"
