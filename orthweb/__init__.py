"""orthweb: secure, highly available Orthanc on AWS with Pulumi."""
