"""Steering a region off and back under load: aws-edge.yml with the region in
aws_edge_steered_off_regions until its clients are served by the other region, then without it until
they are back, and not one failed request in either region."""
import json
import time

from ...util import log
from .. import aws, world
from ..drill import Drill
from ..load import Load, summary

A, B = world.REGIONS


class Steering(Drill):
    """eu-central-1 steered off and back with aws-edge.yml, under load in both regions."""

    requires = "both regions' clients served through their own region's proxy NLB"

    def inject(self):
        self.load = Load("steer", 300)
        self.load.wait_serving()
        t0 = time.monotonic()
        aws.playbook(self.state, "aws-edge.yml", "steer-off", "-e", json.dumps({"aws_edge_steered_off_regions": [B["name"]]}))
        self.load.client(B["name"]).wait_serving(A["nlb"]["proxy"], 60)
        self.off = time.monotonic() - t0

    def verify(self):
        self.figure("steer_off_seconds", round(self.off, 1), "s",
                    f"aws-edge.yml run + until {B['name']}'s clients are served by {A['name']}")

    def restore(self):
        t1 = time.monotonic()
        aws.playbook(self.state, "aws-edge.yml", "steer-on")
        self.load.client(B["name"]).wait_serving(B["nlb"]["proxy"], 60)
        on = time.monotonic() - t1
        results = self.load.stop()
        for region, (recs, failed) in results.items():
            log(f"steering client in {region}: {len(recs)} requests, {len(failed)} failed ({summary(recs)})")
        self.figure("steer_on_seconds", round(on, 1), "s", f"aws-edge.yml run + until {B['name']}'s clients are back")
        self.figure("steer_failed_requests", len(self.load.failed()), "", f"{self.load.sent()} requests in both regions",
                    bound=0, detail={r: failed[:3] for r, (_, failed) in results.items() if failed})
