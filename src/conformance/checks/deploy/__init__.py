"""Production deployment unchanged: the start script parses, references real files, installs
nothing and serves the health path; Dockerfile paths.
"""
