"""Development doubles used by `itbot demo`, `itbot chat`, the tests and the benchmarks:
a local fake of the Slack Web API and a driver that sends signed requests to the real app."""
