// Command coredns is CoreDNS with only the plugins the sandbox's edge DNS uses
// (sandbox/edge/coredns/build.sh builds it from the Go module proxy; Debian 12
// has no CoreDNS package). CoreDNS's own documented way to choose plugins at
// compile time is this one: import them and set dnsserver.Directives, whose
// order is the order in which a server block's plugins run.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/route53"
	_ "github.com/coredns/coredns/plugin/view"
)

// directives keeps CoreDNS's own relative order (its plugin.cfg) for the
// plugins built in:
//   - reload: the Corefile is regenerated when zones appear; no restart, no lost queries.
//   - bind: listen only on the addresses the sandbox gives (region bridges, loopback),
//     never on every interface.
//   - errors, log: every query and error in the log the drills read.
//   - route53: Route 53 zones as moto holds them.
//   - file: the zone files the routing-policy and NLB doubles write.
//   - forward: for an operator who points a zone at another resolver; the generated
//     Corefile never forwards (this machine has no network but the registries).
//   - view: split DNS and per-region answers by client source address.
var directives = []string{
	"reload",
	"bind",
	"errors",
	"log",
	"route53",
	"file",
	"forward",
	"view",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
