"""``python -m convolab.sim.http``: the command issue 17 names for the simulator on localhost,
kept as an alias of ``python -m convolab.sim.http_server`` (where ``serve`` and the options are)."""

from convolab.sim.http_server import main

if __name__ == "__main__":
    main()
