# One image for both pools: auth and proxy VMs differ only in what site.yml
# configures, so a single AMI per (edition, version, OS, arch) serves both.

locals {
  # One timestamp per run, so the AMI name, its tags and the manifest agree.
  build_time = timestamp()
  build_id   = formatdate("YYYYMMDDhhmmss", local.build_time)

  # Canonical names Ubuntu's images with the Debian architecture name.
  os_arch = var.base_os == "ubuntu-24.04" ? (var.arch == "x86_64" ? "amd64" : "arm64") : var.arch

  source_images = {
    "al2023" = {
      name        = "al2023-ami-2023.*-kernel-*-${var.arch}"
      owner       = "amazon"
      ssh_user    = "ec2-user"
      root_device = "/dev/xvda"
    }
    "ubuntu-24.04" = {
      name        = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-${local.os_arch}-server-*"
      owner       = "099720109477" # Canonical
      ssh_user    = "ubuntu"
      root_device = "/dev/sda1"
    }
  }
  source_image = local.source_images[var.base_os]

  instance_type = var.instance_type != "" ? var.instance_type : (var.arch == "arm64" ? "t4g.medium" : "t3.medium")

  # ami_regions lists the copies only; the build region already holds the AMI.
  copy_regions = [for r in distinct(var.deployment_regions) : r if r != var.build_region]

  ami_name = "${var.ami_name_prefix}-${var.teleport_edition}-${var.teleport_version}-${var.base_os}-${var.arch}-${local.build_id}"

  build_tags = {
    Name            = local.ami_name
    TeleportVersion = var.teleport_version
    TeleportEdition = var.teleport_edition
    BaseOS          = var.base_os
    Architecture    = var.arch
    BuildSha        = var.build_sha
    BuildTimestamp  = local.build_time
    ManagedBy       = "packer"
  }
  # Build tags win over extra_tags so an image can never lie about its contents.
  tags = merge(var.extra_tags, local.build_tags)

  # Role variables for bake.yml. The bake always installs a checksum-pinned
  # tarball; an empty teleport_tarball_src keeps the role's default URL.
  bake_vars = merge(
    var.bake_extra_vars,
    {
      teleport_edition        = var.teleport_edition
      teleport_version        = var.teleport_version
      teleport_install_method = "tarball"
      teleport_tarball_sha256 = var.teleport_tarball_sha256
    },
    var.teleport_tarball_src == "" ? {} : { teleport_tarball_src = var.teleport_tarball_src },
  )
}

source "amazon-ebs" "teleport" {
  region        = var.build_region
  instance_type = local.instance_type
  subnet_id     = var.subnet_id
  ssh_username  = local.source_image.ssh_user
  ssh_interface = var.ssh_interface

  temporary_security_group_source_cidrs = var.ssh_source_cidrs

  source_ami_filter {
    filters = {
      name                = local.source_image.name
      architecture        = var.arch
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = [local.source_image.owner]
    most_recent = true
  }

  ami_name        = local.ami_name
  ami_description = "Teleport ${var.teleport_edition} ${var.teleport_version} on ${var.base_os} ${var.arch} (build ${var.build_sha})"
  ami_regions     = local.copy_regions

  # The build instance answers only IMDSv2, and so does every instance
  # launched from the AMI (imds_support cannot be undone on an image).
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }
  imds_support = "v2.0"

  encrypt_boot       = true
  kms_key_id         = var.kms_key_id
  region_kms_key_ids = var.region_kms_key_ids

  launch_block_device_mappings {
    device_name           = local.source_image.root_device
    volume_type           = "gp3"
    volume_size           = var.root_volume_size_gb
    iops                  = 3000
    throughput            = 125
    encrypted             = true
    kms_key_id            = var.kms_key_id
    delete_on_termination = true
  }

  tags          = merge(local.tags, { SourceAMI = "{{ .SourceAMI }}", SourceAMIName = "{{ .SourceAMIName }}" })
  snapshot_tags = local.tags
  run_tags      = merge(local.tags, { Name = "packer-bake-${local.ami_name}" })
}

build {
  sources = ["source.amazon-ebs.teleport"]

  # The same roles as site.yml, install tasks only: binaries, JRE, jar and
  # unit files land on disk; nothing is configured, enabled or started.
  provisioner "ansible" {
    playbook_file = "${path.root}/bake.yml"
    user          = local.source_image.ssh_user
    use_proxy     = false
    ansible_env_vars = [
      "ANSIBLE_ROLES_PATH=${path.root}/../roles",
      "ANSIBLE_HOST_KEY_CHECKING=False",
    ]
    extra_arguments = ["--extra-vars", jsonencode(local.bake_vars)]
  }

  # The manifest maps every region to its AMI id and carries the build tags;
  # publish_ami_ids.py turns it into the launch templates' SSM parameters.
  post-processor "manifest" {
    output      = "${path.root}/../build/packer-manifest.json"
    strip_path  = true
    custom_data = local.build_tags
  }
}
