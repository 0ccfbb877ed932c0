"""`python -m ppo_lab train | sweep | warm-cache`: the headless CLI (see ppo_lab/cli.py)."""
from .cli.main import main

raise SystemExit(main())
