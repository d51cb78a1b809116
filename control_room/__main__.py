"""`python -m control_room`: the same entry point as the `control-room` console script."""

from control_room.cli.main import main

raise SystemExit(main())
