"""``python -m convolab.sim.http``: the simulated Claude on localhost, for tools that speak HTTP.
An alias of ``python -m convolab.sim.http_server`` (where ``serve`` and the options are)."""

from convolab.sim.http_server import main

if __name__ == "__main__":
    main()
