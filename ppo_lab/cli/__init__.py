"""`python -m ppo_lab`: the commands (`main`), the report folders they write (`reports`) and the headless
notebook runner behind `warm-cache` (`notebook_runner`)."""
