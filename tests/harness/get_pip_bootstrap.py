"""Stand-in for ansible-test's pip bootstrap script (get-pip.py), whose download host is unreachable here.

ansible-test runs it as ``python get_pip.py [pip install options] pip==X ...`` inside a venv created
without pip. We install pip from Python's own ensurepip, then let that pip install what was asked
(from PyPI, which is reachable).
"""

import ensurepip
import os
import subprocess
import sys

os.environ.pop("GET_PIP", None)
ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null for itself and leaves it set; the machine's pip
# configuration (index, CA bundle) must apply to the install below.
os.environ.pop("PIP_CONFIG_FILE", None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install"] + args))
