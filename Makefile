.PHONY: test deps build clean sandbox
# The one command that installs what the tests need and runs them all.
test:
	scripts/test.sh
deps:
	scripts/install-deps.sh
build:
	mvn -B -ntp -DskipTests package
clean:
	mvn -B -ntp -q clean
# A fresh machine to a converged two-region cluster reachable by name: installs what is
# needed, builds the jars, the Teleport double and CoreDNS, brings the sandbox up (the AWS
# playbooks, the edge) and converges it with site.yml; prints how to reach it.
# `sandbox/sandbox down` removes it.
sandbox:
	scripts/install-deps.sh
	nice mvn -B -ntp -q package -DskipTests
	PATH="$$PATH:/usr/local/go/bin" tests/teleport-double/build.sh >/dev/null
	PATH="$$PATH:/usr/local/go/bin" sandbox/edge/coredns/build.sh >/dev/null
	flock /tmp/teleport-sandbox.lock sandbox/sandbox up --converge
