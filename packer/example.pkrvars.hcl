# Example inputs for a three-region cluster (copy and edit; see docs/packer.md).
# packer build -var-file=packer/example.pkrvars.hcl -var build_sha=$(git rev-parse HEAD) packer/
teleport_edition   = "oss"
teleport_version   = "17.4.8"
base_os            = "al2023"
arch               = "arm64"
build_region       = "us-east-1"
deployment_regions = ["us-east-1", "eu-west-1", "ap-southeast-2"]
extra_tags = {
  CostCenter = "sre"
}
