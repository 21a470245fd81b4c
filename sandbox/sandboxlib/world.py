"""The shape of the sandbox world: one place to read and change it."""

CLUSTER = "teleport.sandbox.test"
# The public hosted zone the operator owns; aws-edge.yml writes the cluster's records in it.
ZONE = "sandbox.test"
# Prefix of every AWS resource name: the ASGs are sandbox-<role>-<region>.
SHORT_NAME = "sandbox"

# Two regions, each one VPC/subnet and one bridge on this machine. Addresses
# only from 198.18.0.0/15 (reserved for benchmarking): the bridge takes .1,
# which AWS reserves in every subnet, so moto never hands it to an instance.
#
# Each region's bridge also carries its "edge" network, outside the VPC: the load
# balancers' addresses (/32s the NLB double binds, never an instance's) and a client
# network namespace, which stands for the region's users on the internet (DNS answers
# it the public view; a host inside the VPC gets the private zone).
REGIONS = [
    {"name": "us-west-2", "short": "usw2", "cidr": "198.18.1.0/24", "bridge": "tsbx-usw2", "gateway": "198.18.1.1",
     "edge_cidr": "198.18.101.0/24", "edge_gateway": "198.18.101.1", "client_ip": "198.18.101.100",
     "netns": "tsbx-usw2-client",
     "nlb": {"proxy": "198.18.101.10", "proxy-int": "198.18.101.11", "auth": "198.18.101.12"}},
    {"name": "eu-central-1", "short": "euc1", "cidr": "198.18.2.0/24", "bridge": "tsbx-euc1", "gateway": "198.18.2.1",
     "edge_cidr": "198.18.102.0/24", "edge_gateway": "198.18.102.1", "client_ip": "198.18.102.100",
     "netns": "tsbx-euc1-client",
     "nlb": {"proxy": "198.18.102.10", "proxy-int": "198.18.102.11"}},
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
DNS_PORT = 53             # CoreDNS on every bridge gateway: the hosts' and clients' resolver
DNS_LOCAL = "127.0.0.1:5354"  # the same CoreDNS for this machine's own checks
# The ec2-double (docs/sandbox.md, "The EC2 double"): IMDSv2 on every bridge gateway, for that
# region's instances (EC2's is 169.254.169.254:80, never used here: the hosts' SDKs are pointed at
# imds_url() with AWS_EC2_METADATA_SERVICE_ENDPOINT), and the STS forwarder for the Teleport
# double's auth (TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE=sts_url()) on the auth region's gateway.
IMDS_PORT = 8791
STS_PORT = 8792

# The edge's timing in the sandbox: short, so that failovers, drains and rejoins take
# seconds (docs/sandbox.md, "The edge's timing"). Route 53 allows only 10 or 30 s
# between checks; ELBv2 NLB target group checks 5-300 s, thresholds 2-10.
EDGE_TIMING = {
    "aws_edge_gslb_health_check_interval": 10,
    "aws_edge_gslb_health_check_failure_threshold": 1,
    "aws_edge_dns_ttl": 5,
    "aws_edge_health_check_interval": 5,
    "aws_edge_health_check_timeout": 2,
    "aws_edge_health_check_healthy_threshold": 2,
    "aws_edge_health_check_unhealthy_threshold": 2,
    "aws_edge_deregistration_delay": 3,
}
# The operator's IAM roles for the pools, each with an instance profile of the same name
# (tests/lib/aws_world.py instance_profile: trusted by ec2.amazonaws.com); aws-pools.yml's
# launch templates name them, the ec2-double attaches them to the instances.
INSTANCE_PROFILES = {"auth": f"{SHORT_NAME}-auth", "proxy": f"{SHORT_NAME}-proxy"}
# moto's account: the assumed roles the proxies join with are arn:aws:sts::<it>:assumed-role/<role>/<instance id>.
ACCOUNT_ID = "123456789012"
# Load balancer names aws-edge.yml gives (roles/aws_cluster): <short>-proxy, -proxy-int, -auth.
NLB_NAMES = {"proxy": f"{SHORT_NAME}-proxy", "proxy-int": f"{SHORT_NAME}-proxy-int", "auth": f"{SHORT_NAME}-auth"}


def region(name):
    return next(r for r in REGIONS if r["name"] == name)


def imds_url(region_name):
    """AWS_EC2_METADATA_SERVICE_ENDPOINT for the hosts of a region: the ec2-double's IMDSv2."""
    return f"http://{region(region_name)['gateway']}:{IMDS_PORT}"


def sts_url():
    """TELEPORT_DOUBLE_STS_ENDPOINT_OVERRIDE for the auth hosts: the ec2-double's STS forwarder to moto."""
    auth = next(a for a in ASGS if a["role"] == "auth")
    return f"http://{region(auth['region'])['gateway']}:{STS_PORT}"


def aws_vars(subnets, auth_server_file):
    """Variables of aws-pools.yml and aws-edge.yml for this world; subnets: {region: [ids]}."""
    auth = next(a for a in ASGS if a["role"] == "auth")
    proxies = {a["region"]: a["size"] for a in ASGS if a["role"] == "proxy"}
    gateways = [f"{r['gateway']}/32" for r in REGIONS]
    return {
        "aws_cluster_name": CLUSTER,
        "aws_cluster_short_name": SHORT_NAME,
        "aws_cluster_auth_region": auth["region"],
        "aws_cluster_regions": [{"region": r["name"], "subnets": subnets[r["name"]]} for r in REGIONS],
        # moto keeps resolve:ssm: unresolved at launch, so the play writes the AMI id.
        "aws_pools_image_resolution": "play",
        "aws_pools_auth_instance_type": "t3.small",
        "aws_pools_auth_instance_profile": INSTANCE_PROFILES["auth"],
        "aws_pools_proxy_instance_profile": INSTANCE_PROFILES["proxy"],
        "aws_pools_auth_min_size": auth["size"], "aws_pools_auth_max_size": auth["size"],
        "aws_pools_auth_desired_capacity": auth["size"],
        "aws_pools_proxy_instance_type": "t3.small",
        "aws_pools_proxy_by_region": {r: {"min_size": n, "max_size": n, "desired_capacity": n} for r, n in proxies.items()},
        "aws_edge_hosted_zone": ZONE,
        "aws_edge_internal_nlb": True,
        "aws_edge_split_dns": True,
        # Ansible (SSH) and Prometheus (node-agent metrics) run on this machine, behind the bridges' gateways.
        "aws_edge_ssh_cidrs": gateways,
        "aws_edge_metrics_cidrs": gateways,
        "aws_edge_metrics_port": NODE_AGENT_PORT,
        "aws_edge_auth_server_file": auth_server_file,
        **EDGE_TIMING,
    }
