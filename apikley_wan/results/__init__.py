"""A paid result file: where it is kept and checked (archive.py), the task it came from inside it
(provenance.py), the user's copies (outputs.py).
"""
