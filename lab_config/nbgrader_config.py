"""nbgrader's configuration in the student's JupyterLab (``python3 run.py lab``).

``run.py lab`` puts this folder first on JUPYTER_CONFIG_PATH, so the Validate button and
the assignment list read this file (and nothing logs "No nbgrader_config.py file found").
It holds only what validating a notebook needs; the instructor's configuration is the
repository's nbgrader_config.py, which a student's server never loads.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets' config loader)

# Validate runs the whole notebook in a fresh kernel. nbgrader's default of 30 s per cell is
# too short for the training cells on a laptop; grading allows 120 s (nbgrader_config.py).
c.Execute.timeout = 120
c.Execute.startup_timeout = 120
c.Execute.interrupt_on_timeout = True

# The assignment list reads nbgrader's exchange, the folder through which a course on a
# shared server (JupyterHub) releases and collects assignments. A student working from this
# repository has none: an empty one of their own lets the list say "no assignments"
# instead of an error about a missing /usr/local/share/nbgrader/exchange.
_EXCHANGE = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "cnn-course", "exchange")
os.makedirs(_EXCHANGE, exist_ok=True)
c.Exchange.root = _EXCHANGE
