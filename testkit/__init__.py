"""Helpers that the tests (tests/) and the benchmarks (bench/) share: loopback stand-ins,
runtimes, partner calls and small configurations. Nothing here imports tests/."""
