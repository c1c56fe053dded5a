"""AWS access: clients and error helpers, EC2 helpers, waiting."""
