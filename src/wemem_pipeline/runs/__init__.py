"""Everything about runs rather than science: their records and the versions they load, the
runners, seed branches, housekeeping, tracking, tuned-settings lookup, the end-of-run summary,
the command line and a finished run's artifacts in a notebook."""
