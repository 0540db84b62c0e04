"""A real Samba AD domain controller for the test suite (see CONTRACTS.md section 4).

``samba_dc`` (session) provisions a domain once, starts ``samba`` on 127.0.0.1:389/636
and yields a :class:`SambaDC`; ``samba_ou`` (function) gives each test its own empty OU.
Provisioned domains are cached under ``~/.cache/itbot`` (set ``ITBOT_SAMBA_CACHE=0`` to
provision afresh). The ports are fixed, so a file lock serialises DCs across test runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from ldap3 import AUTO_BIND_NO_TLS, AUTO_BIND_TLS_BEFORE_BIND, NONE, SCHEMA, Connection, Server, Tls
from ldap3.core.exceptions import LDAPNoSuchObjectResult

from tests.support.services import unavailable

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
REALM = "CORP.EXAMPLE.TEST"
BASE_DN = "DC=corp,DC=example,DC=test"
ADMIN_PASSWORD = "Passw0rd!Test1"
TREE_DELETE = ("1.2.840.113556.1.4.805", True, None)
LOCK_FILE = "/tmp/itbot-samba.lock"
TEMPLATE_MAX_AGE = 7 * 86400  # rebuild well before max-pwd-age (42 d) or cert expiry
PROVISION = [
    "domain", "provision", "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307",
    f"--realm={REALM}", "--domain=CORP", f"--adminpass={ADMIN_PASSWORD}", "--host-name=dc1",
]
OPTIONS = [  # {d} is the DC's directory
    "interfaces=lo", "bind interfaces only=yes", "server services=ldap", "prefork children=1",
    "pid directory={d}/run", "ncalrpc dir={d}/run/ncalrpc", "log file={d}/log/log.%m",
    "winbindd socket directory={d}/run/winbindd", "ntp signd socket directory={d}/run/ntp_signd",
]
RUNTIME_LEFTOVERS = ["run", "log", "msg.lock", "msg.sock", "private/ldapi", "private/ldap_priv"]


@dataclass(frozen=True)
class SambaDC:
    """The running DC. DNs are strings; ``connect()`` gives a bound ldap3 Connection."""

    host: str
    ldap_url: str
    ldaps_url: str
    realm: str
    netbios_domain: str
    dns_domain: str  # also the UPN suffix
    base_dn: str
    admin_dn: str
    admin_password: str
    ca_file: str
    tls_name: str  # certificate CN (no SAN): always validate against it
    workdir: Path
    itbot_ou: str
    users_ou: str
    groups_ou: str
    disabled_ou: str

    def tls(self) -> Tls:
        return Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_file,
                   valid_names=[self.tls_name])

    def connect(self, user: str | None = None, password: str | None = None, *,
                starttls: bool = False, get_info=SCHEMA) -> Connection:
        """A bound connection (Administrator by default) over LDAPS, or StartTLS on 389.

        Samba closes connections idle for 900 s (MaxConnIdleTime): don't keep one forever.
        """
        server = Server(self.host, port=389 if starttls else 636, use_ssl=not starttls,
                        tls=self.tls(), get_info=get_info, connect_timeout=5)
        # AUTO_BIND_TLS_BEFORE_BIND reads the schema only after the bind; a manual
        # open(); start_tls(); bind() reads it anonymously and Samba refuses (00002020).
        return Connection(server, user or self.admin_dn,
                          self.admin_password if password is None else password,
                          auto_bind=AUTO_BIND_TLS_BEFORE_BIND if starttls else AUTO_BIND_NO_TLS,
                          raise_exceptions=True, receive_timeout=30)


def _port_open(port: int) -> bool:
    try:
        socket.create_connection((HOST, port), timeout=1).close()
        return True
    except OSError:
        return False


def _run(*args: str, what: str, timeout: float = 300) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"{what} failed: {exc}")
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-2000:]
        unavailable(f"{what} failed (exit {done.returncode}):\n{tail}")


def _provision(d: Path) -> None:
    opts = [f"--option={o.format(d=d)}" for o in OPTIONS]
    _run("samba-tool", *PROVISION, f"--targetdir={d}", *opts, what="samba-tool domain provision")
    for sub in ("run", "log", "cache"):  # provision does not create cache/
        (d / sub).mkdir(exist_ok=True)
    _run("samba-tool", "domain", "passwordsettings", "set", "--min-pwd-age=0", "--history-length=0",
         "-H", str(d / "private/sam.ldb"), "-s", str(d / "etc/smb.conf"),
         what="samba-tool domain passwordsettings set")


def _start(d: Path) -> subprocess.Popen:
    logfile = d / "log" / "samba.out"
    with open(logfile, "wb") as out:
        # stdin stays an open pipe: samba -i exits on EOF, so it dies with this process.
        cmd = ["samba", "-i", "--no-process-group", "-s", str(d / "etc/smb.conf")]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while not _port_open(636):
        code = proc.poll()
        if code is not None or time.monotonic() > deadline:
            _stop(proc)
            why = f"exited with {code}" if code is not None else "did not listen on 636 in 60 s"
            unavailable(f"samba {why}:\n{logfile.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)  # the whole session: root process and its workers
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
            break
    proc.stdin.close()
    deadline = time.monotonic() + 15
    while _port_open(636):
        if time.monotonic() > deadline:
            raise RuntimeError("samba stopped but 127.0.0.1:636 still accepts connections")
        time.sleep(0.05)


def _ignore_special(directory: str, names: list[str]) -> list[str]:
    """copytree cannot copy sockets left behind by a stopped samba."""
    return [n for n in names if stat.S_ISSOCK(os.lstat(os.path.join(directory, n)).st_mode)]


def _template(version: str) -> Path:
    """A provisioned, once-started (TLS keys made) and scrubbed domain, built under the lock."""
    key = hashlib.sha256(repr((version, PROVISION, OPTIONS)).encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "itbot"
    template = cache / f"samba-{re.sub(r'[^A-Za-z0-9.]+', '-', version)}-{key}"
    ready = template / ".itbot-ready"
    if ready.exists() and time.time() - ready.stat().st_mtime < TEMPLATE_MAX_AGE:
        return template
    for stale in [template, *cache.glob(template.name + ".build-*")]:  # we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    cache.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=template.name + ".build-", dir=cache))
    try:
        _provision(build)
        _stop(_start(build))
        for leftover in RUNTIME_LEFTOVERS:
            shutil.rmtree(build / leftover, ignore_errors=True)
        for sub in ("run", "log"):
            (build / sub).mkdir()
        conf = build / "etc/smb.conf"
        conf.write_text(conf.read_text().replace(str(build), str(template)))
        (build / ready.name).write_text(version + "\n")
        build.rename(template)  # atomic: a template is complete or absent
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return template


def _prepare(workdir: Path, version: str) -> None:
    if os.environ.get("ITBOT_SAMBA_CACHE", "1") == "0":
        _provision(workdir)
        return
    template = _template(version)
    shutil.copytree(template, workdir, symlinks=True, ignore=_ignore_special, dirs_exist_ok=True)
    conf = workdir / "etc/smb.conf"
    conf.write_text(conf.read_text().replace(str(template), str(workdir)))


def _lock(timeout: float):
    handle = open(LOCK_FILE, "a+")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                unavailable(f"another test run holds {LOCK_FILE} (its Samba DC owns ports "
                            f"389/636) for more than {timeout:.0f} s")
            time.sleep(0.5)


def _preflight() -> str:
    missing = [b for b in ("samba", "samba-tool") if not shutil.which(b)]
    if missing:
        unavailable(f"Samba AD DC not installed ({', '.join(missing)} not on PATH); "
                    "apt-get install samba-ad-dc samba-ad-provision ldb-tools")
    if os.geteuid() != 0:
        unavailable("Samba AD DC needs root (provisioning chowns files; 389/636 are privileged)")
    out = subprocess.run(["samba", "-V"], capture_output=True, text=True, timeout=30).stdout
    return out.strip().removeprefix("Version ").strip() or "unknown"


@pytest.fixture(scope="session")
def samba_dc():
    version = _preflight()
    started = time.monotonic()
    lock = _lock(float(os.environ.get("ITBOT_SAMBA_LOCK_TIMEOUT", "300")))
    for stale in Path(tempfile.gettempdir()).glob("itbot-samba-*"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    workdir = Path(tempfile.mkdtemp(prefix="itbot-samba-"))
    try:
        busy = [p for p in (389, 636) if _port_open(p)]
        if busy:
            unavailable(f"port(s) {busy} on {HOST} already in use by a server that is not ours")
        t0 = time.monotonic()
        _prepare(workdir, version)
        t1 = time.monotonic()
        proc = _start(workdir)
        t2 = time.monotonic()
        try:
            itbot = f"OU=itbot,{BASE_DN}"
            dc = SambaDC(
                host=HOST, ldap_url=f"ldap://{HOST}:389", ldaps_url=f"ldaps://{HOST}:636",
                realm=REALM, netbios_domain="CORP", dns_domain=REALM.lower(), base_dn=BASE_DN,
                admin_dn=f"CN=Administrator,CN=Users,{BASE_DN}", admin_password=ADMIN_PASSWORD,
                ca_file=str(workdir / "private/tls/ca.pem"), tls_name=f"DC1.{REALM.lower()}",
                workdir=workdir, itbot_ou=itbot, users_ou=f"OU=Users,{itbot}",
                groups_ou=f"OU=Groups,{itbot}", disabled_ou=f"OU=Disabled Users,{itbot}",
            )
            conn = dc.connect()
            for dn in (dc.itbot_ou, dc.users_ou, dc.groups_ou, dc.disabled_ou):
                conn.add(dn, ["top", "organizationalUnit"])
            conn.unbind()
            log.info("samba_dc ready: lock %.2f s, prepare %.2f s, start %.2f s, total %.2f s",
                     t0 - started, t1 - t0, t2 - t1, time.monotonic() - started)
            yield dc
        finally:
            t3 = time.monotonic()
            _stop(proc)
            log.info("samba_dc stopped in %.2f s", time.monotonic() - t3)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        lock.close()  # releases the flock


@pytest.fixture
def samba_ou(samba_dc: SambaDC, request):
    """DN of a fresh, empty OU under OU=itbot, tree-deleted after the test."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:40]
    dn = f"OU={name}-{uuid.uuid4().hex[:8]},{samba_dc.itbot_ou}"
    conn = samba_dc.connect(get_info=NONE)
    conn.add(dn, ["top", "organizationalUnit"])
    conn.unbind()
    yield dn
    conn = samba_dc.connect(get_info=NONE)  # fresh: Samba drops connections idle for 900 s
    with contextlib.suppress(LDAPNoSuchObjectResult):  # the test may have removed it
        conn.delete(dn, controls=[TREE_DELETE])
    conn.unbind()
