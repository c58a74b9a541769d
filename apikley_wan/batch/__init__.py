"""Many generations from one jobs file (JSON Lines or CSV), on one event loop: the jobs file (jobs.py), the
plan (plan.py), the run, summary and report (batch.py), its progress line (progress.py), the command (command.py)."""
