"""The shape of a drill (etcd's robustness tests: a failpoint with a verdict) and the report its
figures go to.

A drill names the state it requires, then breaks one thing and says what must hold and how long it
may take:

  class RegionLoss(Drill):
      requires = "both regions serving through their NLBs, every peer up, no alert firing"
      def ready(self): ...     # raises DrillError naming what differs from `requires`
      def inject(self): ...    # what breaks
      def verify(self): ...    # what must hold; figures with their bounds
      def restore(self): ...   # the world back as `requires` says (it runs also when inject or verify failed)

The runner (harness.sandbox.runner) calls them in that order and owns --only, the order of the
drills and the cleanup on failure.
"""
import json
import os

from ..util import HarnessError, log


class DrillError(HarnessError):
    """What a drill required or verified does not hold; the message says what, and where to look."""


class Report:
    """The figures of `sandbox test`, each with its bound: logged as `figure name = value` lines and
    written to build/sandbox-figures.json (a list of {name, value, unit, note[, bound]})."""

    def __init__(self):
        self.figures = []

    def figure(self, name, value, unit="", note="", bound=None, detail=None):
        """Records a figure; one over its bound fails the drill (detail: what the failure shows)."""
        entry = {"name": name, "value": value, "unit": unit, "note": note}
        if bound is not None:
            entry["bound"] = bound
        self.figures.append(entry)
        log(f"figure {name} = {value}{(' ' + unit) if unit else ''}{('  (' + note + ')') if note else ''}")
        if bound is not None and value is not None and value > bound:
            raise DrillError(f"{name} = {value}{(' ' + unit) if unit else ''}, more than its bound {bound}"
                             f"{(' ' + unit) if unit else ''}" + (f" ({note})" if note else "") + (f": {detail}" if detail else ""))
        return value

    def write(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.figures, f, indent=2)
        log(f"figures written to {path}")


class Drill:
    """One drill on the converged sandbox (state: state.json's dict; report: the run's Report)."""

    requires = ""
    # The drill's clients (harness.sandbox.load.Load), if it runs under load: the runner stops them
    # after restore, also on failure.
    load = None

    def __init__(self, name, state, report):
        self.name, self.state, self.report = name, state, report

    def figure(self, name, value, unit="", note="", bound=None, detail=None):
        return self.report.figure(name, value, unit, note, bound, detail)

    def fail(self, problem):
        raise DrillError(f"{self.name}: {problem}")

    def ready(self):
        """Checks, before anything starts, what can be checked of `requires`; raises DrillError."""

    def inject(self):
        """Breaks what the drill is about."""

    def verify(self):
        """Asserts what must hold, recording figures with their bounds."""

    def restore(self):
        """Puts the world back; runs also when inject or verify failed."""


def run_drill(drill):
    """ready, inject, verify, restore; restore also when a step before it failed (a failure of its
    own then is logged, the first one raised); the drill's load stopped at the end in any case."""
    drill.ready()
    log(f"{drill.name}: {type(drill).__doc__.strip().splitlines()[0]}")
    try:
        try:
            drill.inject()
            drill.verify()
        except BaseException:
            try:
                drill.restore()
            except Exception as e:  # the first failure is the one to see
                log(f"{drill.name}: restoring after the failure failed too: {e}")
            raise
        drill.restore()
    finally:
        if drill.load:
            drill.load.stop()
