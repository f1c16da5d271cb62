"""Apache httpd (Debian ``apache2``) serving TLS on 127.0.0.1 for tests: its own
minimal config (ServerRoot, PidFile, logs and runtime files in a temporary
directory; mpm_event and mod_ssl loaded from Debian's module folder), started
in the foreground and stopped by its pid. Every request is one line of its
access log, so a test can hold a load generator's count against Apache's."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fleetplane.launch import free_port

EXE = "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")

CONF = """\
ServerRoot "{dir}"
DefaultRuntimeDir "{dir}/run"
PidFile "{dir}/run/httpd.pid"
ErrorLog "{dir}/error.log"
LogLevel warn
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
{user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule dir_module {modules}/mod_dir.so
LoadModule socache_shmcb_module {modules}/mod_socache_shmcb.so
LoadModule ssl_module {modules}/mod_ssl.so

StartServers 1
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50

LogFormat "%h %>s \\"%r\\" %X %{{SSL_SESSION_RESUMED}}x" connector
CustomLog "{dir}/access.log" connector

SSLSessionCache "shmcb:{dir}/run/ssl_scache(512000)"
DocumentRoot "{htdocs}"
DirectoryIndex index.html
<Directory "{htdocs}">
    Require all granted
</Directory>

<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile "{cert}"
    SSLCertificateKeyFile "{key}"
</VirtualHost>
"""


@dataclass(frozen=True)
class ApacheServer:
    url: str
    pid: int
    access_log: Path
    error_log: Path

    def access_lines(self) -> list[str]:
        """The access log so far, one request a line:
        ``client status "request line" connection-status Initial|Resumed``."""
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []

    def requests_logged(self, request_line: str = "GET / HTTP/1.1") -> int:
        """Access-log lines for ``request_line`` so far."""
        return sum(f'"{request_line}"' in line for line in self.access_lines())


def missing() -> str | None:
    if not os.access(EXE, os.X_OK):
        return f"Apache httpd is not installed ({EXE}; apt-get install apache2)"
    if not (MODULES / "mod_ssl.so").exists():
        return f"mod_ssl is missing from {MODULES}"
    return None


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _user_lines() -> str:
    """Started as root, Apache's children switch to ``User``: Debian's
    ``www-data`` (or ``nobody``). Otherwise they keep the caller's user."""
    if os.geteuid() != 0:
        return ""
    for user, group in (("www-data", "www-data"), ("nobody", "nogroup")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
        except KeyError:
            continue
        return f"User {user}\nGroup {group}\n"
    return ""


@contextmanager
def apache_tls(directory: Path, cert: Path, key: Path, *,
               attempts: int = 3) -> Iterator[ApacheServer]:
    """Apache answering ``GET /`` with 200 ``ok`` over TLS with ``cert``/``key``.

    Certificate, key and logs are opened by the parent before it drops
    privileges; the page is served by the children, so it lives in a folder
    of its own that they can read (``directory`` may be private)."""
    (directory / "run").mkdir(parents=True, exist_ok=True)
    htdocs = Path(tempfile.mkdtemp(prefix="fleetload-apache-htdocs-"))
    htdocs.chmod(0o755)
    (htdocs / "index.html").write_text("ok")
    (htdocs / "index.html").chmod(0o644)
    conf = directory / "httpd.conf"
    error_log = directory / "error.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(attempts):
            port = free_port()
            conf.write_text(CONF.format(dir=directory, port=port, modules=MODULES, cert=cert,
                                        key=key, htdocs=htdocs, user=_user_lines()))
            # The config names every path itself, so none of the APACHE_* variables
            # Debian's apache2ctl sets is needed; LANG=C keeps its messages plain.
            proc = subprocess.Popen([EXE, "-d", str(directory), "-f", str(conf), "-DFOREGROUND"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                         "LANG": "C"})
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None and not _listening(port):
                time.sleep(0.05)
            if proc.poll() is None and _listening(port):
                break
            _stop(proc)
            proc = None
            if attempt == attempts - 1:
                log = error_log.read_text()[-2000:] if error_log.exists() else ""
                raise RuntimeError(f"apache2 did not listen on {port}: {log}")
        assert proc is not None
        yield ApacheServer(f"https://127.0.0.1:{port}", proc.pid, directory / "access.log",
                           error_log)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(htdocs, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    # SIGTERM to the parent stops its children too (Apache's "stop now").
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
