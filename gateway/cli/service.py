"""`gsmgw run`, `simulate`, `db upgrade`, `config check`: the daemon, the virtual modems, the schema, the config."""

from __future__ import annotations

import argparse
import threading

from gateway.cli.common import Commands, add_command, config_of, opened
from gateway.core import config as config_module
from gateway.core import logs
from gateway.core.config_sections import ModemSection


def register(commands: Commands) -> None:
    run = add_command(commands, "run", "run the gateway daemon")
    run.add_argument("--simulate", type=int, default=0, metavar="N", help="use N virtual modems instead of the configured ones")
    run.set_defaults(func=_run)

    simulate = add_command(commands, "simulate", "run virtual modems alone and print their port paths")
    simulate.add_argument("count", type=int, nargs="?", default=2)
    simulate.add_argument("--dir", default=None, help="where the port links go (default: <data_dir>/virtual-modems)")
    simulate.add_argument("--profile", default=None, help="sim800, e3131, ec25 or generic")
    simulate.add_argument("--tcp", action="store_true", help="also listen on TCP (socket://127.0.0.1:PORT)")
    simulate.add_argument("--control", default=None, help="control socket: a path, or 127.0.0.1:PORT")
    simulate.set_defaults(func=_simulate)

    dbc = commands.add_parser("db", help="database").add_subparsers(dest="db_command")
    upgrade = dbc.add_parser("upgrade", help="apply migrations (the daemon also does this on start)")
    upgrade.add_argument("--config")
    upgrade.set_defaults(func=_db_upgrade)

    check = commands.add_parser("config", help="configuration").add_subparsers(dest="config_command")
    check_cmd = check.add_parser("check", help="validate the config file without starting anything")
    check_cmd.add_argument("--config")
    check_cmd.set_defaults(func=_config_check)


def _run(args: argparse.Namespace) -> int:
    from gateway.daemon import Daemon

    cfg = config_of(args, required=not args.simulate)
    logs.configure(cfg.gateway.data_dir, verbose=args.verbose)
    Daemon(cfg, simulate=args.simulate).run_forever()
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from modem.virtual.cli import run_simulator

    cfg = config_of(args, required=False)
    logs.configure(None, verbose=args.verbose, serial_log=False)
    directory = args.dir or f"{cfg.gateway.data_dir}/virtual-modems"
    simulator = run_simulator(args.count, directory=directory, profile=args.profile or cfg.simulator.profile,
                              tcp=args.tcp, latency=cfg.simulator.latency_s, control=args.control,
                              report_delay=cfg.simulator.report_delay_s)
    print("Virtual modems running; press Ctrl-C to stop.", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    with opened(args) as (cfg, _, _):
        pass  # opening upgrades the schema
    print(f"database at the newest schema: {cfg.database_url}")
    return 0


def _config_check(args: argparse.Namespace) -> int:
    cfg = config_of(args)
    print(f"{cfg.source}: OK ({len(cfg.modems)} modem(s), database {cfg.database_url})")
    for modem in cfg.modems:
        print(f"  {modem.name}: {_found_by(modem, cfg.gateway.serial_scan)}")
    return 0


def _found_by(modem: ModemSection, scan: tuple[str, ...]) -> str:
    """How the daemon will find a configured modem, for `config check`."""
    named = " and ".join(f"{key} {value}" for key, value in (("IMEI", modem.imei), ("ICCID", modem.iccid)) if value)
    if not named:
        return f"on {modem.port}"
    first = f"{modem.port}, then " if modem.port else ""
    return f"the modem with {named}, looked for on {first}{', '.join(scan)}"
