"""Fault-injection tests: kills, hangs and bad input against real processes and stores."""
