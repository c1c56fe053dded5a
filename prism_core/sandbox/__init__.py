"""Embedded sandbox cloud: moto server with the EC2 behaviours moto lacks."""
