"""A discrete-event fleet simulation that drives the real device policy code."""
