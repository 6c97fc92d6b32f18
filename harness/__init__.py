"""What tests and benchmarks share: starting the service as users do, load loops, workloads
and the demo models they run."""
