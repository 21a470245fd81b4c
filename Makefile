.PHONY: test deps build clean
# The one command that installs what the tests need and runs them all.
test:
	scripts/test.sh
deps:
	scripts/install-deps.sh
build:
	mvn -B -ntp -DskipTests package
clean:
	mvn -B -ntp -q clean
