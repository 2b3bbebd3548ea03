"""The repository under test, indexed once: tracked files, ignore rules, git history.
Read only; paths are repo-relative POSIX strings.
"""
