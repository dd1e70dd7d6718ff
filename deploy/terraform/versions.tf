terraform {
  # Resource Manager: create the stack with Terraform 1.5.x.
  required_version = ">= 1.5.0"
  required_providers {
    oci = {
      source = "oracle/oci"
      # Checked against the schema of 8.28.0 (provider-schema/, tests/deploy/test_provider_schema.py): the
      # schedule's resources.parameters, the function's detached_mode_timeout_in_seconds, events actions.action.
      version = ">= 8.28.0, < 9.0.0"
    }
  }
}

# Resource Manager fills tenancy_ocid and region and authenticates as the user who runs the job;
# with the terraform CLI the provider reads ~/.oci/config (or OCI_* variables) as usual.
provider "oci" {
  tenancy_ocid = var.tenancy_ocid
  region       = var.region
}

# IAM (dynamic group, policies) can only be written in the tenancy's home region.
data "oci_identity_region_subscriptions" "home" {
  tenancy_id = var.tenancy_ocid
  filter {
    name   = "is_home_region"
    values = ["true"]
  }
}

provider "oci" {
  alias        = "home"
  tenancy_ocid = var.tenancy_ocid
  region       = data.oci_identity_region_subscriptions.home.region_subscriptions[0].region_name
}
