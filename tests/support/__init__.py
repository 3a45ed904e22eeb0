"""What the tests and the benchmark share: the service run as local processes, with signed webhooks."""
