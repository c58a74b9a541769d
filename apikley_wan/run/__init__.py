"""One generation from inputs to a saved result: the request, the pipeline, waiting, workers, stopping, status,
the estimate and the embedded simulator of ``--simulator``.
"""
