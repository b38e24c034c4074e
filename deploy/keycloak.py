"""A real OpenID provider for dev and tests: Keycloak, fetched from Maven Central and run on loopback.

The distribution is cached under `$SAFEGUARDING_CACHE` (default `~/.cache/safeguarding`), so only
the first run downloads it (~160 MB). Each run gets its own home folder (symlinks to the cached
distribution plus its own `data/`), so concurrent runs never share a database, and the project's
realm (deploy/keycloak/safeguarding-realm.json: one user per rota person, their roles, the
console's and the APIs' clients) is imported at start with `--import-realm`.

    python -m deploy.keycloak fetch          # download once (bootstrap does this)
    python -m deploy.keycloak run [PORT]     # a provider on 127.0.0.1 until Ctrl-C
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import httpx

from deploy.processes import die_with_parent, stop_process

KEYCLOAK_VERSION = "26.4.7"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip"
REALM_FILE = Path(__file__).resolve().parent / "keycloak" / "safeguarding-realm.json"
REALM = "safeguarding"
API_AUDIENCE = "safeguarding-api"
TEST_CLIENT = "safeguarding-tests"  # the only client with the password grant
CONSOLE_CLIENT = "safeguarding-console"
ADMIN_USER, ADMIN_PASSWORD = "admin", "admin-dev-password"
DISTRIBUTION_PARTS = ("bin", "conf", "lib", "providers", "themes", "version.txt")


class KeycloakError(RuntimeError):
    """The local Keycloak could not be fetched or started."""


def dev_password(person_id: str) -> str:
    """The realm's published password for a rota person: dev and tests only."""
    return f"{person_id}-dev-password"


def cache_dir() -> Path:
    root = os.environ.get("SAFEGUARDING_CACHE") or str(Path.home() / ".cache" / "safeguarding")
    return Path(root) / "keycloak"


def fetch() -> Path:
    """Download and unpack the pinned distribution once; return its folder."""
    home = cache_dir() / KEYCLOAK_VERSION
    if (home / "bin" / "kc.sh").exists():
        return home
    if shutil.which("mvn") is None:
        raise KeycloakError("Maven (mvn) is needed to fetch Keycloak from Maven Central")
    print(f"fetching Keycloak {KEYCLOAK_VERSION} from Maven Central (first run only)…", flush=True)
    got = subprocess.run(
        ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if got.returncode != 0:
        raise KeycloakError(
            f"mvn failed to fetch Keycloak:\n{got.stdout[-2000:]}{got.stderr[-2000:]}"
        )
    archive = _local_repository() / (
        f"org/keycloak/keycloak-quarkus-dist/{KEYCLOAK_VERSION}/"
        f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
    )
    staging = cache_dir() / f"unpack.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    with zipfile.ZipFile(archive) as unzipped:
        unzipped.extractall(staging)
    (staging / f"keycloak-{KEYCLOAK_VERSION}" / "bin" / "kc.sh").chmod(0o755)
    # Rename last, so a half-finished unpack never looks like a cached one.
    with contextlib.suppress(FileExistsError, OSError):
        (staging / f"keycloak-{KEYCLOAK_VERSION}").rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    if not (home / "bin" / "kc.sh").exists():
        raise KeycloakError(f"unpacking Keycloak into {home} failed")
    return home


def _local_repository() -> Path:
    """Maven's local repository: $MAVEN_REPO_LOCAL if set, else Maven's default."""
    configured = os.environ.get("MAVEN_REPO_LOCAL")
    return Path(configured) if configured else Path.home() / ".m2" / "repository"


_ISSUED_BELOW_32768: set[int] = set()
_ISSUED_BELOW_32768_LOCK = threading.Lock()


def reserve_ports(ports: Iterable[int]) -> None:
    """Ports this process will bind itself later (the launcher's services): never handed out by
    free_ports_below_32768, so its Keycloak cannot take one of them first."""
    with _ISSUED_BELOW_32768_LOCK:
        _ISSUED_BELOW_32768.update(ports)


def free_ports_below_32768(count: int) -> list[int]:
    """Listening ports outside Linux's ephemeral range (32768-60999, docs TOOLS.md), held until
    all are found so they differ from each other. The scan is the same on every call, so a port is
    never handed out twice in one process (as deploy.kafka_broker.free_ports): a second call before
    the first caller binds would otherwise return the very same ports."""
    held: list[socket.socket] = []
    try:
        with _ISSUED_BELOW_32768_LOCK:  # the launcher starts Keycloak from a worker thread
            for port in range(20000 + os.getpid() % 5000, 32768, 7):
                if port in _ISSUED_BELOW_32768:
                    continue
                sock = socket.socket()
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    sock.close()
                    continue
                held.append(sock)
                if len(held) == count:
                    chosen = [int(s.getsockname()[1]) for s in held]
                    _ISSUED_BELOW_32768.update(chosen)
                    return chosen
    finally:
        for sock in held:
            sock.close()
    raise KeycloakError("no free ports below 32768")


@dataclass
class LocalKeycloak:
    process: subprocess.Popen[bytes]
    port: int
    home: Path
    own_home: bool
    started_at: float
    ready_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/realms/{REALM}"

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/token"

    def stop(self, timeout: float = 30.0) -> None:
        stop_process(self.process, timeout)
        if self.own_home:
            shutil.rmtree(self.home, ignore_errors=True)


def start(port: int | None = None, home: Path | None = None) -> LocalKeycloak:
    """Start `kc.sh start-dev` on 127.0.0.1 with the project's realm; returns at once."""
    distribution = fetch()
    if shutil.which("java") is None:
        raise KeycloakError("Java 17+ is needed to run Keycloak")
    own_home = home is None
    home = Path(tempfile.mkdtemp(prefix="keycloak-")) if home is None else home
    for part in DISTRIBUTION_PARTS:
        link = home / part
        if not link.exists():
            link.symlink_to(distribution / part)
    (home / "data" / "import").mkdir(parents=True, exist_ok=True)
    shutil.copy(REALM_FILE, home / "data" / "import" / REALM_FILE.name)
    free = free_ports_below_32768(2)
    port = port or free[0]
    management_port = free[1] if free[1] != port else free[0]
    env = dict(os.environ) | {
        "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
        "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
    }
    with (home / "keycloak.log").open("ab") as log:
        process = subprocess.Popen(
            [str(distribution / "bin" / "kc.sh"), "start-dev",
             f"-Dkc.home.dir={home}",  # after kc.sh's own: this run's data and import folders
             "--http-host", "127.0.0.1", "--http-port", str(port),
             "--http-management-port", str(management_port),
             "--import-realm"],
            stdout=log, stderr=subprocess.STDOUT, env=env,
            start_new_session=True, preexec_fn=die_with_parent(),
        )  # fmt: skip
    return LocalKeycloak(process, port, home, own_home, time.monotonic())


def wait_ready(keycloak: LocalKeycloak, limit_seconds: float = 240.0) -> float:
    """Ready means the realm's discovery document is served (the import is done)."""
    deadline = time.monotonic() + limit_seconds
    url = f"{keycloak.issuer}/.well-known/openid-configuration"
    while time.monotonic() < deadline:
        if keycloak.process.poll() is not None:
            raise KeycloakError(
                f"Keycloak exited with {keycloak.process.returncode}; see {keycloak.home}/keycloak.log"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                keycloak.ready_seconds = time.monotonic() - keycloak.started_at
                return keycloak.ready_seconds
        time.sleep(0.5)
    raise KeycloakError(f"Keycloak not ready in {limit_seconds:.0f} s; see {keycloak.home}")


def start_and_wait(port: int | None = None) -> LocalKeycloak:
    keycloak = start(port)
    try:
        wait_ready(keycloak)
    except BaseException:
        keycloak.stop()
        raise
    return keycloak


def password_grant(keycloak: LocalKeycloak, person_id: str, client_id: str = TEST_CLIENT) -> str:
    """An access token for a rota person, by a test client's password grant (the realm's test
    clients: `safeguarding-tests`, `-expiring` (2 s tokens), `-other-audience`)."""
    response = httpx.post(
        keycloak.token_url,
        data={
            "grant_type": "password",
            "client_id": client_id,
            "username": person_id,
            "password": dev_password(person_id),
            "scope": "openid",
        },
        timeout=10,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def register_console(keycloak: LocalKeycloak, console_url: str) -> None:
    """Point the console client's redirect and sign-out addresses at `console_url` (the realm file
    names the default, http://127.0.0.1:8005; a test or a moved port base runs elsewhere). Through
    the admin API of this local, throwaway provider only: a real provider is configured by its
    administrators."""
    base = console_url.rstrip("/")
    admin = httpx.post(
        f"{keycloak.base_url}/realms/master/protocol/openid-connect/token",
        data={"grant_type": "password", "client_id": "admin-cli",
              "username": ADMIN_USER, "password": ADMIN_PASSWORD},
        timeout=10,
    )  # fmt: skip
    admin.raise_for_status()
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    clients_url = f"{keycloak.base_url}/admin/realms/{REALM}/clients"
    found = httpx.get(clients_url, params={"clientId": CONSOLE_CLIENT}, headers=headers, timeout=10)
    found.raise_for_status()
    client = found.json()[0]
    client["redirectUris"] = [f"{base}/auth/callback"]
    client["webOrigins"] = [base]
    client.setdefault("attributes", {})["post.logout.redirect.uris"] = f"{base}/signed-out"
    updated = httpx.put(f"{clients_url}/{client['id']}", json=client, headers=headers, timeout=10)
    updated.raise_for_status()


def main() -> None:
    import sys

    command = sys.argv[1] if len(sys.argv) > 1 else "fetch"
    if command == "fetch":
        print(f"Keycloak {KEYCLOAK_VERSION}: {fetch()}")
        return
    if command == "run":
        keycloak = start_and_wait(int(sys.argv[2]) if len(sys.argv) > 2 else None)
        print(
            f"Keycloak ready in {keycloak.ready_seconds:.1f} s; issuer {keycloak.issuer}; "
            f"admin console {keycloak.base_url}/admin (admin / admin-dev-password); Ctrl-C to stop",
            flush=True,
        )
        try:
            with contextlib.suppress(KeyboardInterrupt):
                keycloak.process.wait()
        finally:
            keycloak.stop()
        return
    raise SystemExit(f"unknown command {command!r}: use fetch or run")


if __name__ == "__main__":
    main()
