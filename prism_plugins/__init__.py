"""Built-in plugins: the EC2, SSM and YAML implementation of the save phases."""
