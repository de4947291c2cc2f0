"""Development tools shared by the tests and the benchmarks (never by docbot itself): the loopback fake
Slack, tiny random-weight Llama files, PDF makers, a bot subprocess driver, the eval question sets.

Tests import from here; nothing here imports `tests`, and `bench` imports only from here.
"""
