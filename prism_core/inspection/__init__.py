"""What prism finds inside an instance before its image leaves the account.

``script``: the read-only program shipped to the instance and its output format;
``findings``: the decoded report (secrets by kind, inventory); ``runner``: SSM Run
Command; ``sbom``: the inventory as CycloneDX; ``store``: where versions keep it.
"""
