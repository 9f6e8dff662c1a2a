"""`pip install --no-build-isolation ./python` into a venv (offline, Debian's setuptools and pip),
then `import spanring` there from a directory outside the tree. Opt-in (it runs the CMake build
of the library again, minutes on this machine): SPANRING_TEST_PIP=1."""
import os
import subprocess
import sys
import tempfile

import pytest

SOURCE = os.environ.get("SPANRING_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.mark.skipif(os.environ.get("SPANRING_TEST_PIP") != "1", reason="opt-in: SPANRING_TEST_PIP=1 (builds the library again)")
def test_pip_install_into_a_venv_and_import():
    venv = tempfile.mkdtemp(prefix="spanring-venv-")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", venv], check=True)
    py = os.path.join(venv, "bin", "python")
    subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-index", os.path.join(SOURCE, "python")],
                   check=True, cwd=venv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run([py, "-c", "import spanring, os; print(os.path.dirname(spanring.__file__))"],
                         check=True, cwd=venv, env=env, capture_output=True, text=True)
    assert out.stdout.strip().startswith(venv)
