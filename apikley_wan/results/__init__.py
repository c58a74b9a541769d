"""A paid result file: where it is kept and the one step that keeps a download (archive.py), the task it came
from written into it and beside it (provenance.py), the user's copies (outputs.py).
"""
