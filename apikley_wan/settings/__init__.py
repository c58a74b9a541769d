"""The model and pack settings (settings.py: durations, resolutions, prices, timings) and where the key, API base
and state live (config.py).
"""
