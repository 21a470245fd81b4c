# Plugin and Packer pins for a connected environment (`packer init packer/`).
# Packer 1.9.5 is the last MPL-2.0 release. The amazon plugin must be >= 1.2.2
# for `imds_support` on amazon-ebs; 1.2.9 and ansible 1.1.1 are the releases
# that shipped alongside Packer 1.9.x. See docs/packer.md for why CI validates
# with Debian's Packer instead.
packer {
  required_version = ">= 1.9.5"
  required_plugins {
    amazon = {
      version = "= 1.2.9"
      source  = "github.com/hashicorp/amazon"
    }
    ansible = {
      version = "= 1.1.1"
      source  = "github.com/hashicorp/ansible"
    }
  }
}
