"""`kanim demo` (what `make demo` runs): a central hub and an office as real processes, each with
its own database (SQLite in the demo folder), linked by the real signed link, so a newcomer sees
kanim as an office runs it.

The first run provisions the folder the way operators would (kanim/ops/cluster.py: keys, the
office registered at the central, a booklet range allocated and received, staff accounts on both
nodes), loads the central's civil-registry extract (the day's applicants and a few spare people)
and one watch-list order, starts the central, and seeds the office's day through the link
(kanim/seed.py). Later runs serve what is there: nothing is wiped but by `kanim demo --reset`
(`make demo-reset`).

    <demo folder>/
      .kanim-demo            marker: made by `kanim demo` (--reset removes only such a folder)
      seeded                 written when seeding finished; a folder without it is seeded again
      dukcapil-extract.csv   the central's civil-registry extract
      central/               the central's database, keys and central.log
      office/                the office's database, vault, keys and office.log
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kanim.security.filemodes import create_private, private_dir
from kanim.ops.cluster import (
    CENTRAL_ROLES,
    CentralSpec,
    NodeProcess,
    OfficeSpec,
    isolated,
    listen_problem,
    office_roles,
    provision,
    sigterm_as_interrupt,
)

OFFICE_CODE, OFFICE_NAME = "DEMO", "Kantor Imigrasi Demo"
OFFICE_PHONE = "(021) 555 0100"  # told to applicants in every message
MARKER, SEEDED, EXTRACT = ".kanim-demo", "seeded", "dukcapil-extract.csv"
BOOKLETS = ("X1000001", "X1000500")
LINK_INTERVAL = "1"  # seconds between the office's link rounds when idle
# The applicants' Telegram bot, at the stand-in: a visitor may post an Update to the office's
# webhook with this secret token (docs/notifications.md) as Telegram would.
DEMO_BOT = "KanimDemoBot"
DEMO_TELEGRAM_SECRET = "kanim-demo-telegram-secret"
WATCHLIST_NIK = "3171010101800099"  # the demo's one prevention order names no applicant
START_TIMEOUT = 60.0


class DemoError(Exception):
    """The demo cannot start (a port taken, a folder that is not the demo's); one line."""


def demo_password(role: str) -> str:
    """Every demo account's password, from its role: printed by every run, never stored."""
    return f"demo-{role.replace('_', '-')}"


@dataclass(frozen=True)
class Demo:
    root: Path
    host: str = "127.0.0.1"
    port: int = 8000
    central_port: int = 8001
    sink_port: int | None = None  # the stand-in providers (kanim/ops/notify_sink.py); default port + 2

    @property
    def messages_port(self) -> int:
        return self.sink_port if self.sink_port is not None else self.port + 2

    @property
    def messages_url(self) -> str:
        return f"http://{self.host}:{self.messages_port}"

    def sink(self) -> NodeProcess:
        """The providers' stand-in as a process of its own, like a provider across the network."""
        root = self.root / "messages"
        root.mkdir(exist_ok=True)
        return NodeProcess("messages", ["notify", "sink", "--host", self.host, "--port", str(self.messages_port)],
                           {**os.environ, "KANIM_DATA_DIR": str(root)}, root / "sink.log", url=self.messages_url)

    def central(self) -> CentralSpec:
        return CentralSpec(self.root / "central", self.central_port, treasury="trusting", host=self.host)

    def office(self) -> OfficeSpec:
        return OfficeSpec(OFFICE_CODE, self.root / "office", self.port, self.central().url, host=self.host,
                          central_public_key=self._central_public_key(),
                          extra={"office_name": OFFICE_NAME, "office_phone": OFFICE_PHONE, "link_interval": LINK_INTERVAL,
                                 "chip_required": self._chips(), **self._channels()})

    def _chips(self) -> str:
        """An office whose demo made its Document Signer (demo_chip.set_up, where SoftHSM2 is)
        requires chip content like a real office; one seeded without (no SoftHSM2 then) prints
        blank chips and says so, even once SoftHSM2 is installed (`make demo-reset` starts over
        with chips)."""
        from kanim.chip import softhsm
        from kanim.ops import demo_chip

        if self.state() == "seeded":
            return "true" if (self.root / demo_chip.CSCA_DIR).is_dir() else "false"
        return "true" if softhsm.available() is None else "false"

    def _channels(self) -> dict[str, str]:
        """The office's notification channels, pointed at the demo's stand-in providers: the
        worker sends for real over HTTP, and nothing leaves the machine."""
        from kanim.ops import notify_sink

        base = self.messages_url
        # No quiet hours: a visitor at night should see the messages go out too (an office's own
        # default holds non-urgent messages from 21:00 to 07:00; set them in office/.env to try).
        return {"notify_whatsapp_url": notify_sink.whatsapp_url(base), "notify_sms_url": notify_sink.sms_url(base),
                "notify_office_url": notify_sink.office_url(base), "notify_telegram_url": notify_sink.telegram_url(base),
                "notify_telegram_bot": DEMO_BOT, "notify_telegram_secret": DEMO_TELEGRAM_SECRET,
                "notify_quiet_start": "00:00", "notify_quiet_end": "00:00"}

    def _central_public_key(self) -> str:
        """The key the office verifies the central's feed and snapshots with ("" until provisioned)."""
        from kanim.protocol.signing import load_or_create_key, public_b64

        path = self.root / "central" / "keys" / "central_ed25519.pem"
        return public_b64(load_or_create_key(path)) if path.is_file() else ""

    def state(self) -> str:
        """fresh (nothing there), seeded, unfinished (a seeding that stopped half-way, or an
        older demo's layout) or foreign (not made by the demo: never touched)."""
        if not self.root.exists() or not any(self.root.iterdir()):
            return "fresh"
        if not (self.root / MARKER).is_file():
            return "foreign"
        return "seeded" if (self.root / SEEDED).is_file() else "unfinished"


def check_ports(demo: Demo) -> None:
    """Every port, before anything is written or printed."""
    ports = (("office", demo.port, "PORT"), ("central", demo.central_port, "CENTRAL_PORT"),
             ("message stand-in", demo.messages_port, "SINK_PORT"))
    if len({p for _, p, _ in ports}) < len(ports):
        raise DemoError("the office, the central and the message stand-in need three ports: "
                        + ", ".join(f"{n} {p}" for n, p, _ in ports))
    for node, port, var in ports:
        if problem := listen_problem(demo.host, port):
            raise DemoError(f"{problem}: the demo's {node} cannot listen there (choose another: make demo {var}=…)")


def reset(root: Path) -> str:
    demo = Demo(root.resolve())
    state = demo.state()
    if state == "foreign":
        raise DemoError(f"{demo.root} was not made by `kanim demo` (no {MARKER} in it): not removing it")
    if state == "fresh":
        return f"nothing to reset: {demo.root} holds no demo"
    with running(demo.root):
        _empty(demo.root)
    demo.root.rmdir()
    return f"removed the demo in {demo.root}; the next `make demo` seeds a fresh one"


@contextlib.contextmanager
def running(root: Path) -> Iterator[None]:
    """One demo at a time in a folder: two would run two nodes each on the same databases. The
    lock is on the folder itself and dies with the process, so a killed demo leaves none."""
    fd = os.open(root, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoError(f"a demo is running in {root}: stop it first (Ctrl-C where it runs)") from None
        yield
    finally:
        os.close(fd)


def _empty(root: Path) -> None:
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


# -- seeding -------------------------------------------------------------------------------------

def seed(demo: Demo, console: Console, nodes: list[NodeProcess]) -> None:
    """Provision both nodes, start the central (added to `nodes` before it starts: the caller
    stops it, whatever happens) and seed the office through the link."""
    from kanim.bootstrap import bootstrap
    from kanim.central.node import bootstrap_central
    from kanim.central.service import Order, add_watchlist_order, load_civil_registry
    from kanim.config import Settings
    from kanim.seed import PEOPLE, SPARE_PEOPLE, civil_registry_csv, seed_office

    private_dir(demo.root)  # the demo's people are fictional, but the folder is as private as a node's
    (demo.root / MARKER).write_text("made by `kanim demo`; `make demo-reset` removes this folder\n")
    central, office = demo.central(), demo.office()
    console.print("provisioning the central and the office (keys, registration, booklets, staff accounts)",
                  soft_wrap=True)
    provision(central, [office], booklets_per_office=500, password_for=demo_password)
    extract = demo.root / EXTRACT
    create_private(extract)  # NIKs, names and birth dates: 0600 like a node's own files
    extract.write_text(civil_registry_csv(PEOPLE + SPARE_PEOPLE))
    node = bootstrap_central(Settings(**central.settings()))
    load_civil_registry(node, extract)
    today = datetime.now(UTC).date()
    add_watchlist_order(node, Order("nik", WATCHLIST_NIK, "prevention", "KPK", today, today + timedelta(days=180),
                                    "demo prevention order"), actor="provision")
    node.engine.dispose()
    from kanim.ops import demo_chip
    console.print(demo_chip.set_up(demo.root, office.office_settings()), soft_wrap=True, highlight=False)
    process = central.process()
    nodes.append(process)
    process.start(wait=START_TIMEOUT)
    console.print(f"seeding the office's day through the link to the central at {central.url}", soft_wrap=True)
    node_office = bootstrap(office.office_settings())
    try:
        seed_office(node_office)
    finally:
        node_office.engine.dispose()
    (demo.root / SEEDED).write_text(f"seeded {datetime.now(UTC).isoformat()}\n")


# -- what a newcomer reads -----------------------------------------------------------------------

@dataclass
class Summary:
    stages: dict[str, int]
    booklets: dict[str, int]
    niks: set[str]  # of every application at the office
    to_track: tuple[str, str] | None = None  # (number, birth date) of a ready passport, for /track


def summary(demo: Demo) -> Summary:
    from sqlalchemy import select

    from kanim.bootstrap import bootstrap
    from kanim.domain.application import Stage
    from kanim.office import printing
    from kanim.store import tables as t

    office = bootstrap(demo.office().office_settings(), central=None)
    try:
        with office.uow(readonly=True) as uow:
            stages = uow.applications.count_by_stage()
            niks = set(uow.session.execute(select(t.application.c.nik)).scalars())
            a = t.application.c
            ready = uow.session.execute(select(a.number, a.birth_date).where(a.stage == Stage.READY)
                                        .order_by(a.number).limit(1)).first()
        r = printing.accountability(office)
    finally:
        office.engine.dispose()
    booklets = {"received": r.received, "issued": r.issued, "spoiled": r.spoiled, "in_stock": r.in_stock}
    return Summary(stages, booklets, niks, (ready.number, ready.birth_date.isoformat()) if ready else None)


def show(demo: Demo, console: Console) -> None:
    from kanim.seed import SPARE_PEOPLE

    accounts = Table(title="staff accounts (each desk is its own role: see README, 'Who works which desk')")
    for col in ("node", "username", "role", "password"):
        accounts.add_column(col)
    for role in office_roles():
        accounts.add_row("office", role, role, demo_password(role))
    for role in CENTRAL_ROLES:
        accounts.add_row("central", role, role, demo_password(role))
    console.print(accounts)
    now = summary(demo)
    spare = [p for p in SPARE_PEOPLE if p[3] not in now.niks]
    if spare:
        table = Table(title="people in the civil registry with no application yet (walk in with one)")
        for col in ("full_name", "nik", "birth_date", "sex"):
            table.add_column(col)
        for name, sex, born, nik in spare:
            table.add_row(name, nik, born.isoformat(), sex.value)
        console.print(table)
    else:
        console.print("every spare person of the civil registry has applied (`make demo-reset` for a fresh day)")
    console.print(f"applications by stage: {now.stages}", highlight=False, soft_wrap=True)
    console.print(f"booklets: {now.booklets}", highlight=False, soft_wrap=True)
    if now.to_track:
        console.print(f"to look up at /track: application {now.to_track[0]}, birth date {now.to_track[1]} (ready)",
                      highlight=False, soft_wrap=True)
    from kanim.ops import demo_chip
    if line := demo_chip.verify_one(demo.root, demo.office().office_settings()):
        console.print(line, highlight=False, soft_wrap=True)


def show_urls(demo: Demo, console: Console) -> None:
    office, central = demo.office(), demo.central()
    say = lambda text: console.print(text, highlight=False, soft_wrap=True)  # noqa: E731
    say(f"office:   {office.url}   API docs: {office.url}/docs   log: {office.data_dir / 'office.log'}")
    say(f"console:  {office.url}/staff/   (the office's staff, with the accounts above; "
        f"the central's at {central.url}/staff/)")
    say(f"public:   {office.url}/ : {office.url}/track (status lookup), {office.url}/status (the office's status page)")
    say(f"central:  {central.url}   API docs: {central.url}/docs   log: {central.data_dir / 'central.log'}")
    say(f"messages: {demo.messages_url}/   what applicants and staff were sent (WhatsApp, SMS, Telegram), "
        "received by a local stand-in: nothing leaves this machine")
    say(f"data kept in {demo.root} (`make demo-reset` wipes it). Ctrl-C stops every process.")


# -- running -------------------------------------------------------------------------------------

def run(demo: Demo, *, serve: bool = True, console: Console | None = None) -> int:
    """The whole of `kanim demo`; returns the exit code."""
    console = console or Console()
    check_ports(demo)
    state = demo.state()
    if state == "foreign":
        raise DemoError(f"{demo.root} holds something that is not a kanim demo: choose another folder (DEMO_DIR=…)")
    from kanim.seed import SeedError

    nodes: list[NodeProcess] = []
    private_dir(demo.root)
    with running(demo.root), sigterm_as_interrupt(), isolated(demo.root):  # no .env of the caller's
        from kanim.ops.demo_chip import use_token
        use_token(demo.office().data_dir)  # the office signs chips with the demo's token (docs/chip.md)
        try:
            if state == "unfinished":
                console.print(f"{demo.root} holds an unfinished (or older) demo: seeding it afresh", soft_wrap=True)
                _empty(demo.root)
            if state != "seeded":
                seed(demo, console, nodes)
            else:
                console.print(f"serving the demo already in {demo.root} (`make demo-reset` starts afresh)",
                              soft_wrap=True)
            write_env_files(demo)
            show(demo, console)
            if not serve:
                return 0
            if not nodes:
                _start(nodes, demo.central().process())
            _start(nodes, demo.sink())
            _start(nodes, demo.office().process())
            show_urls(demo, console)
            return _watch(nodes, console)
        except KeyboardInterrupt:
            console.print("stopping the office and the central")
            return 0
        except (SeedError, RuntimeError) as e:  # a node that did not start says why, with its log
            Console(stderr=True).print(f"error: the demo could not start: {e}", markup=False, highlight=False,
                                       soft_wrap=True)
            return 1
        finally:
            for node in reversed(nodes):  # the office first: its relay stops before the central
                node.stop(timeout=10)


def write_env_files(demo: Demo) -> None:
    """Each node's settings in a `.env` in its folder (written every run: the ports may change),
    so that the CLI run there reads the node as it runs, e.g.
    `cd .kanim-demo/office && kanim link status`."""
    for folder, settings in ((demo.root / "office", demo.office().settings()),
                             (demo.root / "central", demo.central().settings())):
        lines = [f"KANIM_{k.upper()}={v}" for k, v in settings.items() if v != ""]
        create_private(folder / ".env")
        (folder / ".env").write_text("# written by `kanim demo` on every run\n" + "\n".join(lines) + "\n")


def _start(nodes: list[NodeProcess], node: NodeProcess) -> None:
    nodes.append(node)  # first: a Ctrl-C while it starts up still stops it
    node.start(wait=START_TIMEOUT)


def _watch(nodes: list[NodeProcess], console: Console) -> int:
    """Until Ctrl-C (or SIGTERM); a node that dies on its own ends the demo, with its log."""
    while True:
        for node in nodes:
            if not node.alive:
                console.print(f"the {node.name} stopped by itself; the end of {node.log_path}:", highlight=False)
                console.print(node.tail(20), markup=False, highlight=False)
                return 1
        time.sleep(0.5)
