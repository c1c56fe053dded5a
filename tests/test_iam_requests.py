"""The sandbox models what IAM checks for prism's requests (prism_sandbox/iam_requests.py):
the resources and tags the policy's conditions are evaluated against."""

from __future__ import annotations


def _by_call(sandbox, call: str) -> list:
    return [a for a in sandbox.faults.authorizations() if a.call == call]


def test_save_requests_carry_resources_and_tags(prism_sandbox, run_prism):
    prism_sandbox.create_instance("box", ports=[22])
    prism_sandbox.faults.clear_calls()
    result = run_prism("save", "box", "env1", "--share-with", "111122223333", "--yes")
    assert result.exit_code == 0, result.stderr
    recorded = prism_sandbox.faults.authorizations()
    assert recorded and not [a for a in recorded if a.resource.startswith("!")]
    for a in recorded:
        print(a)
