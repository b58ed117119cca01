"""`python -m nprec` runs the `nprec` command."""

from nprec.cli import main

raise SystemExit(main())
