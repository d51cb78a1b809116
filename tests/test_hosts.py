"""Which Host headers a server answers: a loopback server only its loopback names; one listening
on every address (--host 0.0.0.0 --allow-remote) this machine's names and addresses; and the
names of `[server] hosts` (a reverse proxy's, a DNS name), with or without the port. Anything
else is refused (421), against DNS rebinding."""

from __future__ import annotations

from pathlib import Path

import httpx2

from control_room.config import load_settings
from control_room.server.guard import machine_names
from tests.serving import running_server


async def _status(url: str, host: str) -> int:
    async with httpx2.AsyncClient(timeout=30) as http:
        return (await http.get(f"{url}/api/health", headers={"Host": host})).status_code


async def test_a_server_on_every_address_answers_this_machines_names_and_the_named_ones(
    tmp_path: Path,
) -> None:
    extra = ("CTL.example.com", "10.9.8.7:4000")
    async with running_server(tmp_path, host="0.0.0.0", extra_hosts=extra) as server:
        port = server.port
        names = sorted(machine_names())
        assert names, "this machine has a host name"
        for name in names:
            assert await _status(server.url, f"{name}:{port}") == 200, name
        for host in ("ctl.example.com", f"ctl.example.com:{port}", "10.9.8.7:4000"):
            assert await _status(server.url, host) == 200, host
        for host in ("attacker.example", "10.9.8.7", f"0.0.0.0:{port}", f"evil.com:{port}"):
            assert await _status(server.url, host) == 421, host


async def test_a_loopback_server_answers_only_loopback_names(tmp_path: Path) -> None:
    async with running_server(tmp_path) as server:
        for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
            assert await _status(server.url, host) == 200
        for name in machine_names() - {"127.0.0.1", "localhost", "[::1]"}:
            assert await _status(server.url, f"{name}:{server.port}") == 421, name


def test_server_hosts_are_read_from_the_config(tmp_path: Path) -> None:
    config = tmp_path / "control-room.toml"
    config.write_text('[server]\nhosts = ["ctl.example.com", "10.0.0.5:3003"]\n')
    assert load_settings(config).server_hosts == ("ctl.example.com", "10.0.0.5:3003")
