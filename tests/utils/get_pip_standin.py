"""Stand-in for the pip bootstrap script ansible-test downloads from a host that may be unreachable.

ansible-test looks for ``~/.ansible/test/cache/get_pip_<version>.py`` before downloading it;
``make`` puts this file there. It installs pip from the interpreter's own ``ensurepip``, then
installs what ansible-test asked for (pip at the pinned version) from the package index.
"""

import subprocess
import sys

DROPPED = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"] + [arg for arg in sys.argv[1:] if arg not in DROPPED])
