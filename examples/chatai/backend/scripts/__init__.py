"""Management scripts, run from the backend root as `python -m scripts.<group>.<name>`."""
