"""The implement-it checker (`check_impl`): your function against the package's on a battery of cases, grouped by
the maths module of the function under test (`losses`, `advantages`, `preference`, `verifiable`)."""
from .checker import BATTERIES, REFERENCES, check_impl

__all__ = ["BATTERIES", "REFERENCES", "check_impl"]
