#!/usr/bin/env bash
# Install gsmgw as a service. Safe to run twice: every step checks before it changes anything.
# Read it before you run it:  less systemd/install.sh
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0)"; exit 1; }
src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/gsmgw

apt-get install -y -qq python3 python3-venv make >/dev/null
id gsmgw >/dev/null 2>&1 || useradd --system --home /var/lib/gsmgw --shell /usr/sbin/nologin gsmgw
usermod -a -G dialout gsmgw
getent group gpio >/dev/null && usermod -a -G gpio gsmgw

if [ "$src" != "$prefix" ]; then
  mkdir -p "$prefix"
  cp -a "$src/." "$prefix/"
fi
[ -x "$prefix/.venv/bin/python" ] || python3 -m venv "$prefix/.venv"
"$prefix/.venv/bin/pip" install --quiet "$prefix"

install -d -m 0750 -o root -g gsmgw /etc/gsmgw
[ -f /etc/gsmgw/gsmgw.toml ] || install -m 0640 -o root -g gsmgw "$src/config/gsmgw.example.toml" /etc/gsmgw/gsmgw.toml
install -m 0644 "$src/systemd/99-gsmgw-modems.rules" /etc/udev/rules.d/99-gsmgw-modems.rules
udevadm control --reload-rules && udevadm trigger --subsystem-match=tty || true
install -m 0644 "$src/systemd/gsmgw.service" /etc/systemd/system/gsmgw.service
systemctl daemon-reload
if systemctl is-active --quiet ModemManager; then
  echo "ModemManager is running; the udev rule tells it to ignore modems. To stop it for good: systemctl mask --now ModemManager"
fi
echo "Edit /etc/gsmgw/gsmgw.toml ([[modems]] ports), then: gsmgw config check && systemctl enable --now gsmgw"
