"""Serving a VirtualModem on a pseudo-terminal (and optionally TCP), like a USB modem's tty.

The gateway's real serial driver opens `port.path`, a stable symlink (`<dir>/sim1 -> /dev/pts/N`)
the way udev gives real modems stable names. `unplug()` closes the pty master: the driver's next
read returns EOF / EIO exactly as when a USB stick is pulled, and the symlink disappears.
`replug()` makes a NEW pty, points the symlink at it and boots the modem (echo on, boot noise);
a pty has no DTR line, so the modem takes its host as there once a host has written to the port
since it was made and while a program other than the port holds it open (closing a tty drops DTR):
an SMS arriving otherwise is stored rather than printed as +CMT to nobody;
`replug(path=...)` puts it behind another name (the stick moved to another USB socket).

One I/O thread per port owns every file descriptor: it reads host bytes into the modem, writes the
modem's output without ever blocking the interpreter (output is queued), and performs unplug/replug,
so no descriptor is closed under another thread's select().
"""

from __future__ import annotations

import errno
import os
import queue
import select
import socket
import threading
import tty
from typing import Callable

from modem.virtual.device import VirtualModem

_MAX_BUFFER = 256 * 1024  # output nobody reads is dropped beyond this, like a UART FIFO overflowing


class VirtualModemPort:
    """One modem on one pty (+ optional TCP listener for pyserial's socket:// URLs)."""

    def __init__(
        self,
        modem: VirtualModem,
        directory: str,
        name: str | None = None,
        *,
        tcp: bool | int = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.modem = modem
        self.name = name or modem.name
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, self.name)
        self.pty_path: str | None = None
        self.plugged = False
        self._host_spoke = False  # a host wrote to this pty since it was made
        self._master: int | None = None
        self._slave: int | None = None
        self._pty_out = bytearray()
        self._tcp_out = bytearray()
        self._out_lock = threading.Lock()
        self._commands: queue.Queue[tuple[Callable[[], None], threading.Event]] = queue.Queue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._closing = False
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self.tcp_url: str | None = None
        if tcp is not False:
            self._listener = socket.create_server((host, 0 if tcp is True else int(tcp)))
            self._listener.setblocking(False)
            self.tcp_url = "socket://%s:%d" % self._listener.getsockname()[:2]
        modem.output = self._on_output
        modem.host_present = self._host_present
        if modem.profile.usb:  # AT+CFUN=1,1 on a USB stick: the tty vanishes and comes back
            modem.reset_hook = lambda: modem.sched.call_later(0.0, lambda: self.unplug(replug_after=0.5))
        self._open_pty()
        self.plugged = True
        self._thread = threading.Thread(target=self._run, name=f"virtual-modem-{self.name}")
        self._thread.start()
        modem.boot()  # plugged in now: boot noise goes to this port

    # -- public ------------------------------------------------------------------------------------
    def unplug(self, replug_after: float | None = None) -> None:
        """Pull the USB cable: pty closed, symlink gone, modem off. Optionally plug back in later."""
        self.modem.power_off()
        self._call(self._do_unplug)
        if replug_after is not None:
            self.modem.sched.call_later(replug_after, self.replug)

    def replug(self, after: float = 0.0, path: str | None = None) -> None:
        """Plug back in: a new pty behind the same symlink, and the modem boots. With `path` (a name
        in the port's directory, or a full path) the modem comes back on another port, as when its
        USB stick is moved to another socket: the old name stays gone."""
        if after > 0:
            self.modem.sched.call_later(after, lambda: self.replug(path=path))
            return
        self._call(lambda: self._do_replug(path))

    def close(self) -> None:
        """Stop the I/O thread and release every descriptor (the modem itself is left alone)."""
        if self._closing:
            return
        self.modem.power_off()
        self._call(self._do_unplug)
        self._closing = True
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(5)
        if self._listener is not None:
            self._listener.close()
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- output from the modem (any thread, possibly under the modem's lock: never blocks) ---------
    def _on_output(self, data: bytes) -> None:
        with self._out_lock:
            if self.plugged:
                pending = self._pty_out or self._master is None
                sent = 0 if pending else _write_some(self._master, data)  # type: ignore[arg-type]
                self._pty_out += data[sent:]  # written at once if nothing waits: a modem has no I/O thread to wake
                del self._pty_out[:-_MAX_BUFFER]
            if self._client is not None:
                self._tcp_out += data
                del self._tcp_out[:-_MAX_BUFFER]
            wake = bool(self._pty_out or self._tcp_out)
        if wake:
            self._wake()

    def _host_present(self) -> bool:
        """DTR as a pty can show it: a TCP client is connected, or a host wrote to the pty since it
        was made and still has it open."""
        if self._client is not None:
            return True
        pty_path, slave = self.pty_path, self._slave
        return self._host_spoke and pty_path is not None and _held_elsewhere(pty_path, slave)

    # -- I/O thread --------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _call(self, fn: Callable[[], None]) -> None:
        if self._closing:
            return
        if threading.current_thread() is getattr(self, "_thread", None):
            fn()
            return
        done = threading.Event()
        self._commands.put((fn, done))
        self._wake()
        done.wait(5)

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: the modem does its own echo
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.pty_path = os.ttyname(slave)
        self._host_spoke = False  # a new tty: no host has opened it yet
        tmp = self.path + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(self.pty_path, tmp)
        os.replace(tmp, self.path)

    def _do_unplug(self) -> None:
        with self._out_lock:
            self.plugged = False
            self._pty_out.clear()
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None
        self.pty_path = None
        self._drop_client()
        if os.path.islink(self.path):
            os.unlink(self.path)

    def _do_replug(self, path: str | None = None) -> None:
        if self.plugged:
            return
        if path:
            self.path = os.path.join(self.directory, path)
        self._open_pty()
        with self._out_lock:
            self.plugged = True
        self.modem.boot()

    def _drop_client(self) -> None:
        with self._out_lock:
            client, self._client = self._client, None
            self._tcp_out.clear()
        if client is not None:
            client.close()

    def _run(self) -> None:
        while not self._closing:
            master, client = self._master, self._client
            rlist: list = [self._wake_r]
            wlist: list = []
            if master is not None:
                rlist.append(master)
                if self._pty_out:
                    wlist.append(master)
            if self._listener is not None:
                rlist.append(self._listener)
            if client is not None:
                rlist.append(client)
                if self._tcp_out:
                    wlist.append(client)
            readable, writable, _ = select.select(rlist, wlist, [], 1.0)
            if self._wake_r in readable:
                os.read(self._wake_r, 4096)
            if master is not None and master in readable:
                self._read_pty(master)
            if master is not None and master in writable:
                self._write_pty(master)
            if self._listener is not None and self._listener in readable:
                self._accept()
            if client is not None and client is self._client:
                if client in readable:
                    self._read_tcp(client)
                if client is self._client and client in writable:
                    self._write_tcp(client)
            while True:
                try:
                    fn, done = self._commands.get_nowait()
                except queue.Empty:
                    break
                try:
                    fn()
                finally:
                    done.set()
        while True:  # release anyone still waiting for a command
            try:
                self._commands.get_nowait()[1].set()
            except queue.Empty:
                break

    def _read_pty(self, master: int) -> None:
        try:
            data = os.read(master, 4096)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno == errno.EIO:
                return  # no slave open: nothing to read
            raise
        if data and self.plugged:
            self._host_spoke = True  # a host opened the port and set it up
            self.modem.feed(data)

    def _write_pty(self, master: int) -> None:
        with self._out_lock:
            data = bytes(self._pty_out)
        try:
            n = os.write(master, data)
        except (BlockingIOError, OSError):
            return
        with self._out_lock:
            del self._pty_out[:n]

    def _accept(self) -> None:
        try:
            conn, _ = self._listener.accept()  # type: ignore[union-attr]
        except BlockingIOError:
            return
        if not self.plugged:
            conn.close()  # an unplugged modem refuses connections
            return
        self._drop_client()  # a serial port has one owner: the newest connection wins
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._out_lock:
            self._client = conn

    def _read_tcp(self, client: socket.socket) -> None:
        try:
            data = client.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop_client()
        elif self.plugged:
            self.modem.feed(data)

    def _write_tcp(self, client: socket.socket) -> None:
        with self._out_lock:
            data = bytes(self._tcp_out)
        try:
            n = client.send(data)
        except BlockingIOError:
            return
        except OSError:
            self._drop_client()
            return
        with self._out_lock:
            del self._tcp_out[:n]


def _held_elsewhere(tty: str, own_fd: int | None) -> bool:
    """Whether any descriptor of any process but this port's own `own_fd` is open on `tty` (what
    the kernel's tty layer knows and a pty does not tell its master)."""
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # gone, or not ours to read
            continue
        for fd in fds:
            if pid == me and own_fd is not None and fd == str(own_fd):
                continue
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == tty:
                    return True
            except OSError:
                continue
    return False


def _write_some(fd: int, data: bytes) -> int:
    """Write what the non-blocking pty takes now; the rest waits for the I/O thread."""
    try:
        return os.write(fd, data)
    except (BlockingIOError, OSError):
        return 0
