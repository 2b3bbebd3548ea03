"""python -m conformance: init (write the spec and contracts templates) and plan (print
the fix commands).
"""
