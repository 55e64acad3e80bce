"""The release side: a TUF repository of signed model releases, rollouts, deltas, the server."""
