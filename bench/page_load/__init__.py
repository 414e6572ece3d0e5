"""Page load benchmark: many simulated browser tabs on one app process, each streaming a paced reply."""
