"""Control rooms sharing one registry, piece by piece on real registry files: a spawn claimed in
the registry (two coordinators on one file, as two processes), engines registered and found gone,
operator tokens stored hashed and honoured by every server, where the registry is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from control_room.config import Home, Settings, load_settings, registry_location, with_registry
from control_room.domain import Conflict, InvalidInput, Run
from control_room.engine import Coordinator
from control_room.engine.peers import Peers
from control_room.engine.tokens import new_token, token_hash
from control_room.server.auth import Authenticator
from control_room.store import engine_ops
from tests.conftest import FakeClock, coordinator_at, run_cli


async def test_two_engines_racing_on_one_registry_file_start_each_task_once(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.db"
    async with coordinator_at(path) as a, coordinator_at(path) as b:
        a.engine_id, b.engine_id = "E-aaaa", "E-bbbb"
        tasks = await a.add_tasks([{"title": f"t{i}", "priority": "P0"} for i in range(30)])

        async def start(c: Coordinator, task_id: str) -> Run | Conflict:
            try:
                run, _token = await c.start_run(task_id, "scripted", "command", (), tmp_path)
            except Conflict as refused:
                return refused
            return run

        results = await asyncio.gather(
            *(start(c, t.id) for i, t in enumerate(tasks) for c in ((a, b) if i % 2 else (b, a)))
        )
        for task in tasks:
            mine = [r for r in results if isinstance(r, Run) and r.task_id == task.id]
            assert len(mine) == 1, f"{task.id} started {len(mine)} times"
        refusals = [r for r in results if isinstance(r, Conflict)]
        assert len(refusals) == len(tasks)
        winners = {r.agent_id for r in results if isinstance(r, Run)}
        assert {r.details["started_by"] for r in refusals} == winners
        assert "already has a running agent" in refusals[0].message
        live = await a.runs(live=True)
        assert len(live) == len(tasks) and {r.engine_id for r in live} <= {"E-aaaa", "E-bbbb"}
        # once the run ends, the task may be started again (by either engine)
        first = live[0]
        await b.end_run(first.agent_id, None, "exited", counts=False)
        again, _ = await b.start_run(first.task_id, "scripted", "command", (), tmp_path)
        assert (again.attempt, again.engine_id) == (2, "E-bbbb")


# Silence is measured on the registry's clock: on PostgreSQL the database server's, which a
# FakeClock cannot move; these tests run on SQLite (test_engine_clock.py covers PostgreSQL).
ON_THE_FAKE_CLOCK = pytest.mark.parametrize("backend", ["sqlite"])


def _peers(c: Coordinator, clock: FakeClock, woke: list[str], **changes: object) -> Peers:
    options: dict[str, object] = {"gone_seconds": 10.0, "host": "beta", "clock": clock}
    return Peers(
        c, Path("/data/b"), "http://b", on_others_gone=lambda: woke.append("reconciler"),
        **(options | changes),  # type: ignore[arg-type]
    )  # fmt: skip


@ON_THE_FAKE_CLOCK
async def test_an_engine_silent_past_gone_seconds_is_gone_and_its_runs_left_to_settle(
    coordinator: Coordinator, clock: FakeClock, tmp_path: Path
) -> None:
    c, woke = coordinator, []
    peers = _peers(c, clock, woke)
    await peers.register()
    other = await c.registry.write(
        engine_ops.register_engine, "E-other", "alpha", 424242, "/data/a", "http://a"
    )
    task = await c.add_task({"title": "held elsewhere", "priority": "P0"})
    c.engine_id = other.id  # a run the other engine started
    run, _ = await c.start_run(task.id, "scripted", "command", (), tmp_path)
    c.engine_id = peers.engine_id
    await peers.refresh()
    assert peers.watched_elsewhere(run) is True and not peers.on_this_host(run)
    for _ in range(2):  # 4 s and 8 s of silence: alive
        clock.advance(4)
        await peers.step()
    assert [e for e in await c.events() if e.kind == "engine_gone"] == [] and woke == []
    clock.advance(4)  # 12 s
    await peers.step()
    (gone,) = [e for e in await c.events() if e.kind == "engine_gone"]
    assert gone.data["engine_id"] == other.id and "silent for more than 10 s" in gone.message
    assert woke == ["reconciler"], "the reconciler is woken for the gone engine's runs"
    await peers.refresh()
    assert peers.watched_elsewhere(run) is False
    assert (await c.registry.get_engine(other.id)).stopped_at is not None  # type: ignore[union-attr]
    await peers.step()
    assert woke == ["reconciler"], "found gone once"
    mine = await c.registry.get_engine(peers.engine_id)  # type: ignore[arg-type]
    assert mine is not None and mine.seen_at == clock() and mine.stopped_at is None


async def test_an_engine_on_this_host_whose_process_ended_is_gone_at_once(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    ended = await asyncio.create_subprocess_exec("true")
    await ended.wait()
    peers = _peers(coordinator, clock, [])
    await peers.register()
    dead = await coordinator.registry.write(
        engine_ops.register_engine, "E-dead", "beta", ended.pid, "/x", ""
    )
    alive = await coordinator.registry.write(
        engine_ops.register_engine, "E-away", "alpha", ended.pid, "/y", ""
    )
    await peers.step()
    assert (await coordinator.registry.get_engine(dead.id)).stopped_at is not None  # type: ignore[union-attr]
    assert (await coordinator.registry.get_engine(alive.id)).stopped_at is None, (  # type: ignore[union-attr]
        "a pid on another host means nothing here: only its silence counts"
    )


async def test_an_engine_found_gone_stops_its_agents_and_registers_again(
    coordinator: Coordinator, clock: FakeClock
) -> None:
    lost: list[str] = []

    async def on_lost() -> None:
        lost.append("stopped its agents")

    peers = _peers(coordinator, clock, [], on_lost=on_lost)
    first = await peers.register()
    assert await coordinator.registry.write(
        engine_ops.found_gone, first, clock() + 1, "test", "engine X"
    )
    await peers.step()
    assert lost == ["stopped its agents"] and peers.engine_id not in (None, first)
    assert coordinator.engine_id == peers.engine_id, "its next runs name the new id"
    (note,) = [e for e in await coordinator.events() if e.kind == "engine_rejoined"]
    assert note.data == {"engine_id": peers.engine_id, "was": first}


async def test_operator_tokens_are_stored_hashed_and_work_on_every_server(
    coordinator: Coordinator,
) -> None:
    mine, theirs = new_token("op"), new_token("op")
    registry = coordinator.registry
    assert (
        await registry.write(engine_ops.register_operator, token_hash(mine), "beta:/data/b")
        == "ACTIVE"
    )
    assert (
        await registry.write(engine_ops.register_operator, token_hash(theirs), "alpha:/data/a")
        == "ACTIVE"
    )
    assert (
        await registry.write(engine_ops.register_operator, token_hash(theirs), "alpha:/data/a")
        == "ACTIVE"
    )
    listed = await registry.operators()
    assert [o["name"] for o in listed] == ["beta:/data/b", "alpha:/data/a"]
    assert all(theirs not in str(o) and mine not in str(o) for o in listed), "only hashes"
    auth = Authenticator(coordinator, mine, None)
    for token in (mine, theirs):
        assert (await auth.caller(f"Bearer {token}")).role == "operator"  # type: ignore[union-attr]
    assert await auth.caller(f"Bearer {new_token('op')}") is None
    assert await registry.write(engine_ops.revoke_operator, "alpha:/data/a", "operator") == 1
    assert await registry.write(engine_ops.revoke_operator, "beta:/data/b", "operator") == 1
    auth.forget()
    assert await auth.caller(f"Bearer {theirs}") is None
    assert await auth.caller(f"Bearer {mine}") is None, "revoked, even on its own server"
    assert (
        await registry.write(engine_ops.register_operator, token_hash(theirs), "alpha:/data/a")
        == "REVOKED"
    )
    assert [e.kind for e in await coordinator.events()][-2:] == ["operator_revoked"] * 2


def test_the_registry_is_chosen_by_flag_environment_or_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Home(tmp_path / "b")
    assert with_registry(home, Settings()).registry == tmp_path / "b" / "registry.db"
    relative = with_registry(home, Settings(registry_url="../a/registry.db"))
    assert relative.registry == (tmp_path / "b" / "../a/registry.db").absolute()
    monkeypatch.setenv("CONTROL_ROOM_REGISTRY", str(tmp_path / "env.db"))
    assert with_registry(home, Settings(registry_url="x.db")).registry == tmp_path / "env.db"
    flagged = with_registry(home, Settings(), f"sqlite://{tmp_path}/flag.db")
    assert flagged.registry == tmp_path / "flag.db"
    postgres = with_registry(home, Settings(), "postgresql://db.example/control")
    assert registry_location(postgres, Settings()) == "postgresql://db.example/control"
    config = tmp_path / "control-room.toml"
    for bad in ("gone_seconds = 0", 'host = " "'):
        config.write_text(f"[engine]\n{bad}\n")
        with pytest.raises(InvalidInput, match="engine"):
            load_settings(config)
    config.write_text('[engine]\ngone_seconds = 5\nhost = "build-box"\n')
    assert (load_settings(config).gone_seconds, load_settings(config).engine_host) == (
        5,
        "build-box",
    )


@ON_THE_FAKE_CLOCK
async def test_the_checks_of_a_hand_in_run_on_the_engine_whose_agent_handed_it_in(
    coordinator: Coordinator, clock: FakeClock, tmp_path: Path
) -> None:
    c = coordinator
    a = _peers(c, clock, [], host="alpha")
    await a.register()
    clock.advance(1)
    b = _peers(c, clock, [])
    await b.register()
    spec = {"title": "checked", "priority": "P2", "checks": ["true"]}
    outside, spawned = await c.add_task(spec), await c.add_task(spec)
    agent, _ = await c.register_agent("outside", ["*"])
    claim = await c.claim(agent.id, outside.id)
    outside = await c.complete(outside.id, agent.id, claim.lease.epoch, "done")
    c.engine_id = b.engine_id
    run, _ = await c.start_run(spawned.id, "scripted", "command", (), tmp_path)
    claim = await c.claim(run.agent_id, spawned.id)
    spawned = await c.complete(spawned.id, run.agent_id, claim.lease.epoch, "done")
    assert (outside.status, spawned.status) == ("VALIDATING", "VALIDATING")
    assert (await a.validates(outside), await b.validates(outside)) == (True, False), (
        "an outside agent's hand-in: the longest-running engine checks it, once"
    )
    assert (await a.validates(spawned), await b.validates(spawned)) == (False, True)
    clock.advance(11)  # b falls silent: a takes over what b would have checked
    await a.step()
    assert await a.validates(spawned)
    serve = _peers(c, clock, [])  # `serve`: no engine of its own
    assert not await serve.validates(outside), "an engine runs: it checks"
    for engine in (a, b):
        await engine.stopped()
    assert await serve.validates(outside) and await serve.validates(spawned)


def test_init_joins_an_existing_registry_and_the_cli_lists_engines_and_operators(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    first = run_cli("init", data_dir=a)
    assert first.returncode == 0 and "joined" not in first.stdout
    joined = run_cli("init", "--registry", str(a / "registry.db"), data_dir=b)
    assert joined.returncode == 0, joined.stderr
    assert f"joined the existing registry {a / 'registry.db'}" in joined.stdout
    assert "created registry.db" not in joined.stdout
    assert load_settings(b / "control-room.toml").registry_url == str(a / "registry.db")
    assert run_cli("task", "add", "--id", "FROM-B", "--title", "t", data_dir=b).returncode == 0
    assert "FROM-B" in run_cli("task", "list", data_dir=a).stdout, "one queue"
    engines = run_cli("engine", "list", data_dir=b)
    assert (engines.returncode, engines.stdout) == (0, "No engine runs on this registry.\n")
    names = run_cli("operator", "list", data_dir=a).stdout
    assert f":{a}  " in names and f":{b}  " in names and names.count("ACTIVE") == 2
    again = run_cli("init", data_dir=b)
    assert "already initialised" in again.stdout and "joined" not in again.stdout
