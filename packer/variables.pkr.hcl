# Every input of the bake. Values come from -var flags or a *.pkrvars.hcl file
# (see example.pkrvars.hcl); docs/packer.md documents each one.

variable "teleport_edition" {
  type        = string
  default     = "oss"
  description = "Teleport edition baked into the image: oss or enterprise (the teleport role's teleport_edition)."
  validation {
    condition     = contains(["oss", "enterprise"], var.teleport_edition)
    error_message = "The teleport_edition variable must be \"oss\" or \"enterprise\"."
  }
}

variable "teleport_version" {
  type        = string
  description = "Teleport release to bake, as MAJOR.MINOR.PATCH without a leading v (for example 17.4.8)."
  validation {
    condition     = var.teleport_version != "" && regex_replace(var.teleport_version, "^[0-9]+\\.[0-9]+\\.[0-9]+$", "") == ""
    error_message = "The teleport_version variable must look like 17.4.8 (MAJOR.MINOR.PATCH, no leading v)."
  }
}

variable "teleport_tarball_src" {
  type        = string
  default     = ""
  description = "URL or controller-local path of the release tarball; empty keeps the teleport role's default (Teleport's CDN, named after edition, version and arch)."
  validation {
    condition     = var.teleport_tarball_src == "" || regex_replace(var.teleport_tarball_src, "^(https://|/)[^ ]+$", "") == ""
    error_message = "The teleport_tarball_src variable must be empty, an https:// URL or an absolute path on the machine running Packer."
  }
}

variable "teleport_tarball_sha256" {
  type        = string
  description = "SHA-256 of the release tarball (64 lowercase hex digits, from Teleport's published .sha256 file); the role refuses a tarball that does not match."
  validation {
    condition     = regex_replace(var.teleport_tarball_sha256, "^[0-9a-f]{64}$", "") == "" && var.teleport_tarball_sha256 != ""
    error_message = "The teleport_tarball_sha256 variable must be the 64 lowercase hex digits of the release tarball's SHA-256."
  }
}

variable "bake_extra_vars" {
  type        = map(string)
  default     = {}
  description = "Further role variables for the bake playbook (for example node_agent_jar_src, boot_kit_pip_index_url); teleport_* values above win."
  validation {
    condition     = length([for k in keys(var.bake_extra_vars) : k if k != "" && regex_replace(k, "^(teleport|node_agent|boot_kit)_[a-z0-9_]+$", "") == ""]) == length(var.bake_extra_vars)
    error_message = "The bake_extra_vars keys must be public role variables named teleport_*, node_agent_* or boot_kit_*."
  }
}

variable "base_os" {
  type        = string
  default     = "ubuntu-24.04"
  description = "Base image family: ubuntu-24.04 (Canonical's Ubuntu 24.04 LTS, the Debian family CI exercises) or al2023 (Amazon Linux 2023)."
  validation {
    condition     = contains(["al2023", "ubuntu-24.04"], var.base_os)
    error_message = "The base_os variable must be \"al2023\" or \"ubuntu-24.04\"."
  }
}

variable "arch" {
  type        = string
  default     = "x86_64"
  description = "CPU architecture of the image: x86_64 or arm64 (Graviton)."
  validation {
    condition     = contains(["x86_64", "arm64"], var.arch)
    error_message = "The arch variable must be \"x86_64\" or \"arm64\"."
  }
}

variable "instance_type" {
  type        = string
  default     = ""
  description = "Build instance type; empty picks t3.medium for x86_64 and t4g.medium for arm64. It must match arch."
  validation {
    condition     = var.instance_type == "" || regex_replace(var.instance_type, "^[a-z][a-z0-9-]*\\.[a-z0-9]+$", "") == ""
    error_message = "The instance_type variable must be empty or an EC2 instance type such as t3.medium."
  }
}

variable "build_region" {
  type        = string
  default     = "us-east-1"
  description = "Region where the build instance runs and the AMI is registered first."
  validation {
    condition     = var.build_region != "" && regex_replace(var.build_region, "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", "") == ""
    error_message = "The build_region variable must be an AWS region name such as us-east-1."
  }
}

variable "deployment_regions" {
  type        = list(string)
  default     = ["us-east-1"]
  description = "Every region the cluster's Auto Scaling groups run in; the AMI is copied to each one other than build_region."
  validation {
    condition     = length(var.deployment_regions) > 0 && length([for r in var.deployment_regions : r if r != "" && regex_replace(r, "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", "") == ""]) == length(var.deployment_regions)
    error_message = "The deployment_regions variable must be a non-empty list of AWS region names such as [\"us-east-1\", \"eu-west-1\"]."
  }
}

variable "kms_key_id" {
  type        = string
  default     = ""
  description = "KMS key (id, ARN or alias/NAME) for the build region's encrypted root volume; empty uses the AWS-managed EBS key."
  validation {
    condition     = var.kms_key_id == "" || regex_replace(var.kms_key_id, "^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/[A-Za-z0-9/_-]+|alias/[A-Za-z0-9/_-]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$", "") == ""
    error_message = "The kms_key_id variable must be empty, a key id, a key ARN or alias/NAME."
  }
}

variable "region_kms_key_ids" {
  type        = map(string)
  default     = {}
  description = "KMS key per copy region (region => key id, ARN or alias/NAME); when set it must name every copy region. Empty uses the AWS-managed EBS key in the copies."
  validation {
    condition     = length([for r, k in var.region_kms_key_ids : r if r != "" && regex_replace(r, "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+$", "") == "" && k != ""]) == length(var.region_kms_key_ids)
    error_message = "The region_kms_key_ids variable must map AWS region names to non-empty KMS key ids, ARNs or aliases."
  }
}

variable "root_volume_size_gb" {
  type        = number
  default     = 16
  description = "Size of the encrypted gp3 root volume in GiB."
  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 1024 && floor(var.root_volume_size_gb) == var.root_volume_size_gb
    error_message = "The root_volume_size_gb variable must be a whole number of GiB between 8 and 1024."
  }
}

variable "subnet_id" {
  type        = string
  default     = ""
  description = "Subnet for the build instance; empty uses the build region's default VPC. The subnet must reach package mirrors and the tarball source."
  validation {
    condition     = var.subnet_id == "" || regex_replace(var.subnet_id, "^subnet-[0-9a-f]{8,17}$", "") == ""
    error_message = "The subnet_id variable must be empty or a subnet id such as subnet-0123456789abcdef0."
  }
}

variable "ssh_interface" {
  type        = string
  default     = "public_ip"
  description = "How Packer and Ansible reach the build instance: public_ip or public_dns (default VPC), private_ip or private_dns (a runner inside the VPC)."
  validation {
    condition     = contains(["public_ip", "public_dns", "private_ip", "private_dns"], var.ssh_interface)
    error_message = "The ssh_interface variable must be public_ip, public_dns, private_ip or private_dns."
  }
}

variable "ssh_source_cidrs" {
  type        = list(string)
  default     = []
  description = "IPv4 CIDRs allowed to SSH into the build instance's temporary security group; empty keeps Packer's default (0.0.0.0/0). Set it to the runner's address."
  validation {
    condition     = length([for c in var.ssh_source_cidrs : c if c != "" && regex_replace(c, "^([0-9]{1,3}\\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$", "") == ""]) == length(var.ssh_source_cidrs)
    error_message = "The ssh_source_cidrs variable must be a list of IPv4 CIDRs such as [\"203.0.113.10/32\"]."
  }
}

variable "build_sha" {
  type        = string
  default     = "unknown"
  description = "Git commit of this repository the image is baked from (pass -var build_sha=$(git rev-parse HEAD)); tagged on the AMI."
  validation {
    condition     = var.build_sha == "unknown" || regex_replace(var.build_sha, "^[0-9a-f]{7,40}$", "") == ""
    error_message = "The build_sha variable must be a git commit id (7 to 40 lowercase hex digits) or \"unknown\"."
  }
}

variable "ami_name_prefix" {
  type        = string
  default     = "teleport"
  description = "First part of the AMI name; the rest names the edition, version, OS, architecture and build time."
  validation {
    condition     = var.ami_name_prefix != "" && regex_replace(var.ami_name_prefix, "^[A-Za-z0-9][A-Za-z0-9._-]{0,40}$", "") == ""
    error_message = "The ami_name_prefix variable must be 1-41 letters, digits, dots, dashes or underscores."
  }
}

variable "extra_tags" {
  type        = map(string)
  default     = {}
  description = "Extra tags for the AMI, its snapshots and the build instance (for example cost allocation tags); they cannot override the build tags."
  validation {
    condition     = length([for k, v in var.extra_tags : k if length(k) > 128 || length(v) > 256 || lower(substr(k, 0, 4)) == "aws:"]) == 0
    error_message = "The extra_tags keys must be at most 128 characters and not start with aws:, values at most 256 characters."
  }
}
