"""The test harness: one package for the sandbox, the labs, the suites and the benches (tests/README.md).

scripts/install-deps.sh installs it into .venv in editable mode (pyproject.toml), so `import harness`
works wherever the venv's python runs; it imports nothing from tests/. Modules import one way, down:

  sandbox/cli -> sandbox/runner -> sandbox/drills/* -> sandbox/checks -> sandbox/converge
      -> sandbox/{aws, services, edgeworld, ec2, network, load, plays, state, world}
  lab, machines -> host                                 the machines of a world, and a machine
  ansible, site, moto, aws_world, acme, pki, hostkeys    Ansible, site.yml's variables, AWS, CAs, host keys
  edge/*                                                 the doubles of AWS's data plane
  util, bridge                                           processes, polling, files; bridges
"""
