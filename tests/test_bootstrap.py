"""scripts/system_packages.sh, the system-package step of ./test.sh and ./demo.sh: silent when all
is there, and for a user who cannot install (not root, no passwordless sudo) one `apt-get install`
line naming exactly what is missing, before anything else happens. As root the test runs the
script as `nobody` (setpriv), so it never installs anything."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from conftest import REPO, subprocess_env

SCRIPT = REPO / "scripts" / "system_packages.sh"


def run_unprivileged(purpose: str, **env: str) -> subprocess.CompletedProcess:
    """The script as a user that cannot install packages, fed on stdin (that user may not be able
    to read the checkout)."""
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "bash", "-s", purpose]
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        pytest.skip("this user has passwordless sudo: the script would install packages")
    else:
        command = ["bash", "-s", purpose]
    return subprocess.run(command, stdin=SCRIPT.open("rb"), env=subprocess_env(**env), capture_output=True,
                          text=True, timeout=60)


def test_nothing_missing_is_silent():
    result = run_unprivileged("test")  # ./test.sh ran the same check before this session started
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_missing_packages_stop_with_one_apt_get_line():
    result = run_unprivileged("test", JNA_JAR="/nonexistent/jna.jar", ZOOKEEPER_JAR="/nonexistent/zookeeper.jar")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "bootstrap: missing system packages; install them, then run this again:",
        "  sudo apt-get install -y libjna-java zookeeper",
    ]


def test_the_demo_needs_only_a_jdk_and_npm():
    result = run_unprivileged("demo", JNA_JAR="/nonexistent/jna.jar", ZOOKEEPER_JAR="/nonexistent/zookeeper.jar")
    assert (result.returncode, result.stderr) == (0, "")


def test_an_unknown_purpose_is_refused():
    result = run_unprivileged("everything")
    assert result.returncode == 2 and "usage:" in result.stderr
