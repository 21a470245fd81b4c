#!/usr/bin/env python3
"""Prints the Route 53 health checkers' IPv4 ranges for aws_edge_route53_checker_cidrs, from AWS's published
ip-ranges.json (https://ip-ranges.amazonaws.com/ip-ranges.json), as a YAML list to paste into group_vars:

  curl -fsSo ip-ranges.json https://ip-ranges.amazonaws.com/ip-ranges.json
  scripts/route53-checker-cidrs.py ip-ranges.json us-east-1 us-west-2 eu-west-1

The regions are aws_edge_gslb_health_check_regions (the checkers a health check uses); the GLOBAL ranges are
always included. The file is data: every prefix is checked to be an IPv4 CIDR, and a file without the
ROUTE53_HEALTHCHECKS service or without a range for a region asked for is refused, naming it. AWS announces
changes to these ranges (the AmazonIpSpaceChanged SNS topic); run it again then."""
import ipaddress
import json
import sys


def checker_cidrs(doc, regions):
    if not isinstance(doc, dict) or not isinstance(doc.get("prefixes"), list):
        raise ValueError("not an ip-ranges.json: no 'prefixes' list")
    found = {}
    for n, p in enumerate(doc["prefixes"]):
        if not isinstance(p, dict) or p.get("service") != "ROUTE53_HEALTHCHECKS":
            continue
        prefix, region = p.get("ip_prefix"), p.get("region")
        try:
            net = ipaddress.IPv4Network(prefix)
        except (ValueError, TypeError):
            raise ValueError(f"prefixes[{n}].ip_prefix {prefix!r} is not an IPv4 CIDR") from None
        found.setdefault(region, set()).add(str(net))
    if not found:
        raise ValueError("no ROUTE53_HEALTHCHECKS prefixes in the file")
    missing = [r for r in regions if r not in found]
    if missing:
        raise ValueError(f"no ROUTE53_HEALTHCHECKS range for {', '.join(missing)} (regions with ranges: "
                         f"{', '.join(sorted(k for k in found if k))})")
    return sorted(set().union(*(found[r] for r in [*regions, "GLOBAL"] if r in found)),
                  key=lambda c: ipaddress.IPv4Network(c))


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    try:
        with (sys.stdin if argv[1] == "-" else open(argv[1])) as f:
            cidrs = checker_cidrs(json.load(f), argv[2:])
    except (OSError, ValueError) as e:
        sys.exit(f"route53-checker-cidrs: {argv[1]}: {e}")
    print("aws_edge_route53_checker_cidrs:")
    for c in cidrs:
        print(f"  - {c}")


if __name__ == "__main__":
    main(sys.argv)
