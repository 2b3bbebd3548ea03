"""The judges, one family per plan area (structure, imports, app, migrations, workers, deploy,
docs); families are independent of each other.
"""
