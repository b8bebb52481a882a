"""``python -m apigee_psc``: the same as the ``apigee-psc`` command."""

from apigee_psc.cli import main

if __name__ == "__main__":
    main()
