"""systemd/install.sh staged into a throwaway root (DESTDIR): the same tree when run twice, the
configuration never overwritten, and --uninstall taking away what it put there (the data and the
configuration too with --purge)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
INSTALLER = ROOT / "systemd" / "install.sh"
pytestmark = pytest.mark.timeout(120)


def installer(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALLER), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "DESTDIR": str(root)})


def tree(root: Path) -> dict[str, tuple]:
    """Every path under root: its kind, its mode and its content (or where a link points)."""
    found: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_symlink():
            found[name] = ("link", os.readlink(path))
        elif path.is_dir():
            found[name] = ("dir", path.stat().st_mode)
        else:
            found[name] = ("file", path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def test_installing_twice_gives_the_same_tree(tmp_path):
    root = tmp_path / "root"
    first = installer(root)
    assert first.returncode == 0, first.stderr
    once = tree(root)
    second = installer(root)
    assert second.returncode == 0, second.stderr
    assert tree(root) == once
    for path in ("etc/systemd/system/gsmgw.service", "etc/udev/rules.d/99-gsmgw-modems.rules",
                 "etc/sysusers.d/gsmgw.conf", "etc/gsmgw/gsmgw.toml", "opt/gsmgw/gateway/daemon.py",
                 "opt/gsmgw/hw-test/probe"):
        assert once[path][0] == "file", path
    assert once["etc/systemd/system/multi-user.target.wants/gsmgw.service"] == ("link", "/etc/systemd/system/gsmgw.service")
    for script in (ROOT / "hw-test").iterdir():  # every technician's script is on PATH as gsmgw-NAME
        if not script.name.startswith("_"):
            assert once[f"usr/local/bin/gsmgw-{script.name}"] == ("link", f"/opt/gsmgw/hw-test/{script.name}")
    assert once["usr/local/bin/gsmgw"] == ("link", "/opt/gsmgw/.venv/bin/gsmgw")
    assert not [name for name in once if "/.venv" in name or "__pycache__" in name or name.endswith("/.git")
                or "/.git/" in name]
    assert once["etc/gsmgw/gsmgw.toml"][2] == hashlib.sha256((ROOT / "config" / "gsmgw.example.toml").read_bytes()).hexdigest()
    assert "gsmgw apikey create" in first.stdout  # how to get in once it runs


def test_an_edited_config_survives_a_second_install(tmp_path):
    root = tmp_path / "root"
    assert installer(root).returncode == 0
    config = root / "etc" / "gsmgw" / "gsmgw.toml"
    config.write_text('[[modems]]\nname = "sim1"\nport = "/dev/ttyUSB2"\n')
    assert installer(root).returncode == 0
    assert config.read_text() == '[[modems]]\nname = "sim1"\nport = "/dev/ttyUSB2"\n'


def test_uninstall_keeps_the_data_and_purge_removes_everything(tmp_path):
    root = tmp_path / "root"
    assert installer(root).returncode == 0
    data = root / "var" / "lib" / "gsmgw"
    data.mkdir(parents=True)
    (data / "gsmgw.db").write_bytes(b"the shop's messages")
    removed = installer(root, "--uninstall")
    assert removed.returncode == 0, removed.stderr
    assert set(tree(root)) == {"etc", "etc/gsmgw", "etc/gsmgw/gsmgw.toml", "var", "var/lib", "var/lib/gsmgw",
                               "var/lib/gsmgw/gsmgw.db"}
    assert installer(root, "--uninstall", "--purge").returncode == 0
    assert tree(root) == {}


def test_a_bad_option_changes_nothing(tmp_path):
    root = tmp_path / "root"
    for args in (("--bogus",), ("--purge",)):
        result = installer(root, *args)
        assert result.returncode == 2 and "install.sh:" in result.stderr
    assert not root.exists()


def test_the_sysusers_file_reads_as_a_user_in_dialout_and_gpio():
    result = subprocess.run(["systemd-sysusers", "--dry-run", str(ROOT / "systemd" / "gsmgw.sysusers")],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Failed" not in result.stderr and "gsmgw" in result.stdout + result.stderr
