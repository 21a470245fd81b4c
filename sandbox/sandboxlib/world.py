"""The shape of the sandbox world: one place to read and change it."""

CLUSTER = "teleport.sandbox.test"

# Two regions, each one VPC/subnet and one bridge on this machine. Addresses
# only from 198.18.0.0/15 (reserved for benchmarking): the bridge takes .1,
# which AWS reserves in every subnet, so moto never hands it to an instance.
REGIONS = [
    {"name": "us-west-2", "short": "usw2", "cidr": "198.18.1.0/24", "bridge": "tsbx-usw2", "gateway": "198.18.1.1"},
    {"name": "eu-central-1", "short": "euc1", "cidr": "198.18.2.0/24", "bridge": "tsbx-euc1", "gateway": "198.18.2.1"},
]

# One-way delay added to traffic that crosses regions (round trip is twice this).
CROSS_REGION_DELAY_MS = 25

# Auto Scaling groups: auth in region A only, proxies in both. Kept small so
# the end-to-end test fits CI on two cores.
ASGS = [
    {"region": "us-west-2", "role": "auth", "size": 2},
    {"region": "us-west-2", "role": "proxy", "size": 2},
    {"region": "eu-central-1", "role": "proxy", "size": 2},
]

# Ports of the services the sandbox runs on this machine.
INVENTORY_PORT = 8790      # on region A's bridge address, so containers reach it
PROMETHEUS_ADDR = "127.0.0.1:9390"
NODE_AGENT_PORT = 9810


def region(name):
    return next(r for r in REGIONS if r["name"] == name)


def asg_name(asg):
    return f"sandbox-{asg['role']}-{asg['region']}"
