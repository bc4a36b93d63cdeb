#!/usr/bin/env bash
# Install gsmgw as a service on Debian or Raspberry Pi OS, or remove it. Read it before you run it:
#   less systemd/install.sh
#
#   sudo systemd/install.sh                      install or update (safe to run again)
#   sudo systemd/install.sh --uninstall          remove it; keeps /etc/gsmgw and /var/lib/gsmgw
#   sudo systemd/install.sh --uninstall --purge  remove the configuration, the data and the user too
#   DESTDIR=/tmp/root systemd/install.sh         stage the files under /tmp/root only (no root needed):
#                                                no packages, user, venv, systemctl or udevadm
#
# What it does: python3 and python3-venv if missing; the system user gsmgw (in dialout and gpio)
# through systemd-sysusers; the code in /opt/gsmgw and its .venv; /etc/gsmgw/gsmgw.toml from the
# example if there is none (never overwritten); the unit, the udev rules and links on PATH
# (gsmgw, gsmgw-probe, gsmgw-send-test, gsmgw-modem-check); the service enabled, not started.
set -euo pipefail

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
action=install
purge=no
for arg in "$@"; do
  case "$arg" in
    --uninstall) action=uninstall ;;
    --purge) purge=yes ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option $arg" >&2; usage 2 >&2 ;;
  esac
done
[ "$purge" = no ] || [ "$action" = uninstall ] || { echo "install.sh: --purge goes with --uninstall" >&2; exit 2; }

root="${DESTDIR:-}"
root="${root%/}"
live() { [ -z "$root" ]; }  # acting on this machine, not staging into DESTDIR
if live && [ "$(id -u)" -ne 0 ]; then echo "install.sh: run as root (sudo $0 $*)" >&2; exit 1; fi
src="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
prefix=/opt/gsmgw
unit=/etc/systemd/system/gsmgw.service
wants=/etc/systemd/system/multi-user.target.wants/gsmgw.service
rules=/etc/udev/rules.d/99-gsmgw-modems.rules
sysusers=/etc/sysusers.d/gsmgw.conf
hw_tests=(probe send-test modem-check loopback ussd leds power-cycle soak dump)  # hw-test/, as gsmgw-NAME
links=(/usr/local/bin/gsmgw)
targets=("$prefix/.venv/bin/gsmgw")
for name in "${hw_tests[@]}"; do
  links+=("/usr/local/bin/gsmgw-$name")
  targets+=("$prefix/hw-test/$name")
done
say() { echo "gsmgw: $*"; }

install_files() {
  if live; then
    if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      say "installing python3 and python3-venv"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    fi
  fi

  install -d -m 0755 "$root/etc/sysusers.d"
  install -m 0644 "$src/systemd/gsmgw.sysusers" "$root$sysusers"
  if live; then
    systemd-sysusers "$sysusers"
  fi

  if [ "$src" != "$prefix" ] || ! live; then  # the code: the checkout's files, nothing it built
    install -d -m 0755 "$root$prefix"
    find "$root$prefix" -mindepth 1 -maxdepth 1 ! -name .venv -exec rm -rf {} +
    (cd "$src" && tar -cf - --exclude=./.venv --exclude=./.git --exclude=./var --exclude=./build \
        --exclude='__pycache__' --exclude='*.egg-info' --exclude=./.pytest_cache --exclude=./.hypothesis \
        --exclude=./test-artifacts --no-same-owner .) | (cd "$root$prefix" && tar -xf - --no-same-owner)
  fi
  if live; then  # a venv is not relocatable: it is made where it runs, so never under DESTDIR
    [ -x "$prefix/.venv/bin/python" ] || python3 -m venv "$prefix/.venv"
    "$prefix/.venv/bin/pip" install --quiet --disable-pip-version-check "$prefix"
  fi

  install -d -m 0750 "$root/etc/gsmgw"
  if [ ! -f "$root/etc/gsmgw/gsmgw.toml" ]; then
    install -m 0640 "$src/config/gsmgw.example.toml" "$root/etc/gsmgw/gsmgw.toml"
    say "wrote /etc/gsmgw/gsmgw.toml from the example: set [[modems]] there"
  fi
  if live; then
    chgrp gsmgw /etc/gsmgw /etc/gsmgw/gsmgw.toml
  fi

  install -d -m 0755 "$root/etc/systemd/system" "$root/etc/udev/rules.d" "$root/usr/local/bin"
  install -m 0644 "$src/systemd/gsmgw.service" "$root$unit"
  install -m 0644 "$src/systemd/99-gsmgw-modems.rules" "$root$rules"
  for i in "${!links[@]}"; do
    ln -sfn "${targets[$i]}" "$root${links[$i]}"
  done

  if live; then
    udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true
    systemctl daemon-reload
    systemctl enable gsmgw.service
    if systemctl is-active --quiet ModemManager; then
      say "ModemManager runs; the udev rules tell it to leave the modems alone. To stop it for good: systemctl mask --now ModemManager"
    fi
  else
    install -d -m 0755 "$root$(dirname "$wants")"
    ln -sfn "$unit" "$root$wants"  # what systemctl enable makes
  fi
  say "installed. Next:"
  say "  1. edit /etc/gsmgw/gsmgw.toml ([[modems]] ports), then: gsmgw config check"
  say "  2. prove each modem: gsmgw-probe (or gsmgw-modem-check --port /dev/serial/by-id/...)"
  say "  3. start it: systemctl start gsmgw; its state: systemctl status gsmgw"
  say "  4. the console's first admin: open it ([web] listen in /etc/gsmgw/gsmgw.toml) and enter the setup code from: journalctl -u gsmgw | grep 'setup code'"
  say "     (or here: sudo -u gsmgw gsmgw user add NAME --role admin)"
  say "  5. a key for the REST API: sudo -u gsmgw gsmgw apikey create --name admin --scopes send,read,admin"
}

uninstall_files() {
  if live; then
    systemctl disable --now gsmgw.service 2>/dev/null || true
  fi
  rm -f "$root$wants" "$root$unit" "$root$rules" "$root$sysusers"
  for link in "${links[@]}"; do rm -f "$root$link"; done
  rm -rf -- "$root$prefix"  # prefix is absolute and not /, so this is /opt/gsmgw under the root
  if [ "$purge" = yes ]; then
    rm -rf "$root/etc/gsmgw" "$root/var/lib/gsmgw"
    if live && id gsmgw >/dev/null 2>&1; then
      userdel gsmgw
    fi
    say "removed, with the configuration and the data"
  else
    say "removed; kept /etc/gsmgw and /var/lib/gsmgw (--purge removes them)"
  fi
  if live; then
    systemctl daemon-reload
    udevadm control --reload-rules || true
  else  # leave the staged root as it was before the install: no empty folders of ours
    for dir in "$(dirname "$wants")" /etc/systemd/system /etc/systemd /etc/udev/rules.d /etc/udev \
               /etc/sysusers.d /usr/local/bin /usr/local /usr /opt /etc /var/lib /var; do
      rmdir "$root$dir" 2>/dev/null || true
    done
  fi
}

if [ "$action" = install ]; then install_files; else uninstall_files; fi
