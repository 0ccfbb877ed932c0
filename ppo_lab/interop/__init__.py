"""The same run in the engines a learner graduates to (verl, OpenRLHF, TRL): our config's names there
(`mapping`), read back from the engines' own definitions (`definitions`), and a launch folder (`export`)."""
from . import definitions, export, mapping

__all__ = ["definitions", "export", "mapping"]
