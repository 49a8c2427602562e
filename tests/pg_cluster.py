"""A PostgreSQL server of the tests' own, for what the shared one cannot do: archive its log and
take replication connections (tests/integration/test_backup_postgresql.py). Made with initdb in
a folder the server's OS user can reach, run by kanim's own `Server` (kanim/backup/pg.py, which
the drill uses on a restored cluster) as a real process."""

from __future__ import annotations

from kanim.backup.pg import Server, give_to_server, scratch_dir
from kanim.backup.pg import server_unavailable as unavailable  # noqa: F401 - the tests' skip reason


class Cluster(Server):
    base_dir = staticmethod(scratch_dir)

    def own(self, *paths) -> None:  # noqa: ANN002
        for p in paths:
            give_to_server(p)

    def init(self, **conf: str) -> Cluster:
        self.data.mkdir(mode=0o700)
        self.own(self.data)
        r = self.run("initdb", "-D", str(self.data), "--auth=trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        assert r.returncode == 0, r.stderr
        self.configure(fsync="off", **conf)
        return self
