"""A throwaway PostgreSQL server for the data-source tests: initdb into a temporary folder, start on a free
loopback port, stop at the end. `.ci/run` installs PostgreSQL where it is missing."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path


def _bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} not found: install the server (apt-get install postgresql); "
                           ".ci/run does this on CI machines.")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server():
    """Yield an SQLAlchemy URL of a fresh server; everything is removed afterwards."""
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    tmp = Path(tempfile.mkdtemp(prefix="gistcausal-pg-"))
    data = tmp / "data"
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres system user
        user = "postgres"
        pw = pwd.getpwnam(user)
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", user, "--"]
    else:
        user = pwd.getpwuid(os.geteuid()).pw_name
    try:
        subprocess.run(as_user + [initdb, "-D", str(data), "-U", user, "-A", "trust", "--no-sync"],
                       check=True, capture_output=True)
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-l", str(tmp / "log"), "-w", "-t", "60", "-o",
                                  f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                       check=True, capture_output=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
