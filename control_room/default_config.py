"""The control-room.toml that `init` writes: every key with its default and what it does.
README shows it whole (tests/test_cli.py checks they match)."""

DEFAULT_CONFIG = """\
# Control Room settings. Every key is optional; the values below are the defaults.

[store]
# FULL: an acknowledged completion survives a crash or power loss (recommended).
# NORMAL: faster; a power cut may lose the last moments of work.
synchronous = "FULL"
# How long a write waits for another process holding the registry (milliseconds).
busy_timeout_ms = 10000
# At start, `serve`, `run` and the screen check the registry file for corruption for at most
# this long (seconds; a larger registry starts with a warning that it was not checked in full).
check_seconds = 5

[registry]
# Where the tasks live: registry.db in this directory by default. A PostgreSQL URL puts them on
# a server several control rooms share (also --registry URL or $CONTROL_ROOM_REGISTRY); so does
# the path of another SQLite file on this machine (relative: to this directory). Keep a
# password out of this file: libpq reads PGPASSWORD and ~/.pgpass.
# url = "postgresql://control@db.example.com/control_room"

[leases]
# How long a claim lasts without progress or heartbeat before the task is reclaimed.
seconds = 300

[server]
host = "127.0.0.1"
port = 3003
# How long an idle HTTP connection is kept open (seconds). Keep it well above how often agents
# call (heartbeat every 30-60 s), so each heartbeat reuses its connection.
keep_alive_seconds = 75
# A secret that lets outside agents register without the operator token.
# registration_secret = "change-me"
# An MCP session with no request for this long is closed (its client opens a new one).
mcp_idle_seconds = 600
# Other names agents may reach this server by (the Host header; requests naming anything else
# are refused, against DNS rebinding), e.g. ["ctl.example.com", "10.0.0.5:3003"]. Listening on
# 0.0.0.0 with --allow-remote already accepts this machine's host name and addresses.
hosts = []

[screen]
theme = "control-room-dark"
# Keys by their ids (see the help screen, ?), e.g. { approve = "A", quit = "ctrl+q" }.
keys = {}
# The tasks pane shows open tasks, then this many of the most recently finished ones (scrolling
# past the end shows as many more).
finished_rows = 200

[validation]
# A task's checks run when it is handed in, each as a command (no shell), with this time limit.
timeout_seconds = 600

[agents]
# The agents Control Room starts: how long one attempt may run, what happens to running agents
# when Control Room stops ("stop": stopped, their tasks go back to the queue without counting an
# attempt; "leave": they keep running and the next start watches them again).
wall_clock_seconds = 3600
on_shutdown = "stop"
claude_binary = "claude"
max_turns = 40
anthropic_model = "claude-sonnet-5-5"
# Claude Code agents (each [[agent_types]] may set these too). They may always use every
# Control Room tool, and with "acceptEdits" read, edit and write files in their own worktree.
# Anything else (Bash, web access, ...) is asked of the operator (`control-room inbox`) unless
# a rule allows it, e.g. allowed_tools = ["Bash(pytest:*)"]. Unanswered requests are denied
# after permission_timeout_seconds.
allowed_tools = []
disallowed_tools = []
permission_mode = "acceptEdits"
extra_args = []
permission_timeout_seconds = 600
# An agent that cannot start (a missing program, a git error) is tried again after 30 s, then
# 1 min, 2 min, ... (doubling); after max_start_failures in a row its task is BLOCKED.
start_backoff_seconds = 30
max_start_failures = 5
# A running agent whose output does not grow and that makes no call (progress, heartbeat...)
# for stall_seconds is stopped and its task released with the reason (event `stalled`, inbox,
# notification); a pending permission request pauses the clock. One that makes the same tool
# call with the same input max_repeats times in a row is stopped the same way. 0 turns either off.
stall_seconds = 600
max_repeats = 5

[worktrees]
# In a git repository each attempt works in its own worktree on the branch control-room/<task>.
# cleanup: "completed" removes a worktree once its task is COMPLETED (others stay for you to
# look at), "always" when its attempt ends, "never" keeps them. Branches are always kept.
enabled = true
cleanup = "completed"

[delivery]
# At hand-in Control Room commits the agent's worktree on its branch (as this author; your own
# git identity is not needed) and runs the checks on that commit. merge: "manual" (you run
# `control-room task merge ID` or press m) or "on-checks" (merged into its base branch as soon as
# its checks pass). `control-room task push ID` pushes the task's branch to this remote.
author = "Control Room <control-room@localhost>"
merge = "manual"
remote = "origin"

[notify]
# Apprise URLs (https://github.com/caronc/apprise): told when a task awaits approval, is
# BLOCKED or FAILED. For example ["ntfys://my-topic", "mailto://user:pass@example.com"].
urls = []

[routing]
# Which tasks start an agent by themselves, which wait for the operator, how many agents at once.
spawn_priorities = ["P0", "P1"]
approval_types = ["architecture", "strategic"]
max_running = 3
budget_usd = 5.0          # per task, passed to the runtime; 0 for no limit
daily_budget_usd = 0      # past this cost of the runs started today, no agent starts until tomorrow
# The agent type for tasks no type's capabilities match; it must be a defined type. Default:
# development-lead with the built-in types, else the first of your own [[agent_types]].
# default_agent = "development-lead"

# Agent types map task capabilities to a runtime (claude-code, anthropic or command), first match
# first. Any [[agent_types]] here replace the built-in list (decision-architect, backend-specialist,
# ui-specialist-pro, quality-lead, development-lead, operations-lead, all on claude-code).
# A command type with managed = true needs no MCP: Control Room claims, keeps the lease and
# hands in for it (see the README for aider and codex).
# [[agent_types]]
# name = "backend-specialist"
# runtime = "claude-code"
# capabilities = ["backend", "api"]

[engine]
# Several control rooms may share one registry (`control-room init --registry PATH`). Each
# engine heartbeats there; one silent for longer than this counts as gone, and the others settle
# its agents' runs (their tasks go back to the queue).
gone_seconds = 30
# The name this engine goes by in the registry (default: this machine's host name).
# host = "build-box"
"""
