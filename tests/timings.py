"""The suite's waits: the same pipeline, every wait compressed (a 0.05 s null window well inside the 0.5 s
adopted-id grace, a 0.1 s task well inside the 10 s resume window), so runs take fractions of a second. The
null grace stays: a re-attached wait counts the null answers of the last 60 s against it. Tests of the
production schedule use settings.TIMINGS."""

from apikley_wan.settings.settings import Timings

FAST = Timings(poll_first_s=0.05, poll_max_s=0.2, adopted_null_grace_s=0.5, resume_window_s=10.0,
               creating_grace_s=5.0, slice_s=0.02, simulator_task_s=0.1, simulator_null_s=0.05)

# journal heartbeats in milliseconds, for the liveness tests only: the runs keep the real 10 s / 30 s, so a
# loaded machine holding a heartbeat thread back never turns a live create into a lost one
BEAT = Timings(heartbeat_s=0.02, stale_s=0.3)
