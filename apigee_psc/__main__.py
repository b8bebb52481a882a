"""``python -m apigee_psc``: the same as the ``apigee-psc`` command."""

from apigee_psc.cli import console

if __name__ == "__main__":
    console()
