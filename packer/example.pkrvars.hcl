# Example inputs for a three-region cluster (copy and edit; see docs/packer.md).
# packer build -var-file=packer/example.pkrvars.hcl -var build_sha=$(git rev-parse HEAD) packer/
teleport_edition   = "oss"
teleport_version   = "17.4.8"
base_os            = "ubuntu-24.04"
arch               = "arm64"
build_region       = "us-east-1"
deployment_regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]

# The content of teleport-v17.4.8-linux-arm64-bin.tar.gz.sha256 from Teleport's
# download page (this placeholder fails the role's checksum check on purpose).
teleport_tarball_sha256 = "0000000000000000000000000000000000000000000000000000000000000000"

extra_tags = {
  CostCenter = "sre"
}
