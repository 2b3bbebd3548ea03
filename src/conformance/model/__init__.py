"""The plan as data: the spec, the rule catalogue and findings.
Imports nothing else of conformance.
"""
