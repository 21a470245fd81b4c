"""The sandbox's edge: what turns moto's Route 53 records and ELBv2 target groups into
traffic (docs/edge.md).

- dns: the Corefile for CoreDNS (sandbox/edge/coredns/build.sh) from moto's hosted zones,
  and the one-time SOA repair a new moto zone needs.
- route53_policy_double: the Route 53 data plane moto lacks: health checks probed as
  defined, latency routing per client region, written as zone files for CoreDNS.
- nlb_double: the NLB data plane moto lacks: Debian's HAProxy rendered from moto's load
  balancers, listeners, target groups and targets, with deregistration draining.
- elbv2_double: DescribeTargetHealth from the NLB double's data plane.
- ec2_double (+ ec2_metadata): EC2 beyond moto for the hosts and the harness: GetConsoleOutput
  from the hosts' consoles, IMDSv2, the launch template's instance profile, an STS forwarder.

The doubles say so in their names and in every line they print.
"""
